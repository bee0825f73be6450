// Package bpf is the kernel side of otelcol-xdp and its Go loader.
//
// counter.c holds the counter's programs: xdp_count for XDP, where a frame
// arrives, and tc_count_rx and tc_count_tx for TC ingress and egress. Each
// classifies a packet by the network type its (up to two times
// VLAN-tagged) ethertype names and the transport its IPv4 header or IPv6
// extension-header chain names (parse.h), and adds it to its interface's
// slot of one per-CPU array, per direction and class. They always pass the
// packet on. On devices without a link layer (tun, WireGuard, ipip, gre,
// ppp, ..., by their hardware type), whose packets start at the IP header, their _l3
// variants count instead: the network type is then the protocol the kernel
// took the packet for at TC, and its IP version at XDP. counter.h is the one definition of the maps' keys and values,
// shared with Go through bpf2go; the compiled object and its bindings are
// committed, so building needs no clang and a host needs no kernel
// headers.
//
// A Datapath is loaded once per receiver and serves all its interfaces:
//
//	d, err := bpf.Load(bpf.Options{Capacity: 512}) // the programs and maps, once
//	ifc, err := d.Open("eth0")                      // a slot for the interface
//	p, err := ifc.Attach(bpf.Receive, bpf.ModeAuto) // p.Hook, p.Reason: where, and why
//	_, err = ifc.Attach(bpf.Transmit, bpf.ModeAuto) // TC egress
//	var s bpf.Snapshot
//	err = d.Read(&s)                                // every slot: a few batch lookups
//	c := s.Slot(ifc.Slot())                         // monotonic totals, per direction and class
//	err = ifc.Detach()                              // programs off; the slot's counts stay, final
//	err = ifc.Release()                             // once they were read: the slot is free
//	err = d.Close()
//
// The programs find an interface's slot by its index: in slot_index at
// the index modulo its size (an array lookup the verifier inlines), or in
// the slots hash for the few that collide there. A packet that meets no
// slot counts in slot 0, which the receiver reports too: an interface moved
// to another network namespace keeps its programs until they are detached,
// and may have another index there. A slot is cleared when it is taken,
// never while it serves an interface: callers turn successive reads into
// deltas, which loses nothing.
//
// Where a direction is counted (Mode, Hook): transmit at TC egress, always.
// Receive in ModeAuto at TC ingress on every interface: attaching XDP makes
// almost every NIC driver rebuild its rings or turn offloads off
// (Driver.XDPEffect), and on virtual interfaces XDP costs TCP streams much
// of their throughput, where TC changes nothing. ModeNative and ModeGeneric
// force XDP, refused beforehand where the driver would refuse it
// (DescribeDriver); ModeTC forces TC. At TC a GSO packet counts as the
// segments the wire carries, its bytes with every header that each segment
// repeats once per segment, a tunnel's inner headers included (VXLAN,
// Geneve, GRE, IPIP, SIT); generic XDP sees it as one packet.
//
// Nothing outlives the process: XDP and TCX programs are held by bpf_links
// that die with it, even by SIGKILL. Kernels before 6.6 have no TCX: there
// the programs are filters of the clsact qdisc, which outlive it; a
// datapath's first such attach removes the filters that a datapath that
// died left behind (identified by their name and their program's tag, and
// their owner's abstract unix socket being gone: see owner), and touches
// no one else's.
//
// Kernel requirements: XDP through bpf_link needs Linux 5.9; TCX 6.6 (the
// clsact qdisc before); the XDP program is loaded frags-aware (the whole
// length of multi-buffer frames) on 5.18 and later, and without frags
// before; batch reads need 5.6, and fall back to one lookup per slot.
//
// Privileges: CAP_BPF and CAP_NET_ADMIN on 5.18 and later. Frags-aware, the
// XDP program reads headers at variable offsets with bpf_xdp_load_bytes()
// and never moves a packet pointer by a register, which the verifier would
// allow only with CAP_PERFMON; before 5.18 it does, and needs CAP_PERFMON
// too.
package bpf
