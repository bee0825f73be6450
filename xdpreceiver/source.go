package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// source is what a receiver counts with: the built-in counter (builtin.go),
// through one datapath for all its interfaces, or the user's XDP program
// (program.go), loaded afresh for each interface. The registry attaches,
// reads and detaches through it, and so treats both alike: patterns,
// interfaces that come and go, faults, claims and status know nothing of
// what is counted.
type source interface {
	// start loads what attachments share, or reads and checks what each
	// loads, before anything is attached. now reads the clock: what belongs
	// to no interface counts from the moment the load began.
	start(now func() pcommon.Timestamp) error
	// attach counts the interface named name, in every direction
	// configured, or in none.
	attach(name string) (attachment, error)
	// collect reads, once per collection, what the attachments' counts
	// then come from: the datapath's every slot in a few syscalls.
	collect() error
	// newSeries returns the series of one interface, whose counts start
	// from zero at attached.
	newSeries(attached pcommon.Timestamp) series
	// emitOwn emits what belongs to no interface, at now(): the built-in
	// counter's packets that met no slot.
	emitOwn(e *emitter, now func() pcommon.Timestamp)
	// pointsPerSeries is how many points a series emits per collection:
	// the points that a failed read loses.
	pointsPerSeries() int
	// close frees what start loaded. Every attachment was released.
	close() error
}

// attachment is one interface that a source counts.
type attachment interface {
	// ifindex is the index of the interface when it was attached, which
	// tells a re-created interface from the one counted.
	ifindex() int
	// hooks says where each direction is counted, and why there.
	hooks() []hookInfo
	// attached tells whether every program still runs on the interface:
	// a link detached from outside stops one.
	attached() (bool, error)
	// detach stops counting. The counts stay readable, and final.
	detach() error
	// release frees the attachment, once its last counts were read.
	release() error
}

// hookInfo is where one direction of an interface is counted, and why.
type hookInfo struct {
	dir bpf.Direction
	bpf.Attachment
}

// series turns one interface's counts into delta points. It outlives the
// interface's attachments: a new attachment counts from zero again, and
// the series that were active go on from it.
type series interface {
	// read takes the attachment's counts as the last collect found them.
	read(a attachment) error
	// readFinal takes the attachment's counts as they are now: after
	// detach, its last.
	readFinal(a attachment) error
	// emit appends, at now, the point of every active series from the last
	// read, and returns how many series went backwards and were restarted.
	emit(e *emitter, iface string, now pcommon.Timestamp) (restarted int)
	// reattached restarts the counts from zero for a new attachment.
	reattached(at pcommon.Timestamp)
	// activeSeries is the number of series emit emits every interval.
	activeSeries() int
	// moved tells whether every program of the attachment counted
	// something between the last two reads: then each ran during the
	// interval, and asking the kernel whether it is still attached (which
	// takes the RTNL lock, per program) can wait for an idle interval.
	moved() bool
}
