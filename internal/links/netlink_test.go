//go:build linux

package links_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestListRetriesInterruptedDumps lists interfaces while others come and
// go, among 64 that stay (a dump of that many takes several messages,
// between which a change interrupts it): raw dumps come back interrupted
// (NLM_F_DUMP_INTR), and List, which retries them, never fails.
func TestListRetriesInterruptedDumps(t *testing.T) {
	xdptest.NewPairs(t, 64).Churn(t)
	interrupted, lists := 0, 0
	for deadline := time.Now().Add(5 * time.Second); interrupted < 3 && time.Now().Before(deadline); {
		if _, err := netlink.LinkList(); errors.Is(err, netlink.ErrDumpInterrupted) {
			interrupted++
		}
		if _, err := links.List(); err != nil {
			t.Fatalf("List while interfaces change: %v", err)
		}
		lists++
	}
	if interrupted == 0 {
		t.Fatalf("no dump was interrupted in %d listings: the test proves nothing", lists)
	}
	t.Logf("%d raw dumps interrupted; %d listings, none failed", interrupted, lists)
}

// TestIndexResolvesAltNames: Index finds an interface by an alternative
// name too, and says 0 for a name no interface has.
func TestIndexResolvesAltNames(t *testing.T) {
	p := xdptest.NewPair(t)
	l, err := netlink.LinkByName(p.Host)
	if err != nil {
		t.Fatal(err)
	}
	alt := p.Host + "-alt"
	if err := netlink.LinkAddAltName(l, alt); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{p.Host: p.HostIndex, alt: p.HostIndex, "xdpnosuch9": 0} {
		if got, err := links.Index(name); err != nil || got != want {
			t.Errorf("Index(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	ls, err := links.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range ls {
		if got.Index == p.HostIndex && (got.Name != p.Host || len(got.AltNames) != 1 || got.AltNames[0] != alt) {
			t.Errorf("listed %+v, want %q with alternative name %q", got, p.Host, alt)
		}
	}
}
