package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// source is what a receiver counts with: the built-in counter (builtin.go),
// through one datapath for all its interfaces, or the user's XDP program
// (program.go), loaded afresh for each interface. The lifecycle attaches,
// reads and detaches through its taps, and so treats both alike: patterns,
// interfaces that come and go, faults, claims and status know nothing of
// what is counted.
type source interface {
	// start loads what taps share, or reads and checks what each loads,
	// before anything is attached. now reads the clock: what belongs to no
	// interface counts from the moment the load began.
	start(now func() pcommon.Timestamp) error
	// newTap returns the tap of one interface, attached to nothing yet.
	newTap() tap
	// collect reads, once per collection, what the taps' counts then come
	// from: the datapath's every slot in a few syscalls.
	collect() error
	// emitOwn emits what belongs to no interface, at now(): the built-in
	// counter's packets that met no slot.
	emitOwn(e *emitter, now func() pcommon.Timestamp)
	// pointsPerSeries is how many points a series emits per collection:
	// the points that a failed read loses.
	pointsPerSeries() int
	// close frees what start loaded. Every tap was released.
	close() error
}

// tap counts one interface: it holds the handle attached to the interface,
// while it is, and owns the interface's series, which go on across
// attachments: a new attachment counts from zero again, and the series
// that were active go on from it, so an interface that comes back keeps
// its series.
type tap interface {
	// attach counts the interface named name, in every direction
	// configured, or in none, and returns its index. The series count from
	// zero at at, taken before attaching: the program may count a packet
	// before attach returns.
	attach(name string, at pcommon.Timestamp) (ifindex int, err error)
	// placements says where each direction is counted, and why there.
	placements() []placement
	// attached tells whether every program still runs on the interface:
	// a link detached from outside stops one.
	attached() (bool, error)
	// read takes the counts as the source's last collect found them.
	read() error
	// moved tells whether every program counted something between the
	// last two reads: then each ran during the interval, and asking the
	// kernel whether it is still attached (which takes the RTNL lock, per
	// program) can wait for an idle interval.
	moved() bool
	// emit appends, at now, the point of every active series from the
	// last read, as o's, and returns how many series went backwards and
	// were restarted.
	emit(e *emitter, o owner, now pcommon.Timestamp) (restarted int)
	// detach stops counting. The counts stay readable, and final.
	detach() error
	// end reads the counts as they are now, the last of the series: after
	// detach, or when the interface's owner changes (renew follows). It
	// takes their points at now(), after the read, so that every packet
	// the read counted falls inside them, and returns them, as o's, for
	// the next collection to emit.
	end(o owner, now func() pcommon.Timestamp) (lastPoints, int, error)
	// renew ends every series at the last read or attach: those that count
	// after it are new series, which start there. The interface's owner
	// changed: a series' resource and view of direction never change.
	renew()
	// release frees the handle, once its last counts were read.
	release() error
	// activeSeries is the number of series emit emits every interval.
	activeSeries() int
}

// handle is what is attached to one interface, as package bpf returns it:
// what a tap holds while the interface is attached.
type handle interface {
	// Ifindex is the index of the interface when it was attached, which
	// tells a re-created interface from the one counted.
	Ifindex() int
	// Attached tells whether every program still runs on the interface.
	Attached() (bool, error)
	// Detach stops counting. The counts stay readable, and final.
	Detach() error
}

// lastPoints are the points of an interface's last counts, taken when its
// attachment ended; the next collection emits them.
type lastPoints func(e *emitter)

// placement is where one direction of an interface is counted, and why.
type placement struct {
	dir bpf.Direction
	bpf.Placement
}
