//go:build linux

package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// tcAttacher attaches the TC programs: through TCX links where the kernel
// has them (6.6+), which die with the process like XDP links, and as
// filters of the clsact qdisc before, which outlive it.
type tcAttacher struct {
	// legacy is set once TCX turns out to be missing (or for tests).
	legacy bool
	// owner names the datapath's clsact filters and tells other
	// processes that it lives; watch tells its hooks when to look whether
	// they are still attached. Both come with the first legacy attach.
	owner *owner
	watch *tcWatch
	// swept: the stale filters of earlier processes were removed, once,
	// before the first legacy attach.
	swept bool
}

func (t *tcAttacher) attach(i *Interface, dir Direction, reason string) (*hook, error) {
	prog := i.program(false, dir)
	if !t.legacy {
		h, err := attachTCX(i, prog, dir, reason)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return h, err
		}
		t.legacy = true
	}
	if t.owner == nil {
		// Before the sweep: datapaths that start together must see
		// each other alive.
		o, err := newOwner()
		if err != nil {
			return nil, err
		}
		w, err := newTCWatch()
		if err != nil {
			return nil, errors.Join(err, o.close())
		}
		t.owner, t.watch = o, w
	}
	if !t.swept {
		if err := sweepStaleFilters(i.d); err != nil {
			return nil, err
		}
		t.swept = true
	}
	return attachClsact(i, prog, dir, reason, filterName(t.owner.token), t.watch)
}

func (t *tcAttacher) close() error {
	return errors.Join(t.watch.close(), t.owner.close())
}

func attachTCX(i *Interface, prog *ebpf.Program, dir Direction, reason string) (*hook, error) {
	at := ebpf.AttachTCXIngress
	if dir == Transmit {
		at = ebpf.AttachTCXEgress
	}
	// At the head, so that the counter sees every packet before another
	// program may drop or redirect it.
	l, err := link.AttachTCX(link.TCXOptions{Interface: i.Ifindex(), Program: prog, Attach: at, Anchor: link.Head()})
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
		return nil, fmt.Errorf("attach TCX %s to %q: %w", dir, i.name, err)
	}
	return linkHook(l, Placement{Hook: HookTCX, Reason: reason, ProgramID: i.d.ids[prog]}), nil
}

func clsactParent(dir Direction) uint32 {
	if dir == Transmit {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// filterHandle is the handle of every filter a datapath adds: each gets a
// priority of its own, free before, so that priority and handle name it
// alone, without asking the kernel which it chose.
const filterHandle = 1

// addAttempts bounds the adds that lose a race for a free priority to
// someone adding a filter there meanwhile.
const addAttempts = 3

// lookupAdded finds the filter just added (findFilter; a seam for tests).
var lookupAdded = findFilter

// attachClsact adds the program as a direct-action bpf filter of the
// interface's clsact qdisc, adding the qdisc if it has none, ahead of the
// hook's existing filters where a priority is free there, so that the
// counter sees every packet before another filter may drop or redirect it.
func attachClsact(i *Interface, prog *ebpf.Program, dir Direction, reason, name string, w *tcWatch) (*hook, error) {
	index, nl, parent := i.Ifindex(), i.d.nl, clsactParent(dir)
	created, err := ensureClsact(nl, index)
	if err != nil {
		return nil, fmt.Errorf("add clsact qdisc to %q: %w", i.name, err)
	}
	i.clsactAdded = i.clsactAdded || created
	// From before the add on, so that no removal after it goes unseen.
	seen := w.watch(index)
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: index, Parent: parent, Handle: filterHandle, Protocol: unix.ETH_P_ALL},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	for range addAttempts {
		if f.Priority, err = freePriority(nl, index, parent); err != nil {
			break
		}
		// EEXIST, EINVAL: a filter (of another kind or protocol) took
		// the priority since the listing.
		if err = nl.FilterAdd(f); !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EINVAL) {
			break
		}
	}
	if err != nil {
		w.unwatch(index)
		return nil, fmt.Errorf("add TC %s filter to %q: %w", dir, i.name, err)
	}
	id := i.d.ids[prog]
	is := func(b *netlink.BpfFilter) bool {
		return b.Priority == f.Priority && b.Handle == f.Handle && b.Name == name && uint32(b.Id) == id
	}
	del := func() error {
		err := nl.FilterDel(f)
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
			err = nil // the interface, and its filters, are gone
		}
		return err
	}
	// The hook knows its filter by how the kernel lists it (is), which
	// kernels before 4.13 could not (no TCA_BPF_ID): a filter it would
	// never find again fails here, removed, not at every collection.
	added, err := lookupAdded(nl, index, parent, is)
	if err != nil || added == nil {
		w.unwatch(index)
		return nil, errors.Join(fmt.Errorf("find TC %s filter of %q again: %w", dir, i.name, errors.Join(err, errors.New("not listed"))),
			del())
	}
	if _, seen, err = w.changedSince(index, seen); err != nil {
		w.unwatch(index)
		return nil, errors.Join(err, del())
	}
	watching := true
	return &hook{
		Placement: Placement{Hook: HookTCLegacy, Reason: reason, ProgramID: id},
		detach: func() error {
			if watching {
				w.unwatch(index)
				watching = false
			}
			return del()
		},
		// A dump only when a notification concerned the interface:
		// the filter was there when seen was taken.
		attached: func() (bool, error) {
			changed, now, err := w.changedSince(index, seen)
			if err != nil || !changed {
				return err == nil, err
			}
			found, err := findFilter(nl, index, parent, is)
			if err != nil {
				return false, err
			}
			seen = now
			return found != nil, nil
		},
	}, nil
}

