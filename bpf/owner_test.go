//go:build linux

package bpf

import "testing"

// TestOwnerAliveUntilClosed: an owner's token reads as alive while it
// holds its socket, and as gone once it closed it; two owners draw
// different tokens.
func TestOwnerAliveUntilClosed(t *testing.T) {
	a, err := newOwner()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := newOwner()
	if err != nil {
		t.Fatal(err)
	}
	if a.token == b.token {
		t.Fatalf("two owners drew token %q", a.token)
	}
	if !ownerAlive(a.token) || !ownerAlive(b.token) {
		t.Fatal("a live owner reads as gone")
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	if ownerAlive(b.token) {
		t.Error("a closed owner reads as alive")
	}
	if !ownerAlive(a.token) {
		t.Error("closing one owner made another read as gone")
	}
	if err := b.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestParseOwner: filter names carry a token, or a pid in versions before
// tokens; nothing else is an owner.
func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		pid   int
		ok    bool
	}{
		{"otelcol-xdp/0123456789abcdef", "0123456789abcdef", 0, true},
		{"otelcol-xdp/1234567890123456", "1234567890123456", 0, true},
		{"otelcol-xdp/4194304", "", 4194304, true},
		{"otelcol-xdp/1", "", 1, true},
		{"otelcol-xdp/0", "", 0, false},
		{"otelcol-xdp/", "", 0, false},
		{"otelcol-xdp/0123456789ABCDEF", "", 0, false},
		{"otelcol-xdp/0123456789abcde", "", 0, false},
		{"otelcol-xdp/-12", "", 0, false},
		{"someone-else/0123456789abcdef", "", 0, false},
		{"", "", 0, false},
	} {
		token, pid, ok := parseOwner(tc.name)
		if token != tc.token || pid != tc.pid || ok != tc.ok {
			t.Errorf("parseOwner(%q) = %q, %d, %v; want %q, %d, %v", tc.name, token, pid, ok, tc.token, tc.pid, tc.ok)
		}
	}
}
