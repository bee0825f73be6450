//go:build linux

package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

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
	pid    int
	// swept: the stale filters of earlier processes were removed, once,
	// before the first legacy attach.
	swept bool
}

// filterPrefix starts the name of every clsact filter a datapath adds; the
// pid of its process follows. A filter is ours when its name has the
// prefix and its program is one of ours, by name and tag; it is stale when
// that process is gone.
const filterPrefix = "otelcol-xdp/"

func (t *tcAttacher) attach(i *Interface, dir Direction, reason string) (*hook, error) {
	prog := i.program(false, dir)
	if !t.legacy {
		h, err := attachTCX(i, prog, dir, reason)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return h, err
		}
		t.legacy = true
	}
	if !t.swept {
		if err := sweepStaleFilters(i.d, t.pid); err != nil {
			return nil, err
		}
		t.swept = true
	}
	return attachClsact(i, prog, dir, reason, t.pid)
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
	return linkHook(l, Attachment{Hook: HookTCX, Reason: reason, ProgramID: i.d.ids[prog]}), nil
}

func clsactParent(dir Direction) uint32 {
	if dir == Transmit {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// attachClsact adds the program as a direct-action bpf filter of the
// interface's clsact qdisc, adding the qdisc if it has none, ahead of the
// hook's existing filters where a priority is free there, so that the
// counter sees every packet before another filter may drop or redirect it.
func attachClsact(i *Interface, prog *ebpf.Program, dir Direction, reason string, pid int) (*hook, error) {
	index, nl := i.Ifindex(), i.d.nl
	created, err := ensureClsact(nl, index)
	if err != nil {
		return nil, fmt.Errorf("add clsact qdisc to %q: %w", i.name, err)
	}
	i.clsactAdded = i.clsactAdded || created
	name := filterPrefix + strconv.Itoa(pid)
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: index, Parent: clsactParent(dir), Priority: firstPriority(nl, index, dir), Protocol: unix.ETH_P_ALL},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	err = nl.FilterAdd(f)
	if errors.Is(err, unix.EINVAL) && f.Priority != 0 {
		// The priority holds filters of another protocol or kind: let the
		// kernel choose one.
		f.Priority = 0
		err = nl.FilterAdd(f)
	}
	if err != nil {
		return nil, fmt.Errorf("add TC %s filter to %q: %w", dir, i.name, err)
	}
	id := i.d.ids[prog]
	// The kernel chose priority and handle: find the filter again by
	// its name and program, to delete exactly it later.
	added, err := findFilter(nl, index, clsactParent(dir), func(b *netlink.BpfFilter) bool { return b.Name == name && uint32(b.Id) == id })
	if err != nil || added == nil {
		return nil, fmt.Errorf("find TC %s filter of %q again: %w", dir, i.name, errors.Join(err, errors.New("not listed")))
	}
	return &hook{
		Attachment: Attachment{Hook: HookTCLegacy, Reason: reason, ProgramID: id},
		detach: func() error {
			err := nl.FilterDel(added)
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				err = nil // the interface, and its filters, are gone
			}
			return err
		},
		attached: func() (bool, error) { return true, nil },
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

// firstPriority is a priority ahead of every filter of the hook: one less
// than the lowest in use, or 1, the first, when none is; 0 (the kernel's
// choice) when the listing fails.
func firstPriority(nl *netlink.Handle, index int, dir Direction) uint16 {
	filters, err := nl.FilterList(device(index), clsactParent(dir))
	if err != nil {
		return 0
	}
	lowest := uint16(0)
	for _, f := range filters {
		if p := f.Attrs().Priority; lowest == 0 || p < lowest {
			lowest = p
		}
	}
	if lowest > 1 {
		return lowest - 1
	}
	return 1
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
// namespace, the clsact filters that a datapath of an earlier process left
// when it died without detaching (SIGKILL, a crash): ours by the prefix of
// their name and by their program's name and tag, stale because their
// process is gone. Filters and qdiscs of anyone else stay untouched, and
// so do filters of a live process, or of another version of the counter
// (another tag), which are left to it.
func sweepStaleFilters(d *Datapath, pid int) error {
	nl := d.nl
	ours := map[string]string{} // program name -> tag
	for _, p := range d.tcPrograms() {
		info, err := p.Info()
		if err != nil {
			return fmt.Errorf("describe TC program: %w", err)
		}
		ours[info.Name] = info.Tag
	}
	ls, err := links.List()
	if err != nil {
		return err
	}
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
				if !ok || !staleFilter(b, ours, pid) {
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

func staleFilter(f *netlink.BpfFilter, ours map[string]string, self int) bool {
	owner, ok := strings.CutPrefix(f.Name, filterPrefix)
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(owner)
	if err != nil || pid == self || processAlive(pid) {
		return false
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(f.Id))
	if err != nil {
		return false
	}
	info, err := p.Info()
	if cerr := p.Close(); err != nil || cerr != nil {
		return false
	}
	tag, ok := ours[info.Name]
	return ok && tag == info.Tag && tag == f.Tag
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
