// Package bpf is the kernel side of otelcol-xdp and its Go loader.
//
// counter.c is an XDP program that counts every frame arriving on an
// interface, packets and bytes, in a per-CPU array indexed by class: the
// network type the (up to two times VLAN-tagged) ethertype names, and the
// transport the IPv4 header or the IPv6 extension-header chain names. It
// always returns XDP_PASS. counter.h is the one definition of the map's key
// layout and value, shared with Go through bpf2go; the compiled object and
// its bindings are committed, so building needs no clang and a host needs no
// kernel headers.
//
// The API is small:
//
//	a, err := bpf.Attach("eth0", bpf.ModeAuto) // load a fresh counter, attach through a bpf_link
//	var t bpf.Totals
//	err = a.Read(&t)                            // monotonic per-class totals, summed over CPUs
//	err = a.Close()                             // detach and free everything
//
// Every attachment loads its own program and map, so interfaces never mix
// their counts and a new attachment starts from zero. Counters are never
// cleared: callers turn successive reads into deltas, which loses nothing.
// The link is owned by the process, so a process that dies, even by SIGKILL,
// leaves nothing attached.
//
// Kernel requirements: XDP through bpf_link needs Linux 5.9; the program is
// loaded frags-aware (whole length of multi-buffer frames) on 5.18 and later
// and without frags before; batch reads need 5.6 and fall back to one lookup
// per class.
//
// Privileges: CAP_BPF and CAP_NET_ADMIN on 5.18 and later. Frags-aware, the
// program reads headers at variable offsets with bpf_xdp_load_bytes() and
// never moves a packet pointer by a register, which the verifier would allow
// only with CAP_PERFMON; before 5.18 it does, and needs CAP_PERFMON too.
package bpf
