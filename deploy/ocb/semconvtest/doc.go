// Package semconvtest stands in for contrib's pkg/semconvtest when ocb builds
// the distribution (builder-config.yaml replaces the module with this
// directory).
//
// Only the tests of k8sattributesprocessor import that module, and the Go
// module proxy that builds this project does not serve it. ocb runs `go mod
// tidy`, which resolves the imports of dependencies' tests too, and fails on
// a module it cannot download. Nothing compiled into the collector imports
// this package, so it declares nothing: a build that did would fail to
// compile rather than run with something else.
package semconvtest
