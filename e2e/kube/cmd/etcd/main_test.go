// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRunServesAndStops: run signals ready, answers /health as healthy, and
// returns nil when its context ends.
func TestRunServesAndStops(t *testing.T) {
	client := freePort(t)
	cfg := config(t.TempDir(), client, freePort(t))
	cfg.LogLevel = "fatal" // its listeners' errors as it closes them
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- run(ctx, cfg, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("not ready after a minute")
	}
	resp, err := http.Get("http://" + cfg.AdvertiseClientUrls[0].Host + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"health":"true"`) {
		t.Errorf("/health = %s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
