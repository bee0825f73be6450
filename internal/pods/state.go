//go:build linux

package pods

import (
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeKey names one route the way the kernel tells routes apart, so that
// an RTM_DELROUTE removes exactly the route it names.
type routeKey struct {
	table, priority, tos, oif int
	dst                       netip.Addr
}

// fdbKey names one forwarding database entry of a bridge.
type fdbKey struct {
	bridge, vlan int
	mac          string
}

// neighKey names one neighbor entry.
type neighKey struct {
	link int
	ip   netip.Addr
}

// linkInfo is what the answers need of an interface.
type linkInfo struct {
	master int
	bridge bool
	mac    string
}

// state is the host namespace's routes, bridge forwarding databases,
// neighbors and interfaces as far as the answers need them, and the
// answers last sent. It is kept up to date from netlink messages; an
// answer is computed from it alone, never with a syscall.
type state struct {
	links  map[int]linkInfo
	routes map[int]map[routeKey]struct{} // by output interface
	fdb    map[fdbKey]int                // → port
	ports  map[int]map[fdbKey]struct{}   // port → its entries
	neighs map[neighKey]string           // → MAC
	ips    map[linkMAC]map[netip.Addr]struct{}
	sent   map[int][]netip.Addr
}

// linkMAC is a MAC address on an interface, for the neighbor entries that
// resolve to it.
type linkMAC struct {
	link int
	mac  string
}

func newState() *state {
	s := &state{sent: map[int][]netip.Addr{}}
	s.reset()
	return s
}

// reset empties everything but the answers sent, before a relisting.
func (s *state) reset() {
	s.links = map[int]linkInfo{}
	s.routes = map[int]map[routeKey]struct{}{}
	s.fdb = map[fdbKey]int{}
	s.ports = map[int]map[fdbKey]struct{}{}
	s.neighs = map[neighKey]string{}
	s.ips = map[linkMAC]map[netip.Addr]struct{}{}
}

// put and drop keep a map of sets.
func put[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	if m[k] == nil {
		m[k] = map[V]struct{}{}
	}
	m[k][v] = struct{}{}
}

func drop[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	delete(m[k], v)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// route applies a route added (add) or deleted and returns the interface
// whose answer it may change.
func (s *state) route(r *netlink.Route, add bool) []int {
	ip, oif, ok := podRoute(r)
	if !ok {
		return nil
	}
	k := routeKey{table: r.Table, priority: r.Priority, tos: r.Tos, oif: oif, dst: ip}
	if add {
		put(s.routes, oif, k)
	} else {
		drop(s.routes, oif, k)
	}
	return []int{oif}
}

// neigh applies a neighbor or forwarding database entry added or deleted
// and returns the interfaces whose answers it may change.
func (s *state) neigh(n *netlink.Neigh, add bool) []int {
	if n.Family == unix.AF_BRIDGE {
		return s.fdbEntry(n, add)
	}
	k := neighKey{link: n.LinkIndex}
	if a, ok := netip.AddrFromSlice(n.IP); ok {
		k.ip = a.Unmap()
	}
	old, had := s.neighs[k]
	if had {
		delete(s.neighs, k)
		drop(s.ips, linkMAC{k.link, old}, k.ip)
	}
	// An update may turn a usable entry into a FAILED one: that removes it.
	link, ip, mac, ok := neighMAC(n)
	if ok && add {
		s.neighs[neighKey{link, ip}] = mac
		put(s.ips, linkMAC{link, mac}, ip)
	}
	if (!had && (!ok || !add)) || (had && ok && add && old == mac) || !s.links[n.LinkIndex].bridge {
		// Nothing changed that an answer takes: most neighbors are
		// those of interfaces that are no bridge.
		return nil
	}
	// Which port the MAC sits behind may be learnt before or after the
	// neighbor: every port of the bridge is asked again, from memory.
	return s.portsOf(n.LinkIndex)
}

func (s *state) fdbEntry(n *netlink.Neigh, add bool) []int {
	bridge, port, mac, ok := fdbPort(n)
	if !ok {
		return nil
	}
	k := fdbKey{bridge: bridge, vlan: n.Vlan, mac: mac}
	old, had := s.fdb[k]
	if had {
		delete(s.fdb, k)
		drop(s.ports, old, k)
	}
	if add {
		s.fdb[k] = port
		put(s.ports, port, k)
	} else if had && old != port {
		// A deletion names the port the entry was on; one for another
		// port than the entry's now deletes nothing.
		s.fdb[k] = old
		put(s.ports, old, k)
		return nil
	}
	if had && old != port {
		// The MAC moved from one port to another.
		return []int{old, port}
	}
	return []int{port}
}

// portsOf returns the ports of a bridge.
func (s *state) portsOf(bridge int) []int {
	var out []int
	for i, l := range s.links {
		if l.master == bridge {
			out = append(out, i)
		}
	}
	return out
}

// link applies an interface added or changed (add), or deleted, and
// returns the interfaces whose answers it may change.
func (s *state) link(index int, l netlink.Link, add bool) []int {
	a := *l.Attrs()
	// A deletion's message may carry no attributes beyond the index.
	a.Index = index
	old, had := s.links[a.Index]
	affected := []int{a.Index}
	if old.bridge {
		affected = append(affected, s.portsOf(a.Index)...)
	}
	if !add || a.Flags&unix.IFF_UP == 0 {
		// The kernel flushes an interface's IPv4 routes when it goes down
		// or away and says nothing of it; its IPv6 routes go too.
		delete(s.routes, a.Index)
	}
	if !add {
		delete(s.links, a.Index)
		for k, port := range s.fdb {
			if port == a.Index || k.bridge == a.Index {
				delete(s.fdb, k)
				drop(s.ports, port, k)
			}
		}
		for k, mac := range s.neighs {
			if k.link == a.Index {
				delete(s.neighs, k)
				drop(s.ips, linkMAC{k.link, mac}, k.ip)
			}
		}
		return affected
	}
	info := linkInfo{master: a.MasterIndex, bridge: l.Type() == "bridge", mac: string(a.HardwareAddr)}
	s.links[a.Index] = info
	if had && old == info {
		return affected
	}
	if info.bridge {
		affected = append(affected, s.portsOf(a.Index)...)
	}
	return affected
}

// answer computes the pod IPs of the interface with index index, sorted
// IPv4 first.
func (s *state) answer(index int) []netip.Addr {
	var ips []netip.Addr
	for k := range s.routes[index] {
		ips = append(ips, k.dst)
	}
	if l, ok := s.links[index]; ok && l.master > 0 && s.links[l.master].bridge {
		for k := range s.ports[index] {
			if k.bridge != l.master || k.mac == l.mac {
				continue
			}
			for ip := range s.ips[linkMAC{l.master, k.mac}] {
				ips = append(ips, ip)
			}
		}
	}
	slices.SortFunc(ips, compareAddrs)
	return slices.Compact(ips)
}

// compareAddrs orders IPv4 before IPv6, then by address.
func compareAddrs(a, b netip.Addr) int {
	if a.Is4() != b.Is4() {
		if a.Is4() {
			return -1
		}
		return 1
	}
	return a.Compare(b)
}

// changes returns an Event for each of the interfaces whose answer differs
// from the one sent last, and takes the new answers as sent.
func (s *state) changes(indexes []int) []Event {
	var out []Event
	for _, i := range indexes {
		ips := s.answer(i)
		if slices.Equal(ips, s.sent[i]) {
			continue
		}
		if len(ips) == 0 {
			delete(s.sent, i)
		} else {
			s.sent[i] = ips
		}
		out = append(out, Event{Index: i, IPs: ips})
	}
	return out
}

// all returns every interface with an answer sent or one to send: those
// a relisting may change.
func (s *state) all() []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for i := range s.sent {
		add(i)
	}
	for i := range s.routes {
		add(i)
	}
	for i := range s.ports {
		add(i)
	}
	slices.Sort(out)
	return out
}
