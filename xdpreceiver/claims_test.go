package xdpreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

// TestClaimant: claimExact takes every name and interface or none, and a
// claimant may claim its own again; an interface is refused to another
// instance whatever name it gives, and to a second name of the same one;
// a pattern's claim is refused a name another instance lists exactly; a
// claimant releases only what it holds, even when another instance has the
// same ID.
func TestClaimant(t *testing.T) {
	a := &claimant{id: component.MustNewIDWithName("xdp", "a")}
	b := &claimant{id: component.MustNewIDWithName("xdp", "b")}
	twin := &claimant{id: a.id}
	t.Cleanup(func() {
		for _, c := range []*claimant{a, b, twin} {
			c.releaseAll()
		}
	})
	// Indices far above any test's fake interfaces.
	const i0, i1, i2 = 1 << 20, 1<<20 + 1, 1<<20 + 2
	holder := func(index int) holding {
		claims.mu.Lock()
		defer claims.mu.Unlock()
		return claims.held[index]
	}
	exactOwner := func(name string) *claimant {
		claims.mu.Lock()
		defer claims.mu.Unlock()
		return claims.exact[name]
	}

	require.NoError(t, a.claimExact([]string{"claimtest0", "claimtest1", "claimtest9"}, []int{i0, i1, 0}),
		"a name no interface has yet is claimed too")
	require.NoError(t, a.claimExact([]string{"claimtest1"}, []int{i1}), "a claimant's own name again")
	require.EqualError(t, b.claimExact([]string{"claimtest2", "claimtest1"}, []int{i2, i1}),
		`interface "claimtest1" is already counted by receiver "xdp/a": an interface can belong to one xdp receiver only; remove it from "xdp/a" or from "xdp/b"`)
	require.EqualError(t, b.claimExact([]string{"claimtest2", "claimtest1-alt"}, []int{i2, i1}),
		`interface "claimtest1-alt" is already counted by receiver "xdp/a" as "claimtest1": an interface can belong to one xdp receiver only; remove it from "xdp/a" or from "xdp/b"`,
		"another name of the same interface")
	require.EqualError(t, b.claimExact([]string{"claimtest2", "claimtest2-alt"}, []int{i2, i2}),
		`interfaces "claimtest2" and "claimtest2-alt" are one interface, listed twice in receiver "xdp/b": list it once`)
	assert.Equal(t, holding{}, holder(i2), "a refused claim takes none of its interfaces")
	assert.Nil(t, exactOwner("claimtest2"), "nor of its names")

	var ce *claimError
	require.ErrorAs(t, b.claim(i0, "claimtest0", false), &ce)
	assert.Same(t, a, ce.holder.c)
	require.Error(t, twin.claim(i0, "claimtest0", false), "an instance with the same ID is another instance")
	require.ErrorAs(t, b.claim(i2, "claimtest9", false), &ce, "a pattern never takes a name another instance lists exactly")
	assert.Equal(t, holding{c: a, name: "claimtest9", exact: true}, ce.holder)
	require.NoError(t, a.claim(i2, "claimtest9", true), "the instance that lists it takes it when it appears")
	require.ErrorAs(t, a.claim(i2, "claimtest2", false), &ce, "a pattern of the same instance is refused an interface it names exactly")
	assert.Same(t, a, ce.holder.c)

	twin.unclaim(i0)
	twin.releaseAll()
	assert.Same(t, a, holder(i0).c, "releasing what another holds leaves it")
	assert.Same(t, a, exactOwner("claimtest0"))

	a.unclaim(i0)
	assert.Equal(t, holding{}, holder(i0))
	require.NoError(t, b.claim(i0, "claimtest0-new", false), "a released interface is free")
	a.unclaim(i0)
	assert.Same(t, b, holder(i0).c, "an unclaim of an interface it no longer holds leaves it")

	a.releaseAll()
	assert.Nil(t, exactOwner("claimtest1"))
	assert.Equal(t, holding{}, holder(i1))
	assert.Same(t, b, holder(i0).c)
}

