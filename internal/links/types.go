// Package links lists and follows the network interfaces of the caller's
// network namespace through rtnetlink, as an informer: a listing, then an
// event for every interface that appears, changes or goes. It knows
// nothing of what its users do with interfaces.
package links

import "errors"

// Link is a network interface: its index, name and alternative names
// (`ip link property add dev eth0 altname ...`).
type Link struct {
	Index    int
	Name     string
	AltNames []string
}

// Names returns the name and every alternative name.
func (l Link) Names() []string {
	return append([]string{l.Name}, l.AltNames...)
}

// EventType is what happened to an interface.
type EventType int

const (
	// Added means the interface exists, new or changed (RTM_NEWLINK comes
	// for every change: state, addresses, a name, a program attached).
	Added EventType = iota + 1
	// Deleted means the interface is gone, deleted or moved to another
	// network namespace (RTM_DELLINK).
	Deleted
)

// Event is one change of one interface.
type Event struct {
	Type EventType
	Link Link
}

// ErrDumpInterrupted means interfaces kept changing during every retry of a
// dump, whose result was never trusted.
var ErrDumpInterrupted = errors.New("interfaces changed during every listing")
