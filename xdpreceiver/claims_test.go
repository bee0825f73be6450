package xdpreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// TestDuplicateInterfaceAcrossInstances: a second instance that names an
// interface the first counts fails to start, attaches nothing and leaves
// the first's interfaces alone, even when it is shut down; once the first
// shuts down, it starts.
func TestDuplicateInterfaceAcrossInstances(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	edge := newTestScraper(t, k, clk, component.MustNewIDWithName("xdp", "edge"), "eth0", "eth1")
	backend := newTestScraper(t, k, clk, component.MustNewIDWithName("xdp", "backend"), "eth2", "eth1")
	require.NoError(t, startListed(t, edge, newStatusHost()))

	err := startListed(t, backend, newStatusHost())
	require.EqualError(t, err, `interface "eth1" is already counted by receiver "xdp/edge": an interface can belong to one xdp receiver only; remove it from "xdp/edge" or from "xdp/backend"`)
	assert.Equal(t, []string{"eth0", "eth1"}, k.attaches, "the refused instance attached nothing, not even eth2")
	assert.Equal(t, 0, k.closes("eth1"), "the refused instance left edge's eth1 alone")

	// A refused instance's shutdown releases nothing of edge's.
	require.NoError(t, backend.shutdown(t.Context()))
	err = startListed(t, backend, newStatusHost())
	require.ErrorContains(t, err, `interface "eth1" is already counted by receiver "xdp/edge"`)

	require.NoError(t, edge.shutdown(t.Context()))
	require.NoError(t, startListed(t, backend, newStatusHost()), "eth1 is free once edge shuts down")
}

// TestPatternClaimsAcrossInstances: an interface that two instances match
// is counted by the first that claims it, and by the other once it is
// free; an exact name is refused at start while a pattern holds it.
func TestPatternClaimsAcrossInstances(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	exact := newPatternScraper(t, k, clk, component.MustNewIDWithName("xdp", "exact"), newStatusHost(), []string{"eth1"}, nil)
	hostB := newStatusHost()
	pattern := newPatternScraper(t, k, clk, component.MustNewIDWithName("xdp", "pattern"), hostB, []string{"eth*"}, nil)
	assert.ElementsMatch(t, []string{"eth1", "eth0", "eth2"}, k.attaches, "eth1 once, by the first instance")
	_, err := pattern.scrape(t.Context())
	require.NoError(t, err)
	assert.Empty(t, hostB.statuses(), "skipping another instance's interface is no fault")

	require.NoError(t, exact.shutdown(t.Context()))
	_, err = pattern.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 4, k.attachCount(), "eth1 free: the pattern's instance takes it")

	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = component.MustNewIDWithName("xdp", "late")
	late := newScraper(testConfig("eth1"), set, k.kernel(), clk.now)
	require.EqualError(t, startListed(t, late, newStatusHost()),
		`interface "eth1" is already counted by receiver "xdp/pattern": an interface can belong to one xdp receiver only; remove it from "xdp/pattern" or from "xdp/late"`)
}

// TestClaimant: claim takes every name or none, and a claimant may claim
// its own names again; tryClaim names the instance that holds a name; a
// claimant releases only what it holds, even when another instance has
// the same ID.
func TestClaimant(t *testing.T) {
	a := &claimant{id: component.MustNewIDWithName("xdp", "a")}
	b := &claimant{id: component.MustNewIDWithName("xdp", "b")}
	twin := &claimant{id: a.id}
	names := []string{"claimtest0", "claimtest1", "claimtest2"}
	t.Cleanup(func() {
		for _, c := range []*claimant{a, b, twin} {
			c.release(names)
		}
	})
	owner := func(name string) *claimant {
		claims.mu.Lock()
		defer claims.mu.Unlock()
		return claims.owners[name]
	}

	require.NoError(t, a.claim(names[:2]))
	require.NoError(t, a.claim(names[1:2]), "a claimant's own name again")
	require.EqualError(t, b.claim([]string{names[2], names[1]}),
		`interface "claimtest1" is already counted by receiver "xdp/a": an interface can belong to one xdp receiver only; remove it from "xdp/a" or from "xdp/b"`)
	assert.Nil(t, owner(names[2]), "a refused claim takes none of its names")

	other, ok := b.tryClaim(names[0])
	assert.False(t, ok)
	assert.Equal(t, a.id, other)
	_, ok = twin.tryClaim(names[0])
	assert.False(t, ok, "an instance with the same ID is another instance")
	twin.release(names)
	assert.Same(t, a, owner(names[0]), "releasing names another holds leaves them")
	assert.Same(t, a, owner(names[1]))

	a.release(names[:1])
	assert.Nil(t, owner(names[0]))
	_, ok = b.tryClaim(names[0])
	assert.True(t, ok, "a released name is free")
	assert.Same(t, b, owner(names[0]))
	a.release(names[:1])
	assert.Same(t, b, owner(names[0]), "a release of a name it no longer holds leaves it")
}
