//go:build linux

package xdpreceiver

import (
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The test objects, built from testdata/programs/*.c by make generate, as
// copies the loader accepts whoever owns the checkout (xdptest.SafeObject),
// at absolute paths, as Validate demands.
func portCountObject(t testing.TB) string { return testObject(t, "port_count.o") }
func shapesObject(t testing.TB) string    { return testObject(t, "shapes.o") }
func notELFObject(t testing.TB) string    { return testObject(t, "not_elf.o.txt") }

func testObject(t testing.TB, name string) string {
	return xdptest.SafeObject(t, filepath.Join("..", "testdata", "programs", name))
}

func portCountConfig(t testing.TB, ifaces ...string) *Config {
	cfg := testConfig(ifaces...)
	cfg.Program = configoptional.Some(ProgramConfig{Object: portCountObject(t), FunctionName: "xdp_count", Map: "packet_count",
		Keys: map[string]string{"53": "dns", "443": "https"}})
	return cfg
}

// injectUDP injects one IPv4/UDP datagram to each port and counts it in
// want under the key's reported name.
func injectUDP(t *testing.T, p *xdptest.Pair, want map[programKey]int64, ports ...uint16) {
	t.Helper()
	for i, port := range ports {
		udp := xdptest.UDP(port, 8+i)
		p.Inject(t, xdptest.Cat(xdptest.Eth(xdptest.EtherIPv4), xdptest.IPv4(xdptest.ProtoUDP, nil, len(udp)), udp))
		name := map[uint16]string{53: "dns", 443: "https"}[port]
		if name == "" {
			name = strconv.Itoa(int(port))
		}
		want[programKey{p.Host, name}]++
	}
}

// scrapeProgramUntil scrapes until the points add up to want, then once
// more after a pause, which must add nothing.
func scrapeProgramUntil(t *testing.T, scrape func() pmetric.Metrics, l *ledger[programKey], first func(string) pcommon.Timestamp, want map[programKey]int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !maps.Equal(l.sum, want) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.add(t, scrape(), first)
	}
	time.Sleep(50 * time.Millisecond)
	l.add(t, scrape(), first)
	require.Equal(t, want, l.sum, "the points add up to what the program counted, key by key")
}

// TestKernelProgramCountsByPort attaches port_count.o through the receiver
// and counts UDP datagrams by destination port, exactly, over several
// scrapes whose points are contiguous; frames of every other kind count
// nowhere, and Shutdown leaves nothing attached.
func TestKernelProgramCountsByPort(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	s, clk, _ := startKernelScraper(t, portCountConfig(t, p.Host))
	attached := clk.reading(0)
	first := func(string) pcommon.Timestamp { return attached }
	require.True(t, xdptest.Attached(t, p.Host))
	scrapes := 0
	scrape := func() pmetric.Metrics {
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		scrapes++
		return md
	}

	assert.Zero(t, scrape().DataPointCount(), "nothing counted yet")
	l, want := newProgramLedger(), map[programKey]int64{}
	injectUDP(t, p, want, 53, 53, 443, 8080, 53)
	for _, f := range xdptest.Frames() {
		if f.Class != (bpf.Class{Network: bpf.IPv4, Transport: bpf.UDP}) {
			p.Inject(t, f.Data)
		}
	}
	scrapeProgramUntil(t, scrape, l, first, want)

	// More datagrams: the series go on, and a new port appears.
	injectUDP(t, p, want, 443, 9999, 9999, 53)
	scrapeProgramUntil(t, scrape, l, first, want)
	assert.Equal(t, map[programKey]int64{{p.Host, "dns"}: 4, {p.Host, "https"}: 2, {p.Host, "8080"}: 1, {p.Host, "9999"}: 2}, want)
	assert.GreaterOrEqual(t, scrapes, 5, "several scrapes")

	require.NoError(t, s.shutdown(t.Context()))
	xdptest.RequireDetached(t, p.Host)
}

// TestKernelProgramStartFailures gives Start each kind of program it
// cannot use: Start fails with what is wrong, before or while attaching,
// and leaves no XDP program on any interface.
func TestKernelProgramStartFailures(t *testing.T) {
	xdptest.Privileged(t)
	for _, tc := range []struct {
		name                string
		object, function, m string
		want                []string
	}{
		{"missing file", "/nonexistent/prog.o", "xdp_count", "packet_count",
			[]string{`opening XDP program object "/nonexistent/prog.o"`, "no such file", "check program.object"}},
		{"not an ELF file", notELFObject(t), "xdp_count", "packet_count", []string{"is not an ELF file", "clang -target bpf"}},
		{"no such function", portCountObject(t), "xdp_nope", "packet_count", []string{`has no program "xdp_nope"`, "its programs: xdp_count (XDP)"}},
		{"tc program", shapesObject(t), "tc_pass", "array_count", []string{`program "tc_pass"`, "is a SchedCLS program, not XDP"}},
		{"no such map", portCountObject(t), "xdp_count", "nope", []string{`has no map "nope"`, "packet_count (PerCPUHash, 4-byte keys, 8-byte values)"}},
		{"16-byte values", shapesObject(t), "xdp_all", "wide_values", []string{`map "wide_values"`, "16-byte values", "4-byte keys and 8-byte values"}},
		{"ring buffer", shapesObject(t), "xdp_all", "events", []string{`map "events"`, "RingBuf", "Array, Hash, PerCPUArray or PerCPUHash"}},
		{"verifier rejection", shapesObject(t), "xdp_unchecked", "array_count",
			[]string{`the kernel's verifier rejected program "xdp_unchecked"`, "last lines of the verifier log", "invalid access to packet"}},
		{"group-writable object", groupWritable(t, portCountObject(t)), "xdp_count", "packet_count",
			[]string{"is unsafe to load: it is writable by its group", "gets the collector's privileges in the kernel",
				"install -o root -g root -m 0644 port_count.o /etc/otelcol/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
			cfg := testConfig(p1.Host, p2.Host)
			cfg.Program = configoptional.Some(ProgramConfig{Object: tc.object, FunctionName: tc.function, Map: tc.m})
			require.NoError(t, cfg.Validate(), "a valid configuration: only Start can tell")
			s := newScraper(cfg, nopSettings(), linuxKernel(), time.Now)
			err := startListed(t, s, newStatusHost())
			require.Error(t, err)
			assert.ErrorContains(t, err, `xdp receiver attached none of "`+p1.Host+`", "`+p2.Host+`"`)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			xdptest.RequireDetached(t, p1.Host, p2.Host)
			require.NoError(t, s.shutdown(t.Context()))
		})
	}
}

// groupWritable makes the file at path writable by its group, as a
// checkout made with a umask of 002 has it, and returns path.
func groupWritable(t testing.TB, path string) string {
	require.NoError(t, os.Chmod(path, 0o664))
	return path
}

// TestKernelProgramDetachedAndForeign checks that a program is watched as
// the built-in counter is: a link detached from outside is reported and
// attached again, and a program of someone else's is never replaced.
func TestKernelProgramDetachedAndForeign(t *testing.T) {
	xdptest.Privileged(t)
	p, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	foreignID, _ := xdptest.AttachForeignXDP(t, p2.Host)
	refused := newScraper(portCountConfig(t, p2.Host), nopSettings(), linuxKernel(), time.Now)
	err := startListed(t, refused, newStatusHost())
	var fe *bpf.ForeignProgramError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, foreignID, xdptest.XDPProgramID(t, p2.Host), "the other program is untouched")

	s, clk, host := startKernelScraper(t, portCountConfig(t, p.Host))
	attached := clk.reading(0)
	scrape := mustScrape(t, s)
	want := map[programKey]int64{}
	injectUDP(t, p, want, 53, 443)
	scrapeProgramUntil(t, scrape, newProgramLedger(), func(string) pcommon.Timestamp { return attached }, want)

	xdptest.DetachLinks(t, p.Host)
	xdptest.RequireDetached(t, p.Host)
	_, err = s.scrape(t.Context())
	require.ErrorContains(t, err, `were detached from outside the collector`)
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())

	assert.Zero(t, scrape().DataPointCount(), "attached again; reports from the next scrape on")
	reattached := clk.reading(clk.len() - 1)
	require.True(t, xdptest.Attached(t, p.Host), "attached again")
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	want = map[programKey]int64{}
	injectUDP(t, p, want, 53, 53)
	// The old series go on from the new attachment: https as zeros.
	want[programKey{p.Host, "https"}] = 0
	scrapeProgramUntil(t, scrape, newProgramLedger(), func(string) pcommon.Timestamp { return reattached }, want)

	require.NoError(t, s.shutdown(t.Context()))
	xdptest.RequireDetached(t, p.Host)
}
