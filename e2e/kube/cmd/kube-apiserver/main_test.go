// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// TestFlags: the API server this module builds takes every flag that
// e2e/apiserver_test.go starts it with; a Kubernetes bump that renames one
// fails here, before the end-to-end test's server fails to start.
func TestFlags(t *testing.T) {
	cmd := app.NewAPIServerCommand()
	for _, name := range []string{
		"etcd-servers", "bind-address", "secure-port", "tls-cert-file", "tls-private-key-file",
		"token-auth-file", "authorization-mode", "service-account-issuer", "service-account-key-file",
		"service-account-signing-key-file", "service-cluster-ip-range", "profiling",
	} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("kube-apiserver has no --%s", name)
		}
	}
}
