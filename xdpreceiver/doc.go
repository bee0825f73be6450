// Package xdpreceiver counts the packets and bytes that arrive on and leave
// network interfaces, by network type and transport, with eBPF programs at
// XDP and TC, and reports them as the delta sums xdp.packets and
// xdp.bytes; or it attaches an XDP program of the user's and reports its
// counters as xdp.program.count.
//
//	receivers:
//	  xdp/node:
//	    interfaces: [eth0, "veth*"]   # required: exact names and path.Match patterns
//	    exclude_interfaces: [veth9]   # optional: names or patterns the patterns must not match
//	    directions: [receive, transmit] # default [receive]
//	    attach_mode: auto             # auto | native | generic | tc: where receive is counted
//	    max_interfaces: 512           # slots of the counters, allocated at start
//	    collection_interval: 10s
//
// The receiver loads its programs and one per-CPU counters map once, at
// start, for all its interfaces (package bpf). Transmit is counted at TC
// egress. Receive, in auto mode, at TC ingress on every interface: XDP
// makes almost every NIC driver reset or turn offloads off as it comes and
// goes, and TC changes nothing. native and generic force XDP, and log what
// the driver will do before attaching it. The log line of each interface,
// and the status, say which hook each direction got, and why.
//
// The code is laid out by job: config.go validates; scraper.go is the
// receiver's life (start, scrape, shutdown) and its lock; registry.go holds
// an explicit state per interface (pending, attached, gone, skipped,
// faulted) and moves interfaces between them; watch.go follows link
// changes through netlink and applies them to the registry; source.go,
// builtin.go and program.go are what counts (the built-in datapath or the
// user's program) behind narrow interfaces; deltas.go turns counts into
// delta points; emit.go builds the pdata; status.go reports
// componentstatus; advice.go is the one place where errors of package bpf
// get advice for users; kernel_linux.go binds all of it to the real
// kernel.
//
// An exact name must exist at start, so that a typo fails fast; start
// attaches every exact name or none. If one disappears later, its series
// end with a last point and the status turns recoverable until it returns.
// A pattern may match nothing at start: the receiver follows link changes
// through netlink, attaching to a matching interface when it appears and
// ending its series when it goes. What patterns match is attached in the
// background, one interface after the other, as a TCX attachment waits
// for an RCU grace period of the kernel's: start returns at once, and
// scrapes report what is attached so far. An interface that returns is a
// new interface: its series start again, at the new attachment.
//
// An interface has one XDP slot. A program of someone else's there is never
// replaced: auto mode counts beside it at TC; native or generic mode fails
// Start for an exact name, and reports a pattern's interface and serves
// the others. Instances claim interfaces, not names: an interface that two
// instances match through patterns, or through a pattern and an
// alternative name, is counted by the first that claims it; an exact name
// of an interface that another instance already counts, by whatever name,
// fails Start, and if it appears later on such an interface it is a fault
// of the instance that names it until the other lets the interface go.
//
// The points of a series are contiguous: each starts at the time of the
// previous one, and the first starts at the time taken just before its
// interface was attached, so every counted packet falls inside a point and
// the points add up to exactly what the kernel counted. When an interface
// goes, or at Shutdown, its programs are detached first and its counts
// read after: the last points hold everything counted. A series appears
// with the first interval in which it counted something and is reported
// every interval from then on, zeros included. Packets that met no
// interface's slot are reported under an empty network.interface.name,
// never dropped silently.
//
// With program, the receiver attaches the user's XDP program instead of the
// built-in counter, and exports the counter map it keeps as the delta sum
// xdp.program.count, one series per key (xdp.program.key: its configured
// name, or its number in decimal); such an instance counts receive only,
// at XDP, and reports neither xdp.packets nor xdp.bytes, as an interface
// has one XDP slot:
//
//	program:
//	  object: /etc/otelcol/my_xdp.o  # a compiled BPF ELF object, absolute path
//	  function_name: xdp_count       # the XDP program in it to attach
//	  map: packet_count              # the default
//	  keys: {0: allowed, 1: dropped} # optional names of keys
//
// The map is an array, hash, per-CPU array or per-CPU hash of 4-byte keys
// and 8-byte counters (per-CPU values summed). Start reads and checks the
// object once, before attaching anything, and fails with what is wrong with
// it; every interface loads a fresh copy of what Start read, so interfaces
// never mix their counts and a file changed on disk later changes nothing.
// A value that goes backwards starts its series again from the previous
// collection, and a key gone from the map counts as zero.
//
// The program runs with the collector's privileges in the kernel, so
// whoever can write the configuration or the object can drop or redirect
// traffic on every interface it counts. Start refuses an object that
// anyone but root and the collector's user could have changed: a file that
// is not regular, owned by anyone else, or writable by its group or
// others, or a directory on its path (as given or with links resolved)
// owned by anyone else, or writable by its group or others without the
// sticky bit.
//
// Attaching needs root, or CAP_BPF and CAP_NET_ADMIN (and CAP_PERFMON
// before Linux 5.18); CAP_NET_ADMIN also lets the netlink subscription
// hold a burst of link changes.
//
//go:generate go tool -modfile=../tools.mod mdatagen metadata.yaml
package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"
