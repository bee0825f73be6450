//go:build linux

package bpf

// WithoutFrags loads the datapath as on kernels before 5.18: XDP without
// BPF_F_XDP_HAS_FRAGS, reading headers at variable offsets in place. Tests
// run both, so the older kernels' path is tested on this kernel too.
func WithoutFrags(o Options) Options {
	o.withoutFrags = true
	return o
}

// ReadEach reads key by key, as Read does where the kernel has no batch
// lookup for the map, so that path is tested on this kernel too.
func (p *CustomProgram) ReadEach(dst map[uint32]uint64) error {
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

// ReadObject reads a program object as CheckCustom does, for a process
// whose effective uid is euid: tests run as root, and check what a
// collector running as another user would accept.
var ReadObject = readObject
