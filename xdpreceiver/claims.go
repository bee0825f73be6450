package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// claims records which receiver instance counts each interface.
//
// With patterns, two instances may match the same interface. Exact names
// are claimed at start, all or none, and a second instance naming the same
// interface exactly fails to start, as before. An interface reached through
// a pattern is claimed when it is attached and released when it goes: the
// first instance to claim it counts it, and the others skip it quietly
// (logged at debug level), since their configuration did not ask for that
// interface in particular. An instance that names an interface exactly
// fails to start while another instance counts it through a pattern. An
// interface has one XDP slot, so a second instance could never attach; the
// registry turns that into an error naming both instances, before any
// syscall, instead of a confusing "another program is attached".
var claims = struct {
	mu     sync.Mutex
	owners map[string]*claimant
}{owners: map[string]*claimant{}}

// claimant is one receiver instance. Claims are keyed by its address, not
// by its component ID, so that two instances that share an ID (as in tests)
// can never release each other's interfaces.
type claimant struct {
	id component.ID
}

// claim claims every name for c, or none of them.
func (c *claimant) claim(names []string) error {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	for _, name := range names {
		if other, taken := claims.owners[name]; taken && other != c {
			return fmt.Errorf("interface %q is already counted by receiver %q: an interface can belong to one xdp receiver only; "+
				"remove it from %q or from %q", name, other.id.String(), other.id.String(), c.id.String())
		}
	}
	for _, name := range names {
		claims.owners[name] = c
	}
	return nil
}

// release releases the names that c holds and leaves the others alone.
func (c *claimant) release(names []string) {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	for _, name := range names {
		if claims.owners[name] == c {
			delete(claims.owners, name)
		}
	}
}

// tryClaim claims name for c unless another instance holds it; it returns
// that instance's ID when it does.
func (c *claimant) tryClaim(name string) (other component.ID, ok bool) {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	if o, taken := claims.owners[name]; taken && o != c {
		return o.id, false
	}
	claims.owners[name] = c
	return component.ID{}, true
}
