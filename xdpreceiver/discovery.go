package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// discovery decides which interfaces a receiver instance wants, from its
// exact names and patterns, its exclusions, link events and the claims of
// every instance, and asks the lifecycle (lifecycle.go) to attach, end or
// move them. It is not safe for concurrent use: xdpScraper calls it under
// its lock.
type discovery struct {
	life   *lifecycle
	links  linkSource
	match  matcher
	claim  *claimant
	logger *zap.Logger

	ifaces map[string]*iface
	names  []string // the names of ifaces, sorted when sorted is set
	sorted bool
}

func newDiscovery(life *lifecycle, ls linkSource, match matcher, claim *claimant, logger *zap.Logger) *discovery {
	return &discovery{life: life, links: ls, match: match, claim: claim, logger: logger, ifaces: map[string]*iface{}}
}

// sortedNames are the names of every interface, in order: collections are
// deterministic. Sorted once after interfaces came or went, not per add.
func (d *discovery) sortedNames() []string {
	if !d.sorted {
		d.names = slices.Sorted(maps.Keys(d.ifaces))
		d.sorted = true
	}
	return d.names
}

func (d *discovery) add(name string, exact bool) *iface {
	ifc := &iface{name: name, exact: exact}
	d.ifaces[name] = ifc
	d.sorted = false
	return ifc
}

// wantExact claims the interfaces named exactly, all or none, before any
// is attached, and attaches them: an instance that cannot have them all
// attaches nothing (its caller releases what was attached).
func (d *discovery) wantExact(names []string) error {
	indices := make([]int, len(names))
	for i, name := range names {
		index, err := d.links.index(name)
		if err != nil {
			return fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(names), err)
		}
		indices[i] = index
	}
	if err := d.claim.claimExact(names, indices); err != nil {
		return err
	}
	for i, name := range names {
		ifc := d.add(name, true)
		ifc.seen, ifc.claimed = indices[i], indices[i]
		if err := d.attach(ifc); err != nil {
			return fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(names), advise(err, hostInterfaces(d.links)))
		}
	}
	return nil
}

// attach attaches ifc, once the interface is claimed for it (claims.go):
// an interface matched by a pattern that another instance, or another name
// of this one, counts is skipped; one named exactly is refused with a
// *claimError.
func (d *discovery) attach(ifc *iface) error {
	index := ifc.seen
	if index == 0 {
		var err error
		if index, err = d.links.index(ifc.name); err != nil {
			return err
		}
		if index == 0 {
			return &bpf.InterfaceNotFoundError{Name: ifc.name}
		}
	}
	if err := d.claim.claimFor(ifc, index); err != nil {
		return d.refused(ifc, err)
	}
	// The name may have moved to a newer interface since its index was
	// resolved: that one is counted, if it is free to claim.
	err := d.life.attach(ifc, func(index int) error { return d.claim.claimFor(ifc, index) })
	if ce := (*claimError)(nil); errors.As(err, &ce) {
		return d.refused(ifc, err)
	}
	if err == nil {
		ifc.seen = ifc.index
	}
	return err
}

// refused handles a claim of ifc refused: a pattern's interface is
// skipped, quietly, and err is returned for an exactly named one.
func (d *discovery) refused(ifc *iface, err error) error {
	if ifc.exact {
		return err
	}
	if ifc.state != stateSkipped {
		d.logger.Debug("interface matches a pattern but is counted already: skipped", zap.String("interface", ifc.name),
			zap.Error(err))
	}
	d.life.move(ifc, evSkipped, nil)
	return nil
}

// retry attaches ifc after a failure or an appearance, and classifies what
// goes wrong: an interface that turns out not to exist is gone (and, if
// matched by a pattern, forgotten), a foreign program is reported as such.
func (d *discovery) retry(ifc *iface) {
	err := d.attach(ifc)
	if err == nil {
		return
	}
	if errors.Is(err, bpf.ErrInterfaceNotFound) {
		d.lost(ifc)
		return
	}
	var ce *claimError
	if errors.As(err, &ce) {
		d.life.move(ifc, evClaimed, fmt.Errorf("not counting %q: %w; it is counted here once the other lets it go",
			ifc.name, err))
		return
	}
	e := evAttachFailed
	var fe *bpf.ForeignProgramError
	if errors.As(err, &fe) {
		e = evForeign
	}
	d.life.move(ifc, e, fmt.Errorf("attaching to %q: %w", ifc.name, advise(err, hostInterfaces(d.links))))
}

