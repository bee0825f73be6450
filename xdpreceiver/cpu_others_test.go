//go:build !linux

package xdpreceiver

import "time"

var startup = time.Now()

// processCPU is wall time where the process's CPU time is not at hand:
// side by side, in turn, it still compares.
func processCPU() time.Duration { return time.Since(startup) }
