package bpf_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestInterfaceNotFoundError: the error names the interface, is
// ErrInterfaceNotFound however deeply wrapped, and is no other sentinel of
// the package.
func TestInterfaceNotFoundError(t *testing.T) {
	var err error = &bpf.InterfaceNotFoundError{Name: "eth7"}
	if want := `interface "eth7" not found`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	wrapped := fmt.Errorf("count %q: %w", "eth7", err)
	if !errors.Is(wrapped, bpf.ErrInterfaceNotFound) {
		t.Errorf("%v is not ErrInterfaceNotFound", wrapped)
	}
	var nf *bpf.InterfaceNotFoundError
	if !errors.As(wrapped, &nf) || nf.Name != "eth7" {
		t.Errorf("errors.As(%v) = %v, want the error naming eth7", wrapped, nf)
	}
	for _, other := range []error{bpf.ErrNoNativeXDP, bpf.ErrNoXDPLink, bpf.ErrCapacity} {
		if errors.Is(err, other) {
			t.Errorf("%v is %v", err, other)
		}
	}
}

// TestForeignProgramError: the error names the interface and the program,
// or, when programs are attached in several modes at once
// (XDP_ATTACHED_MULTI) and the kernel reports no single id (0), says so
// rather than naming program 0.
func TestForeignProgramError(t *testing.T) {
	for _, tc := range []struct {
		err  *bpf.ForeignProgramError
		want string
	}{
		{&bpf.ForeignProgramError{Interface: "eth0", ProgramID: 42}, `interface "eth0" already has XDP program id 42 attached`},
		{&bpf.ForeignProgramError{Interface: "eth0", ProgramID: 0}, `interface "eth0" already has XDP programs attached in several modes`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", *tc.err, got, tc.want)
		}
		var fe *bpf.ForeignProgramError
		if !errors.As(fmt.Errorf("attaching: %w", tc.err), &fe) || fe != tc.err {
			t.Errorf("%+v: errors.As does not find it through a wrapping", *tc.err)
		}
	}
}

// TestDriverRefusedError: the error names the interface and the driver's
// errno, which stays reachable through Unwrap; MTUTooLarge blames the MTU
// only for a program without frags support on an MTU whose frames do not
// fit a page.
func TestDriverRefusedError(t *testing.T) {
	errno := errors.New("numerical result out of range")
	err := &bpf.DriverRefusedError{Interface: "veth0", MTU: 9000, Err: errno}
	if want := `driver of "veth0" refused native XDP: numerical result out of range`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !errors.Is(err, errno) {
		t.Errorf("%v does not unwrap to the driver's errno", err)
	}
	if errors.Is(err, bpf.ErrNoNativeXDP) {
		t.Errorf("%v is ErrNoNativeXDP: the driver has native XDP, it refused this program", err)
	}
	for _, tc := range []struct {
		mtu   int
		frags bool
		want  bool
	}{
		{1500, false, false},
		{3498, false, false}, // the largest MTU whose frames fit a page
		{3499, false, true},
		{9000, false, true},
		{9000, true, false}, // a frags-aware program takes multi-buffer frames
		{1500, true, false},
	} {
		e := &bpf.DriverRefusedError{Interface: "veth0", MTU: tc.mtu, Frags: tc.frags, Err: errno}
		if got := e.MTUTooLarge(); got != tc.want {
			t.Errorf("MTU %d, frags %v: MTUTooLarge() = %v, want %v", tc.mtu, tc.frags, got, tc.want)
		}
	}
}
