// SPDX-License-Identifier: Apache-2.0

// Command kube-apiserver is Kubernetes' own API server, k8s.io/kubernetes'
// cmd/kube-apiserver, built from the Go module proxy for TestKubeAttributes
// (e2e/kube_test.go): no kube-apiserver, kind or k3s is packaged for Debian
// 12, and nothing can be pulled from an image registry on the machines this
// runs on. This module's go.mod pins k8s.io/kubernetes and replaces each of
// its staging modules with the release of the same version.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