// lost handles an interface that does not exist, whose attachment ended:
// one matched by a pattern is forgotten (if it comes back, it is a new
// interface with new series), one named exactly is gone until it returns.
func (d *discovery) lost(ifc *iface) {
	if !ifc.exact {
		if ifc.state == stateAttached || ifc.tap != nil {
			d.logger.Info("interface is gone: its series end", zap.String("interface", ifc.name))
		}
		delete(d.ifaces, ifc.name)
		d.sorted = false
		d.claim.release(ifc)
		d.life.move(ifc, evForgotten, nil)
		return
	}
	d.claim.release(ifc)
	ifc.seen = 0
	d.life.move(ifc, evGone, fmt.Errorf("interface %q is gone: it was deleted or moved to another network namespace; "+
		"counting resumes when it returns", ifc.name))
}

// apply applies news of a link.
func (d *discovery) apply(e links.Event) {
	switch e.Type {
	case links.Added:
		d.linkAdded(e.Link)
	case links.Deleted:
		d.linkDeleted(e.Link)
	}
}

// linkAdded handles news of a link that exists now: new, renamed, or
// changed in any way (RTM_NEWLINK comes for every change).
func (d *discovery) linkAdded(l links.Link) {
	names := l.Names()
	// Renamed away from the name we count it by: the name is gone.
	if ifc, ok := d.life.byIndex[l.Index]; ok && !slices.Contains(names, ifc.name) {
		d.life.end(ifc)
		d.lost(ifc)
	}
	for _, name := range names {
		ifc, ok := d.ifaces[name]
		switch {
		case !ok && name == l.Name && d.match.matchesPattern(name):
			ifc = d.add(name, false)
		case !ok:
			continue // not ours; patterns match interface names only
		case ifc.state == stateAttached && ifc.index == l.Index:
			continue // one of the many changes of a counted link
		case ifc.state == stateAttached:
			if !d.replaced(ifc, l.Index) {
				continue
			}
			ifc = d.ifaces[name]
		case ifc.state == stateSkipped:
			ifc.seen = l.Index
			continue // tried again at every collection
		case ifc.state == stateGone:
			d.logger.Info("interface is back: counting again", zap.String("interface", name))
		}
		ifc.seen = l.Index
		d.retry(ifc)
	}
}

// replaced handles another link, index, under the name of ifc, which is
// attached, and tells whether it is the name's link now: news of the old
// one can come late, after a collection found the new one and attached to
// it. The attachment ends; an exact name waits to be attached to the new
// link, a pattern's name is forgotten and wanted afresh.
func (d *discovery) replaced(ifc *iface, index int) bool {
	if cur, err := d.links.index(ifc.name); err == nil && cur != index {
		return false
	}
	d.life.end(ifc)
	if !ifc.exact {
		d.lost(ifc)
		d.add(ifc.name, false)
		return true
	}
	d.life.move(ifc, evReplaced, nil)
	return true
}

// linkDeleted handles a link that went: deleted, or moved to another
// network namespace, which deletes it from this one. A moved interface
// takes its programs along until they are detached here.
func (d *discovery) linkDeleted(l links.Link) {
	if ifc, ok := d.life.byIndex[l.Index]; ok {
		d.life.end(ifc)
		d.lost(ifc)
	}
	for _, name := range l.Names() {
		if ifc, ok := d.ifaces[name]; ok && ifc.state != stateAttached && ifc.state != stateGone {
			d.lost(ifc)
		}
	}
}

// prune brings the interfaces in line with a full listing, as far as what
// went is concerned: the interfaces it counts or wants that the listing no
// longer has, or has under another index, are gone. What the listing adds
// is applied link by link, as attaching may take a while per interface.
func (d *discovery) prune(ls []links.Link) {
	present := map[string]int{}
	for _, l := range ls {
		for _, n := range l.Names() {
			present[n] = l.Index
		}
	}
	for _, name := range slices.Clone(d.sortedNames()) {
		ifc := d.ifaces[name]
		index, ok := present[name]
		switch {
		case ifc.state == stateAttached && (!ok || index != ifc.index):
			d.life.end(ifc)
			d.lost(ifc)
		case !ok && ifc.state != stateAttached && ifc.state != stateGone:
			d.lost(ifc)
		case ok && ifc.state != stateAttached:
			ifc.seen = index
		}
	}
}

// stopped handles an attached interface whose programs stopped: its
// attachment ends, and the interface's index says which it was, a deleted
// interface or programs detached from outside.
func (d *discovery) stopped(ifc *iface) {
	old := ifc.index
	d.life.end(ifc)
	index, err := d.links.index(ifc.name)
	switch {
	case err == nil && index == 0:
		d.lost(ifc)
	case err == nil && index != old:
		// Deleted and already created again: a new interface, not a
		// program detached from outside.
		d.lost(ifc)
		d.linkAdded(links.Link{Index: index, Name: ifc.name})
	default:
		d.life.move(ifc, evDetached, fmt.Errorf("the programs counting %q were detached from outside the "+
			"collector (bpftool link detach; tc filter del or tc qdisc del on kernels before 6.6); it is attached again at the next collection, if nothing else took its place", ifc.name))
	}
}
