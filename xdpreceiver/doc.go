// Package xdpreceiver is the xdp receiver: it counts the packets and bytes
// that arrive on and leave network interfaces, by network type and
// transport, with eBPF programs at TC and, where asked for, XDP (package
// bpf), and reports them as the delta sums xdp.packets and xdp.bytes; or
// it attaches an XDP program of the user's and reports its counter map as
// xdp.program.count.
//
// README.md in this directory lists every setting with its default and
// gives an example; documentation.md is the generated reference of the
// metrics; docs/architecture.md at the repository's root follows a packet
// from the kernel to an exported point, and says which goroutine holds
// which lock and how an interface moves between its states.
//
// The code is laid out by job: config.go validates; scraper.go is the
// receiver's life (start, a collection, shutdown) and its lock;
// discovery.go decides which interfaces are wanted, from patterns,
// exclusions, link events and claims (claims.go, match.go); lifecycle.go
// keeps each interface in one typed state, moved by one function, and
// attaches, reads, detaches and releases it; watch.go follows link changes
// and hands each to one function; pods.go follows which pod each
// interface belongs to, whose interfaces report in a resource of their own
// (k8s.pod.ip) in the pod's view of direction; builtin.go and program.go are what
// counts, as taps that hold what is attached to an interface and own its
// series, behind the narrow interfaces of source.go that package bpf's
// types satisfy as they are; deltas.go turns counts into delta points and
// emit.go into pdata; status.go reports componentstatus; advice.go is the
// one place where errors of package bpf get advice; kernel_linux.go binds
// all of it to the real kernel.
//
//go:generate go tool -modfile=../tools.mod mdatagen metadata.yaml
package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"
