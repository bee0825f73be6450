//go:build linux

package xdpreceiver

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// resources are what a receiver must give back: the process's file
// descriptors, those of them that hold BPF objects (programs, maps,
// links), and goroutines. BPF objects are counted through this process's
// descriptors rather than system-wide: go test runs the bpf package's tests
// in parallel processes that load programs of their own. The system-wide
// program count is logged only.
type resources struct {
	fds, bpfFDs, goroutines, systemProgs int
}

func (r resources) String() string {
	return strings.Join([]string{
		"fds=" + itoa(r.fds), "bpf_fds=" + itoa(r.bpfFDs), "goroutines=" + itoa(r.goroutines), "system_bpf_programs=" + itoa(r.systemProgs),
	}, " ")
}

func itoa(i int) string { return strconv.Itoa(i) }

func measure(t *testing.T) resources {
	t.Helper()
	var r resources
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the descriptor ReadDir itself used, closed by now
		}
		r.fds++
		if strings.HasPrefix(target, "anon_inode:bpf") {
			r.bpfFDs++
		}
	}
	r.goroutines = runtime.NumGoroutine()
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		require.NoError(t, err)
		r.systemProgs++
		id = next
	}
	return r
}

// measureSettled measures once goroutines that were ending (a previous
// test's, a helper's that just sent its result) are gone: two readings
// 50ms apart agree.
func measureSettled(t *testing.T) resources {
	t.Helper()
	prev := measure(t)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		now := measure(t)
		if now.fds == prev.fds && now.goroutines == prev.goroutines {
			return now
		}
		prev = now
	}
	return prev
}

// requireBackTo waits for the descriptors and goroutines to come back to
// before: goroutines end, and the kernel frees links, a moment after Close
// returns.
func requireBackTo(t *testing.T, before resources) resources {
	t.Helper()
	var now resources
	back := func() bool {
		now = measure(t)
		return now.fds == before.fds && now.bpfFDs == before.bpfFDs && now.goroutines == before.goroutines
	}
	deadline := time.Now().Add(5 * time.Second)
	for !back() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, before.fds, now.fds, "file descriptors: before %v, after %v", before, now)
	require.Equal(t, before.bpfFDs, now.bpfFDs, "BPF descriptors: before %v, after %v", before, now)
	require.Equal(t, before.goroutines, now.goroutines, "goroutines: before %v, after %v", before, now)
	return now
}

// usage is the process's CPU time and peak memory so far.
func usage(t *testing.T) (cpu time.Duration, maxRSSKiB int64) {
	t.Helper()
	var ru unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss
}
