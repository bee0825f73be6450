//go:build linux

package bpf

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// xdpAttachedMulti is XDP_ATTACHED_MULTI of linux/if_link.h.
const xdpAttachedMulti = 4

// TestSlotTakenInSeveralModes: with programs in more than one mode
// (XDP_ATTACHED_MULTI, such as driver and offload) the kernel reports no
// single program id. The slot is taken all the same.
func TestSlotTakenInSeveralModes(t *testing.T) {
	multi := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth9", Index: 9,
		Xdp: &netlink.LinkXdp{Attached: true, AttachMode: xdpAttachedMulti}}}
	err := checkSlotFree(multi)
	var fe *ForeignProgramError
	if !errors.As(err, &fe) || fe.Interface != "eth9" || fe.ProgramID != 0 {
		t.Fatalf("got %v, want a ForeignProgramError for eth9 with no single id", err)
	}
	if want := `interface "eth9" already has XDP programs attached in several modes`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	free := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth8", Index: 8, Xdp: &netlink.LinkXdp{}}}
	if err := checkSlotFree(free); err != nil {
		t.Errorf("a free slot: %v", err)
	}
}
