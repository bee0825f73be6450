//go:build linux

package bpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// What only this package's tests use, the API keeps to itself: the
// programs themselves, for BPF_PROG_TEST_RUN and benchmarks, the maps by
// id, and a user's program loaded without attaching it.

// Layer is linkLayer, for the tests that run the programs of each layer.
type Layer = linkLayer

const (
	LayerEthernet = layerEthernet
	LayerIP       = layerIP
)

// LayerOf is layerOf, for its table test, which gives it link attributes.
var LayerOf = layerOf

// Program returns the program of a hook and direction for Ethernet
// devices: xdp_count for XDP, tc_count_rx or tc_count_tx for TC.
func (d *Datapath) Program(xdp bool, dir Direction) *ebpf.Program {
	return d.programFor(layerEthernet, xdp, dir)
}

// ProgramFor returns the program of a hook and direction for devices
// whose packets start as l says.
func (d *Datapath) ProgramFor(l Layer, xdp bool, dir Direction) *ebpf.Program {
	return d.programFor(l, xdp, dir)
}

// CountersMapID is the id of the counters map, for tests that read it
// after the datapath is gone.
func (d *Datapath) CountersMapID() (ebpf.MapID, error) {
	info, err := d.objs.Counters.Info()
	if err != nil {
		return 0, err
	}
	id, _ := info.ID()
	return id, nil
}

// Capacity is how many interfaces the datapath counts at once.
func (d *Datapath) Capacity() int { return d.capacity }

// Frags tells whether the XDP program was loaded frags-aware.
func (d *Datapath) Frags() bool { return d.frags }

// Name is the name the interface was opened by.
func (i *Interface) Name() string { return i.name }

// CheckCustom is checkCustom: what OpenCustom checks, and the spec it
// keeps.
var CheckCustom = checkCustom

// CheckSpec is checkSpec, for specs that no object on disk has.
var CheckSpec = checkSpec

// CustomProgram is a user's program loaded but attached to nothing, for
// BPF_PROG_TEST_RUN.
type CustomProgram = customProgram

// LoadCustom opens the object (OpenCustom) and loads it.
func LoadCustom(s CustomSpec) (*CustomProgram, error) {
	o, err := OpenCustom(s)
	if err != nil {
		return nil, err
	}
	return o.load()
}

// AttachCustom opens the object that s names (OpenCustom) and attaches it.
func AttachCustom(iface string, mode Mode, s CustomSpec) (*CustomAttachment, error) {
	o, err := OpenCustom(s)
	if err != nil {
		return nil, err
	}
	return o.Attach(iface, mode)
}

func (p *customProgram) Program() *ebpf.Program           { return p.prog }
func (p *customProgram) Frags() bool                      { return p.frags }
func (p *customProgram) Read(dst map[uint32]uint64) error { return p.read(dst) }
func (p *customProgram) Close() error                     { return p.close() }

// WithoutFrags loads the datapath as on kernels before 5.18: XDP without
// BPF_F_XDP_HAS_FRAGS, reading headers at variable offsets in place. Tests
// run both, so the older kernels' path is tested on this kernel too.
func WithoutFrags(o Options) Options {
	o.withoutFrags = true
	return o
}

// ReadEach reads key by key, as Read does where the kernel has no batch
// lookup for the map, so that path is tested on this kernel too.
func (p *customProgram) ReadEach(dst map[uint32]uint64) error {
	clear(dst)
	return p.readEach(dst)
}

// ReadSlotBySlot reads as Read does where the kernel has no batch lookup.
func (d *Datapath) ReadSlotBySlot(s *Snapshot) error {
	d.reader.batch = false
	defer func() { d.reader.batch = true }()
	return d.Read(s)
}

// SetSlotsInUse makes reads cover n slots, as if n interfaces had been
// opened, for benchmarks.
func (d *Datapath) SetSlotsInUse(n int) { d.slots.high = uint32(n) + 1 }

// MoveToHash moves the interface's slot from the slot index to the slots
// hash, as for an interface whose position another holds: the lookup that
// a design without the index would make for every packet.
func (d *Datapath) MoveToHash(ifindex uint32) error {
	pos := ifindex % slotIndexSize
	var e counterSlotEntry
	if err := d.objs.SlotIndex.Lookup(pos, &e); err != nil {
		return err
	}
	if err := d.objs.Slots.Put(ifindex, e.Slot); err != nil {
		return err
	}
	return d.objs.SlotIndex.Put(pos, counterSlotEntry{})
}

// CheckSlotFree is checkSlotFree, for the tests of xdp.go, which give it
// link attributes no real interface can be made to have.
var CheckSlotFree = checkSlotFree

// XDPError is xdpError, for the tests of xdp.go, which give it the errnos
// that drivers and older kernels answer with.
var XDPError = xdpError

// WithXDPDriver makes the named driver known to refuse native XDP above
// maxMTU, or while LRO is on, for the test's duration: the drivers that
// refuse (ena, mlx5) cannot be had here, veth can.
func WithXDPDriver(t testing.TB, name string, maxMTU int, refusesLRO bool) {
	old, had := xdpDrivers[name]
	xdpDrivers[name] = xdpDriver{effect: "test", maxMTU: maxMTU, refusesLRO: refusesLRO}
	t.Cleanup(func() {
		if had {
			xdpDrivers[name] = old
		} else {
			delete(xdpDrivers, name)
		}
	})
}

// Features reads the interface's active features by name, as
// DescribeDriver does.
func Features(iface string) (map[string]bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = unix.Close(fd) }()
	return readFeatures(fd, iface)
}

// CheckNative is Driver.checkNative, for the table tests of driver.go.
func (d Driver) CheckNative(iface string, frags bool) error { return d.checkNative(iface, frags) }

// ClsactFilterName is the name of the datapath's clsact filters: empty
// until its first clsact attach draws its owner's token.
func (d *Datapath) ClsactFilterName() string {
	if d.tc.owner == nil {
		return ""
	}
	return filterName(d.tc.owner.token)
}

// FailFilterLookup makes the lookup that follows every clsact filter add
// fail, until the test ends.
func FailFilterLookup(t testing.TB) {
	lookupAdded = func(*netlink.Handle, int, uint32, func(*netlink.BpfFilter) bool) (*netlink.BpfFilter, error) {
		return nil, errors.New("injected lookup failure")
	}
	t.Cleanup(func() { lookupAdded = findFilter })
}

// TCWatch is tcWatch, for the tests of tcwatch.go, which need interfaces
// from xdptest (which imports this package).
type TCWatch struct{ *tcWatch }

func NewTCWatch() (TCWatch, error) {
	w, err := newTCWatch()
	return TCWatch{w}, err
}

func (w TCWatch) Close() error           { return w.close() }
func (w TCWatch) Watch(index int) uint64 { return w.watch(index) }
func (w TCWatch) Unwatch(index int)      { w.unwatch(index) }
func (w TCWatch) ChangedSince(index int, since uint64) (changed bool, now uint64, err error) {
	return w.changedSince(index, since)
}

// Lose makes the watch lose notifications, as when its buffer overflows.
func (w TCWatch) Lose() { w.gen++; w.lost = w.gen }

// Watched is how many interfaces the watch follows.
func (w TCWatch) Watched() int { return len(w.refs) + len(w.changed) }

// ReadObject reads a program object as OpenCustom does, for a process
// whose effective uid is euid: tests run as root, and check what a
// collector running as another user would accept.
var ReadObject = readObject
