// SPDX-License-Identifier: Apache-2.0

// Command etcd runs one etcd member inside this process, for the API server
// of TestKubeAttributes (e2e/kube_test.go). Debian 12's etcd-server (3.4) is
// too old for a current kube-apiserver, and `go install` refuses etcd's own
// command for its replace directives; its embed package is what it runs.
//
// It listens on 127.0.0.1 only, with no TLS, and prints "ready" on standard
// output once it serves. SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dir := flag.String("data-dir", "", "data directory (required)")
	client := flag.Int("client-port", 2379, "client port on 127.0.0.1")
	peer := flag.Int("peer-port", 2380, "peer port on 127.0.0.1")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "etcd: -data-dir is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, config(*dir, *client, *peer), func() { fmt.Println("ready") })
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
}

// config is a single member's: every URL on 127.0.0.1, quiet logs.
func config(dir string, client, peer int) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	c := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", client)}
	p := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peer)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{c}, []url.URL{c}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{p}, []url.URL{p}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	return cfg
}

// run serves until ctx ends or etcd fails, calling ready once it serves.
func run(ctx context.Context, cfg *embed.Config, ready func()) error {
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		ready()
	case <-time.After(time.Minute):
		return fmt.Errorf("not ready after a minute")
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
}
