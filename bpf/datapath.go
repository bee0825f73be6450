//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Datapath is the counter of one receiver: its programs, loaded once, and
// one per-CPU map with the counters of every interface it counts, in both
// directions.
//
// Every interface gets a slot (Open), which holds its counters; the programs
// find the slot from the packet's interface index. A slot is reused only
// after Release, which the caller calls once it has read the slot's last
// counts, so an interface's counts never mix with another's.
//
// A Datapath is not safe for concurrent use: the receiver serializes its
// calls under its own lock.
type Datapath struct {
	objs     objects
	frags    bool
	capacity int
	slots    slotTable
	reader   *reader
	tc       tcAttacher
	// nl is the datapath's one netlink socket, for looking interfaces up
	// and for the clsact qdiscs and filters. A socket per request, as
	// netlink's package functions open, is freed after an RCU grace
	// period, and closing one just before a TCX attach makes that attach
	// wait for a second grace period: 8 ms more per interface.
	nl *netlink.Handle
	// ids are the programs' ids, which placements report: asked once.
	ids    map[*ebpf.Program]uint32
	closed bool
}

// objects are what a datapath loads: the programs it attaches, for
// Ethernet devices and for devices without a link layer (linkLayer), and the
// maps it reads and writes. Of each pair of XDP programs the kernel gets
// one, as xdp_count and xdp_count_l3.
type objects struct {
	XdpCount    *ebpf.Program `ebpf:"xdp_count"`
	TcCountRx   *ebpf.Program `ebpf:"tc_count_rx"`
	TcCountTx   *ebpf.Program `ebpf:"tc_count_tx"`
	XdpCountL3  *ebpf.Program `ebpf:"xdp_count_l3"`
	TcCountRxL3 *ebpf.Program `ebpf:"tc_count_rx_l3"`
	TcCountTxL3 *ebpf.Program `ebpf:"tc_count_tx_l3"`
	Counters    *ebpf.Map     `ebpf:"counters"`
	SlotIndex   *ebpf.Map     `ebpf:"slot_index"`
	Slots       *ebpf.Map     `ebpf:"slots"`
}

func (o *objects) programs() []*ebpf.Program {
	return []*ebpf.Program{o.XdpCount, o.TcCountRx, o.TcCountTx, o.XdpCountL3, o.TcCountRxL3, o.TcCountTxL3}
}

func (o *objects) Close() error {
	var errs []error
	for _, p := range o.programs() {
		errs = append(errs, p.Close())
	}
	return errors.Join(append(errs, o.Counters.Close(), o.SlotIndex.Close(), o.Slots.Close())...)
}

// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones ignore it.
var removeMemlock = sync.OnceValue(rlimit.RemoveMemlock)

// Load loads the counter programs with maps for opts.Capacity interfaces.
// The XDP program is frags-aware where the kernel supports it (5.18+), so
// that multi-buffer frames count their whole length.
func Load(opts Options) (*Datapath, error) {
	if opts.Capacity < 1 || opts.Capacity >= 1<<24 {
		return nil, fmt.Errorf("datapath capacity %d: want 1 to %d interfaces", opts.Capacity, 1<<24-1)
	}
	if err := removeMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}
	frags := false
	if !opts.withoutFrags {
		var err error
		if frags, err = haveFrags(); err != nil {
			return nil, err
		}
	}
	spec, err := loadCounter()
	if err != nil {
		return nil, err
	}
	spec.Maps[counterMapCounters].MaxEntries = uint32(opts.Capacity) + 1
	spec.Maps[counterMapSlots].MaxEntries = uint32(opts.Capacity)
	if !frags {
		// Before 5.18: the variants that read in place, as xdp_count and
		// xdp_count_l3.
		spec.Programs[counterProgXdpCount] = spec.Programs[counterProgXdpCountLinear]
		spec.Programs[counterProgXdpCountL3] = spec.Programs[counterProgXdpCountL3Linear]
	}
	delete(spec.Programs, counterProgXdpCountLinear)
	delete(spec.Programs, counterProgXdpCountL3Linear)
	d := &Datapath{frags: frags, capacity: opts.Capacity}
	if err := spec.LoadAndAssign(&d.objs, nil); err != nil {
		return nil, fmt.Errorf("load counter: %w", err)
	}
	if d.reader, err = newReader(d.objs.Counters); err != nil {
		return nil, errors.Join(fmt.Errorf("prepare to read counters: %w", err), d.objs.Close())
	}
	if d.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, errors.Join(fmt.Errorf("open a netlink socket: %w", err), d.objs.Close())
	}
	d.slots = newSlotTable(d.objs.SlotIndex, d.objs.Slots, d.objs.Counters, opts.Capacity, d.reader.cpus)
	d.tc = tcAttacher{legacy: opts.TCLegacy}
	d.ids = map[*ebpf.Program]uint32{}
	for _, p := range d.objs.programs() {
		d.ids[p] = programID(p)
	}
	return d, nil
}

// haveFrags tells whether the kernel loads XDP programs frags-aware
// (BPF_F_XDP_HAS_FRAGS, Linux 5.18, which also brought
// bpf_xdp_get_buff_len). Probing the helper, rather than retrying a failed
// load without frags, keeps the error of the one load that matters.
var haveFrags = sync.OnceValues(func() (bool, error) {
	err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpGetBuffLen)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ebpf.ErrNotSupported):
		return false, nil
	default:
		return false, fmt.Errorf("probe XDP multi-buffer support: %w", err)
	}
})

// programFor returns the program of a hook and direction for devices whose
// packets start as l says: xdp_count for XDP, tc_count_rx or tc_count_tx
// for TC, and for layerIP their _l3 variants.
func (d *Datapath) programFor(l linkLayer, xdp bool, dir Direction) *ebpf.Program {
	o := &d.objs
	switch {
	case xdp && l == layerIP:
		return o.XdpCountL3
	case xdp:
		return o.XdpCount
	case dir == Transmit && l == layerIP:
		return o.TcCountTxL3
	case dir == Transmit:
		return o.TcCountTx
	case l == layerIP:
		return o.TcCountRxL3
	default:
		return o.TcCountRx
	}
}

// Close frees the programs and maps. Callers detach every interface first:
// a program that a link or filter still holds keeps running. It is safe to
// call more than once.
func (d *Datapath) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.nl.Close()
	// The owner last: filters left attached are stale from here on.
	return errors.Join(d.objs.Close(), d.tc.close())
}
