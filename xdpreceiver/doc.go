// Package xdpreceiver counts the packets and bytes that arrive on network
// interfaces with an XDP program, by network type and transport, and reports
// them as the delta sums xdp.packets and xdp.bytes; or it attaches an XDP
// program of the user's and reports its counters as xdp.program.count.
//
//	receivers:
//	  xdp/edge:
//	    interfaces: [eth0, "veth*"]  # required: exact names and path.Match patterns
//	    exclude_interfaces: [veth9]  # optional: names or patterns the patterns must not match
//	    attach_mode: auto            # auto (native, else generic) | native | generic
//	    collection_interval: 10s
//
// An exact name must exist at start, so that a typo fails fast; if it
// disappears later, its series end with a last point and the status turns
// recoverable until it returns. A pattern may match nothing at start: the
// receiver follows link changes through netlink, attaching to a matching
// interface when it appears (whatever its state: XDP counts from then on)
// and ending its series when it goes. An interface that returns is a new
// interface: its series start again, at the new attachment.
//
// An interface has one XDP slot. A program of someone else's there is never
// replaced: for an exact name it fails Start, for a pattern's interface it
// is reported and the others are served. An interface that two instances
// match through patterns is counted by the first that claims it; an exact
// name that another instance already counts fails Start.
//
// The points of a series are contiguous: each starts at the time of the
// previous one, and the first starts at the time taken just before its
// interface was attached, so every counted packet falls inside a point and
// the points add up to exactly what the kernel counted; Shutdown collects
// once more before detaching, so that the counts since the last collection
// are reported too. A series appears
// with the first interval in which it counted something and is reported
// every interval from then on, zeros included.
//
// With program, the receiver attaches the user's XDP program instead of the
// built-in counter, and exports the counter map it keeps as the delta sum
// xdp.program.count, one series per key (xdp.program.key: its configured
// name, or its number in decimal); such an instance reports neither
// xdp.packets nor xdp.bytes, as an interface has one XDP slot:
//
//	program:
//	  object: /etc/otelcol/my_xdp.o  # a compiled BPF ELF object
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
// collection, and a key gone from the map counts as zero. Everything else,
// from patterns to status, is as for the built-in counter: the scraper reads
// both through a source (source.go).
//
// Attaching needs root, or CAP_BPF and CAP_NET_ADMIN (and CAP_PERFMON before Linux 5.18);
// CAP_NET_ADMIN also lets the netlink subscription hold a burst of link changes. The receiver attaches all its
// exactly named interfaces at start, or none, and detaches everything at shutdown.
//
//go:generate go tool -modfile=../tools.mod mdatagen metadata.yaml
package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"
