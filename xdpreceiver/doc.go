// Package xdpreceiver counts the packets and bytes that arrive on network
// interfaces with an XDP program, by network type and transport, and reports
// them as delta sums.
//
//go:generate go tool -modfile=../tools.mod mdatagen metadata.yaml
package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"
