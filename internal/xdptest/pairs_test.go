//go:build linux

package xdptest

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"testing"
)

// TestNewPairs: a group's host ends are its Prefix and a number, and the
// pattern Prefix+"*" matches them and no other interface of the host,
// another group's included; Add numbers on; every pair's peer injects.
func TestNewPairs(t *testing.T) {
	ps, other := NewPairs(t, 3), NewPairs(t, 1)
	if !regexp.MustCompile(`^xg[0-9a-f]{6}v$`).MatchString(ps.Prefix) || ps.Prefix == other.Prefix {
		t.Fatalf("prefixes %q and %q: want two different xg<id>v", ps.Prefix, other.Prefix)
	}
	ps.Add(t, 1)
	var want []string
	for i, p := range ps.Pairs {
		want = append(want, fmt.Sprintf("%s%d", ps.Prefix, i))
		if !IsTestInterface(p.Host) || linkByName(t, p.Host).Attrs().Index != p.HostIndex {
			t.Errorf("%q: not a test interface, or not index %d", p.Host, p.HostIndex)
		}
		requireNoLink(t, p.Peer)
	}
	var matched []string
	for _, l := range dumpLinks(t) {
		if ok, _ := path.Match(ps.Prefix+"*", l.Attrs().Name); ok {
			matched = append(matched, l.Attrs().Name)
		}
	}
	slices.Sort(matched)
	if !slices.Equal(matched, want) {
		t.Errorf("%s* matches %v, want %v", ps.Prefix, matched, want)
	}
	for _, p := range ps.Pairs {
		before := received(t, p, false)
		p.Inject(t, Frames()[0].Data)
		requireReceived(t, p, false, before, 1)
	}
}

// TestPairsDelete: Delete deletes every pair while the test runs, and is
// safe twice; a group is gone once its test ends.
func TestPairsDelete(t *testing.T) {
	ps := NewPairs(t, 2)
	ps.Delete(t)
	ps.Delete(t)
	for _, p := range ps.Pairs {
		requireNoLink(t, p.Host)
	}
	var later *Pairs
	t.Run("make", func(t *testing.T) { later = NewPairs(t, 2) })
	for _, p := range later.Pairs {
		requireNoLink(t, p.Host)
	}
}
