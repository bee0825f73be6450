// Package pods (internal/pods) tells which pod each interface of the host
// network namespace belongs to, from routes, neighbors and bridge FDBs.
//
// It reads what every CNI leaves in the host namespace, with rtnetlink
// dumps and subscriptions, which need no capability: a routed CNI's host
// route to the pod through the pod's veth (Calico, AWS VPC CNI, kindnet and
// ptp, Azure CNI), or a bridge CNI's forwarding database entry for the
// pod's MAC behind the veth joined with the bridge's neighbor entry for
// the pod's IP (the bridge plugin, flannel's cni0). It lists once and then
// follows messages; an answer is computed from memory, so nothing costs a
// syscall per interface.
package pods

import "net/netip"

// Event says which pod IPs the interface with index Index belongs to now:
// IPs empty means it belongs to no pod (any more). Events come for every
// interface whose answer changed, and for every interface with a pod in the
// initial listing.
type Event struct {
	Index int
	IPs   []netip.Addr // sorted: IPv4 before IPv6, then by address
}
