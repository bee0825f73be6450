//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Interface is an interface that a datapath counts: its slot, and the
// programs attached to it, one per direction.
//
// Its life: Open binds it to a free slot, Attach attaches a program for
// each direction, Detach detaches them all and unbinds the slot, and once
// the caller has read the slot's last counts, Release frees the slot for
// another interface.
type Interface struct {
	d       *Datapath
	name    string
	link    netlink.Link
	slot    uint32
	hooks   [NumDirections]*hook
	bound   bool
	release bool
	// clsactAdded: a legacy TC attach added the clsact qdisc, which Detach
	// removes again once no filter is left on it.
	clsactAdded bool
}

// hook is one program attached to an interface.
type hook struct {
	Placement
	// detach undoes the attachment; attached tells whether it still holds.
	detach   func() error
	attached func() (bool, error)
}

// linkHook is a hook held by a bpf_link (XDP or TCX): closing the link
// detaches it, and the link's interface index turns 0 once the interface
// is gone or the link was detached from outside.
func linkHook(l link.Link, p Placement) *hook {
	return &hook{
		Placement: p,
		detach:    l.Close,
		attached: func() (bool, error) {
			info, err := l.Info()
			if err != nil {
				return false, err
			}
			if x := info.XDP(); x != nil {
				return x.Ifindex != 0, nil
			}
			return info.TCX().Ifindex != 0, nil
		},
	}
}

// Open gives the interface named name (or alternatively named so) a slot.
// Packets of the interface count in that slot from the first Attach on.
func (d *Datapath) Open(name string) (*Interface, error) {
	l, err := lookup(d.nl, name)
	if err != nil {
		return nil, err
	}
	slot, err := d.slots.acquire()
	if err != nil {
		return nil, fmt.Errorf("count %q: %w", name, err)
	}
	i := &Interface{d: d, name: name, link: l, slot: slot}
	if err := d.slots.bind(uint32(i.Ifindex()), slot); err != nil {
		d.slots.release(slot)
		return nil, err
	}
	i.bound = true
	return i, nil
}

// lookup finds the interface by name or alternative name with one
// RTM_GETLINK: unlike net.InterfaceByName, which lists every link, its cost
// does not grow with the number of interfaces.
func lookup(nl *netlink.Handle, name string) (netlink.Link, error) {
	l, err := nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, &InterfaceNotFoundError{Name: name}
		}
		return nil, fmt.Errorf("look up interface %q: %w", name, err)
	}
	return l, nil
}

// Ifindex is the index of the interface when it was opened.
func (i *Interface) Ifindex() int { return i.link.Attrs().Index }

// Slot is the interface's slot in the datapath's snapshots.
func (i *Interface) Slot() uint32 { return i.slot }

// Attach attaches the program that counts direction dir. Receive goes
// where mode says (Mode); transmit always goes to TC egress. An interface
// holds one program per direction.
func (i *Interface) Attach(dir Direction, mode Mode) (Placement, error) {
	if !i.bound {
		return Placement{}, fmt.Errorf("attach to %q: interface is detached", i.name)
	}
	if i.hooks[dir] != nil {
		return Placement{}, fmt.Errorf("attach to %q: %s is counted already", i.name, dir)
	}
	var h *hook
	var err error
	if dir == Transmit {
		h, err = i.d.tc.attach(i, Transmit, "transmit is counted at TC egress")
	} else {
		h, err = i.attachReceive(mode)
	}
	if err != nil {
		return Placement{}, err
	}
	i.hooks[dir] = h
	return h.Placement, nil
}

// autoReason is why auto mode counts receive at TC on every interface.
const autoReason = "auto: TC changes nothing in the driver"

// attachReceive picks the receive hook. Auto mode counts at TC on every
// interface, physical or virtual: attaching the first XDP program, and
// detaching the last, makes almost every NIC driver rebuild its rings and
// drop the link, or turn offloads off (Driver.XDPEffect), and on a veth
// native XDP turns segmentation offload off on the peer; at TC nothing in
// the driver changes, and GSO and GRO packets count as the segments the
// wire carries. XDP is for the modes that ask for it.
func (i *Interface) attachReceive(mode Mode) (*hook, error) {
	switch mode {
	case ModeNative, ModeGeneric:
		return i.attachXDP(mode, "attach_mode: "+mode.String())
	case ModeTC:
		return i.d.tc.attach(i, Receive, "attach_mode: tc")
	}
	return i.d.tc.attach(i, Receive, autoReason)
}

// Attached tells whether every program attached to the interface still
// runs on it: a deleted interface, a link detached from outside (bpftool
// link detach), and a clsact filter or qdisc removed from outside (tc
// filter del, tc qdisc del) stop them. A clsact filter is looked for, with
// a dump, only after the kernel notified a change of the interface's TC
// configuration.
func (i *Interface) Attached() (bool, error) {
	for _, h := range i.hooks {
		if h == nil {
			continue
		}
		ok, err := h.attached()
		if err != nil || !ok {
			return ok, err
		}
	}
	return true, nil
}

// Detach detaches every program from the interface and unbinds its slot.
// The slot's counters stay readable, and final, until Release. It is safe
// to call more than once.
func (i *Interface) Detach() error {
	var errs []error
	for d, h := range i.hooks {
		if h == nil {
			continue
		}
		if err := h.detach(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s of %q: %w", Direction(d), i.name, err))
		}
		i.hooks[d] = nil
	}
	if i.clsactAdded {
		if err := removeClsactIfEmpty(i.d.nl, i.Ifindex()); err != nil {
			errs = append(errs, fmt.Errorf("remove clsact qdisc of %q: %w", i.name, err))
		}
		i.clsactAdded = false
	}
	if i.bound {
		// After the programs are gone: none may miss the slot meanwhile.
		if err := i.d.slots.unbind(uint32(i.Ifindex())); err != nil {
			errs = append(errs, err)
		}
		i.bound = false
	}
	return errors.Join(errs...)
}

// Release detaches the interface if need be and frees its slot for another
// interface. Call it once the slot's last counts were read. It is safe to
// call more than once.
func (i *Interface) Release() error {
	err := i.Detach()
	if !i.release {
		i.release = true
		i.d.slots.release(i.slot)
	}
	return err
}
