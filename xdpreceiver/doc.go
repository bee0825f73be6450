// Package xdpreceiver counts the packets and bytes that arrive on network
// interfaces with an XDP program, by network type and transport, and reports
// them as the delta sums xdp.packets and xdp.bytes.
//
//	receivers:
//	  xdp/edge:
//	    interfaces: [eth0, eth1]  # required; each interface in one instance only
//	    attach_mode: auto         # auto (native, else generic) | native | generic
//	    collection_interval: 10s
//
// The points of a series are contiguous: each starts at the time of the
// previous one, and the first starts at the time taken just before its
// interface was attached, so every counted packet falls inside a point and
// the points add up to exactly what the kernel counted. A series appears
// with the first interval in which it counted something and is reported
// every interval from then on, zeros included.
//
// Attaching needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; the receiver attaches all its
// interfaces at start, or none, and detaches them at shutdown.
//
//go:generate go tool -modfile=../tools.mod mdatagen metadata.yaml
package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"