// device names the interface by its index alone, for the requests that
// need nothing else of it: no RTM_GETLINK first.
func device(index int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
}

// clsactQdisc is the clsact qdisc of the interface.
func clsactQdisc(index int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
}

// freePriority is a priority that no filter of the hook has: ahead of
// every filter, one less than the lowest in use; where that is 1, the
// first free one.
func freePriority(nl *netlink.Handle, index int, parent uint32) (uint16, error) {
	filters, err := nl.FilterList(device(index), parent)
	if err != nil {
		return 0, err
	}
	used := map[uint16]bool{}
	lowest := uint16(0)
	for _, f := range filters {
		p := f.Attrs().Priority
		used[p] = true
		if lowest == 0 || p < lowest {
			lowest = p
		}
	}
	if lowest == 0 || lowest > 1 {
		return max(lowest, 2) - 1, nil
	}
	for p := uint16(2); p != 0; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, errors.New("every priority is taken")
}

// ensureClsact adds a clsact qdisc unless the interface has one, and says
// whether it added it: the detach then removes it again once no filter is
// left on it. A clsact qdisc of someone else's is never removed.
func ensureClsact(nl *netlink.Handle, index int) (created bool, err error) {
	qdiscs, err := nl.QdiscList(device(index))
	if err != nil {
		return false, err
	}
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			return false, nil
		}
	}
	if err := nl.QdiscAdd(clsactQdisc(index)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil // added meanwhile, by someone else
		}
		return false, err
	}
	return true, nil
}

func removeClsactIfEmpty(nl *netlink.Handle, index int) error {
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		filters, err := nl.FilterList(device(index), parent)
		if err != nil {
			return err
		}
		if len(filters) > 0 {
			return nil
		}
	}
	// ENODEV: the interface is gone, with its qdiscs.
	if err := nl.QdiscDel(clsactQdisc(index)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

func findFilter(nl *netlink.Handle, index int, parent uint32, match func(*netlink.BpfFilter) bool) (*netlink.BpfFilter, error) {
	filters, err := nl.FilterList(device(index), parent)
	if err != nil {
		return nil, err
	}
	for _, f := range filters {
		if b, ok := f.(*netlink.BpfFilter); ok && match(b) {
			return b, nil
		}
	}
	return nil, nil
}

// sweepStaleFilters removes, from every interface of the network
// namespace, the clsact filters that a datapath left when it died without
// detaching (SIGKILL, a crash, an OOM kill).
//
// A filter is ours when its name has filterPrefix and its program's tag,
// which the dump carries, is the tag of one of this datapath's TC
// programs: the same program, loaded by another process. It is stale when
// its owner is gone: nothing is bound to the owner's socket (owner). Names
// of versions before tokens carry a pid instead: such a filter is stale
// when no process of that pid, other than this one, runs this program
// (comm); in a PID namespace of its own, where every collector is pid 1,
// that cannot be told, and it stays. Everything else stays untouched:
// filters and qdiscs of anyone else, filters of a live datapath, and those
// of another version of the counter (another tag).
//
// All of it from dumps and sockets, which need no privilege: opening a
// program by its id (BPF_PROG_GET_FD_BY_ID) would need CAP_SYS_ADMIN.
func sweepStaleFilters(d *Datapath) error {
	nl := d.nl
	tags := map[string]bool{}
	for _, p := range d.tcPrograms() {
		info, err := p.Info()
		if err != nil {
			return fmt.Errorf("describe TC program: %w", err)
		}
		tags[info.Tag] = true
	}
	ls, err := links.List()
	if err != nil {
		return err
	}
	self := os.Getpid()
	var errs []error
	for _, l := range ls {
		dev := device(l.Index)
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, err := nl.FilterList(dev, parent)
			if err != nil {
				continue // no clsact qdisc, or gone meanwhile
			}
			for _, f := range filters {
				b, ok := f.(*netlink.BpfFilter)
				if !ok || !tags[b.Tag] || !staleFilter(b.Name, self) {
					continue
				}
				if err := nl.FilterDel(b); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("remove stale filter of %q: %w", l.Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// staleFilter tells whether the owner that the name of one of our filters
// names is gone (sweepStaleFilters).
func staleFilter(name string, self int) bool {
	token, pid, ok := parseOwner(name)
	switch {
	case !ok:
		return false
	case token != "":
		return !ownerAlive(token)
	default:
		return pid != self && !processAlive(pid)
	}
}

// processAlive tells whether a process of that pid runs the same program
// as this one. A pid that another program reuses counts as gone.
func processAlive(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return false
	}
	self, err := os.ReadFile("/proc/self/comm")
	return err != nil || bytes.Equal(comm, self)
}