// newNamedScraper is a scraper of the fake kernel with the given instance
// name and logger, not started, shut down when the test ends.
func newNamedScraper(t *testing.T, k *fakeKernel, clk *fakeClock, name string, logger *zap.Logger, ifaces ...string) *xdpScraper {
	t.Helper()
	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = component.MustNewIDWithName("xdp", name)
	if logger != nil {
		set.Logger = logger
	}
	cfg := testConfig(ifaces...)
	require.NoError(t, cfg.Validate())
	s := newScraper(cfg, set, k.kernel(), clk.now)
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

// stateOf is where the interface named name stands in s, or "absent".
func stateOf(s *xdpScraper, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ifc, ok := s.found.ifaces[name]; ok {
		return ifc.state.String()
	}
	return "absent"
}

// TestClaimsAltNameAndPattern: an instance that names an interface by an
// alternative name and another whose pattern matches its name claim one
// interface, which exactly one of them counts: the pattern's instance
// skips it quietly, with a debug log naming the other; started the other
// way round, the exact name's instance fails to start, naming both.
func TestClaimsAltNameAndPattern(t *testing.T) {
	t.Run("exact first", func(t *testing.T) {
		k, clk := newFakeKernel(), newFakeClock()
		k.altNames["uplink"] = "eth1"
		core, logs := observer.New(zap.DebugLevel)
		exact := newNamedScraper(t, k, clk, "a", nil, "uplink")
		pattern := newNamedScraper(t, k, clk, "b", zap.New(core), "eth*")
		require.NoError(t, startListed(t, exact, newStatusHost()))
		host := newStatusHost()
		require.NoError(t, startListed(t, pattern, host))
		assert.Equal(t, []string{"uplink", "eth0", "eth2"}, k.attaches, "eth1 once, by its alternative name")
		assert.Equal(t, "skipped", stateOf(pattern, "eth1"))

		skipped := logs.FilterMessageSnippet("counted already").FilterField(zap.String("interface", "eth1"))
		require.Equal(t, 1, skipped.Len(), "one debug log")
		assert.Equal(t, zap.DebugLevel, skipped.All()[0].Level)
		assert.Contains(t, skipped.All()[0].ContextMap()["error"], `already counted by receiver "xdp/a" as "uplink"`)
		_, err := pattern.scrape(t.Context())
		require.NoError(t, err)
		assert.Empty(t, host.statuses(), "skipping another instance's interface is no fault")
		assert.Equal(t, 3, k.attachCount(), "and is not retried into an attach")
		assert.Equal(t, 1, skipped.Len(), "nor logged again")
	})
	t.Run("pattern first", func(t *testing.T) {
		k, clk := newFakeKernel(), newFakeClock()
		k.altNames["uplink"] = "eth1"
		pattern := newNamedScraper(t, k, clk, "b", nil, "eth*")
		exact := newNamedScraper(t, k, clk, "a", nil, "lo", "uplink")
		require.NoError(t, startListed(t, pattern, newStatusHost()))
		require.EqualError(t, startListed(t, exact, newStatusHost()),
			`interface "uplink" is already counted by receiver "xdp/b" as "eth1": an interface can belong to one xdp receiver only; `+
				`remove it from "xdp/b" or from "xdp/a"`)
		assert.ElementsMatch(t, []string{"eth0", "eth1", "eth2"}, k.attaches, "the refused instance attached nothing, not even lo")
	})
	t.Run("twice in one instance", func(t *testing.T) {
		k, clk := newFakeKernel(), newFakeClock()
		k.altNames["uplink"] = "eth1"
		both := newNamedScraper(t, k, clk, "a", nil, "eth1", "uplink")
		require.EqualError(t, startListed(t, both, newStatusHost()),
			`interfaces "eth1" and "uplink" are one interface, listed twice in receiver "xdp/a": list it once`)
		assert.Empty(t, k.attaches)

		// A pattern that matches the interface an exact entry names by an
		// alternative name skips it: it is counted once.
		mixed := newNamedScraper(t, k, clk, "a", nil, "uplink", "eth*")
		require.NoError(t, startListed(t, mixed, newStatusHost()))
		assert.Equal(t, []string{"uplink", "eth0", "eth2"}, k.attaches)
		assert.Equal(t, "skipped", stateOf(mixed, "eth1"))
	})
}

// TestClaimsExactNameAppearsOnCountedInterface: an interface an instance
// names exactly, by an alternative name, goes; it comes back without that
// name, and another instance's pattern counts it; then it gets the name
// again. The instance that names it does not take it away: it reports the
// conflict, naming both instances, as a fault of its scrapes and status,
// and counts the interface as soon as the other instance lets it go.
func TestClaimsExactNameAppearsOnCountedInterface(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	k.altNames["uplink"] = "eth1"
	exact := newNamedScraper(t, k, clk, "a", nil, "uplink")
	pattern := newNamedScraper(t, k, clk, "b", nil, "eth*")
	hostA := newStatusHost()
	require.NoError(t, startListed(t, exact, hostA))
	require.NoError(t, startListed(t, pattern, newStatusHost()))

	k.delLink("eth1")
	eventually(t, func() bool { return stateOf(exact, "uplink") == "gone" && stateOf(pattern, "eth1") == "absent" }, "eth1 went")
	k.mu.Lock()
	delete(k.altNames, "uplink")
	k.mu.Unlock()
	k.addLink("eth1")
	eventually(t, func() bool { return stateOf(pattern, "eth1") == "attached" }, "the pattern counts the new eth1")

	k.mu.Lock()
	k.altNames["uplink"] = "eth1"
	k.mu.Unlock()
	k.addLink("eth1") // news of the alternative name
	eventually(t, func() bool { return stateOf(exact, "uplink") == "faulted" }, "the exact name is back, on a counted interface")
	want := `not counting "uplink": interface "uplink" is already counted by receiver "xdp/b" as "eth1": an interface can belong ` +
		`to one xdp receiver only; remove it from "xdp/b" or from "xdp/a"; it is counted here once the other lets it go`
	attaches := k.attachCount()
	for range 2 {
		_, err := exact.scrape(t.Context())
		require.EqualError(t, err, want, "reported at every collection, and tried again")
		_, err = pattern.scrape(t.Context())
		require.NoError(t, err, "the pattern's instance counts on")
	}
	assert.Equal(t, componentstatus.StatusRecoverableError, hostA.last().Status())
	assert.Equal(t, attaches, k.attachCount(), "nothing attached meanwhile")

	require.NoError(t, pattern.shutdown(t.Context()))
	_, err := exact.scrape(t.Context())
	require.NoError(t, err, "the other let it go: counted here")
	assert.Equal(t, "attached", stateOf(exact, "uplink"))
	assert.Equal(t, "uplink", k.attaches[len(k.attaches)-1])
	assert.Equal(t, componentstatus.StatusOK, hostA.last().Status())
}
