package xdpreceiver

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time the process has used so far, on all its
// threads: what a benchmark measures with it is what it cost, without the
// time the machine's other tenants took meanwhile.
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err) // CLOCK_PROCESS_CPUTIME_ID is in every Linux since 2.6.12
	}
	return time.Duration(ts.Nano())
}
