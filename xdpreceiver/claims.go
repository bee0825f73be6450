package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// claims records which receiver instance counts each interface.
//
// A claim is on the interface, not on a name: an interface has one name
// and may have alternative names, and one instance may name it by one
// while another's pattern matches another. So interfaces are claimed by
// their index in the collector's network namespace, resolved just before
// they are attached; a name that no interface has claims nothing until one
// appears. A claim lasts while the instance means to count the interface:
// through faults, which are retried, until the interface is gone or the
// instance shuts down.
//
// Exact names are claimed at start, all or none, with the interfaces they
// name; a second instance that names the same interface exactly, by any of
// its names, fails to start with an error naming both instances. The
// names an instance lists exactly also stay its own from start to
// shutdown, even while their interface is gone: a pattern never takes an
// interface under a name another instance lists exactly, so the instance
// that names it counts it again when it returns, whoever hears of it
// first.
//
// An interface reached through a pattern is claimed when it is attached:
// the first instance to claim it counts it, and the others skip it
// quietly (logged at debug level) and try again at every collection, since
// their configuration did not ask for that interface in particular. The
// same holds within one instance: a pattern that matches an interface the
// instance names exactly by an alternative name skips it.
//
// An instance that names an interface exactly fails to start while another
// instance counts it through a pattern. When such an interface appears
// only later (it was gone, or gets the name as an alternative name, while
// the other instance's pattern already counts it under its own name), the
// instance does not take it away: the other's series would end mid-way,
// and one instance would act on another's interfaces. It reports the
// conflict instead, as a fault naming both instances, in its status and
// its scrapes, and tries again at every collection: it counts the
// interface once the other lets it go (the interface goes, or the other
// instance shuts down). Either way the configuration asks two instances to
// count one interface, which only the user can settle.
//
// An interface has one XDP slot, so a second instance could never attach
// there, and at TC it would count every packet twice; the claims turn
// that into an error naming both instances, before any syscall, instead of
// a confusing "another program is attached" or silent double counting.
var claims = struct {
	mu sync.Mutex
	// exact holds the names each instance lists exactly.
	exact map[string]*claimant
	// held holds the interfaces claimed, by index.
	held map[int]holding
}{exact: map[string]*claimant{}, held: map[int]holding{}}

// claimant is one receiver instance. Claims are keyed by its address, not
// by its component ID, so that two instances that share an ID (as in tests)
// can never release each other's interfaces.
type claimant struct {
	id component.ID
}

// holding is an interface's claim: the instance and the name it counts the
// interface by.
type holding struct {
	c     *claimant
	name  string
	exact bool
}

// claimError is a claim refused: another instance, or another name of the
// same instance, has the interface.
type claimError struct {
	name   string // the name refused
	by     *claimant
	holder holding
}

func (e *claimError) Error() string {
	if e.holder.c == e.by {
		return fmt.Sprintf("interfaces %q and %q are one interface, listed twice in receiver %q: list it once",
			e.holder.name, e.name, e.by.id.String())
	}
	other := e.holder.c.id.String()
	as := ""
	if e.holder.name != e.name {
		as = fmt.Sprintf(" as %q", e.holder.name)
	}
	return fmt.Sprintf("interface %q is already counted by receiver %q%s: an interface can belong to one xdp receiver only; "+
		"remove it from %q or from %q", e.name, other, as, other, e.by.id.String())
}

// claimExact claims for c, all or none, the names it lists exactly and the
// interfaces that they name now: indices[i] is the index of names[i], or 0
// when no interface has the name yet.
func (c *claimant) claimExact(names []string, indices []int) error {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	mine := map[int]string{}
	for i, name := range names {
		if other, taken := claims.exact[name]; taken && other != c {
			return &claimError{name: name, by: c, holder: holding{c: other, name: name, exact: true}}
		}
		index := indices[i]
		if index == 0 {
			continue
		}
		if h, held := claims.held[index]; held && (h.c != c || h.name != name) {
			return &claimError{name: name, by: c, holder: h}
		}
		if first, dup := mine[index]; dup {
			return &claimError{name: name, by: c, holder: holding{c: c, name: first, exact: true}}
		}
		mine[index] = name
	}
	for i, name := range names {
		claims.exact[name] = c
		if indices[i] != 0 {
			claims.held[indices[i]] = holding{c: c, name: name, exact: true}
		}
	}
	return nil
}

// claim claims the interface with index for c, which counts it by name,
// exactly or through a pattern. It fails, and says who has it, when
// another instance or another of c's names holds the interface, or, for a
// pattern's match, when another instance lists name exactly.
func (c *claimant) claim(index int, name string, exact bool) error {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	if other, taken := claims.exact[name]; taken && other != c && !exact {
		return &claimError{name: name, by: c, holder: holding{c: other, name: name, exact: true}}
	}
	if h, held := claims.held[index]; held && (h.c != c || h.name != name) {
		return &claimError{name: name, by: c, holder: h}
	}
	claims.held[index] = holding{c: c, name: name, exact: exact}
	return nil
}

// unclaim releases the interface with index if c holds it, and leaves it
// alone otherwise.
func (c *claimant) unclaim(index int) {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	if claims.held[index].c == c {
		delete(claims.held, index)
	}
}

// releaseAll releases every name and interface that c holds.
func (c *claimant) releaseAll() {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	for name, o := range claims.exact {
		if o == c {
			delete(claims.exact, name)
		}
	}
	for index, h := range claims.held {
		if h.c == c {
			delete(claims.held, index)
		}
	}
}

// claimFor claims the interface with index for ifc, and releases the one
// claimed for it before, a predecessor under the same name.
func (c *claimant) claimFor(ifc *iface, index int) error {
	if ifc.claimed == index {
		return nil
	}
	c.release(ifc)
	if err := c.claim(index, ifc.name, ifc.exact); err != nil {
		return err
	}
	ifc.claimed = index
	return nil
}

// release releases the interface claimed for ifc: it is gone.
func (c *claimant) release(ifc *iface) {
	if ifc.claimed != 0 {
		c.unclaim(ifc.claimed)
		ifc.claimed = 0
	}
}
