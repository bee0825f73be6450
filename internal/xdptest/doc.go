// Package xdptest gives tests what they need to exercise the XDP counter
// against the real kernel: a veth pair whose peer lives in a network
// namespace of the test's own, raw frames injected from that peer, and
// crafted frames of every class with the class and length they must count as.
//
// Everything it creates is named uniquely, so tests can run in parallel, and
// removed in t.Cleanup, so a failing test leaves nothing behind.
package xdptest
