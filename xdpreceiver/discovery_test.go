package xdpreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/goleak"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// TestExactReturnsButFailsIsRetried has an exactly named interface come
// back with someone else's program on it: the attach fails, and it is
// tried again at every collection, like any failed attach, until it
// succeeds.
func TestExactReturnsButFailsIsRetried(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	require.NoError(t, startListed(t, s, host))
	k.delLink("eth1")
	eventually(t, func() bool { return k.closes("eth1") == 1 }, "detached from the deleted interface")

	k.mu.Lock()
	k.attachErrs["eth1"] = &bpf.ForeignProgramError{Interface: "eth1", ProgramID: 7}
	k.mu.Unlock()
	k.addLink("eth1")
	eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.found.ifaces["eth1"].state == stateFaulted
	}, "the returning interface's attach failed")
	_, err := s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "eth1" already has XDP program id 7 attached`)

	k.mu.Lock()
	delete(k.attachErrs, "eth1")
	k.mu.Unlock()
	_, err = s.scrape(t.Context())
	require.NoError(t, err, "tried again at the next collection, and attached")
	assert.Equal(t, []string{"eth0", "eth1", "eth1"}, k.attaches)
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
}

// TestStaleNewLinkIgnored has a collection find an exactly named interface
// re-created, and attach to the new one, before the link events of the
// change arrive: the late news of the old interface must not tear the new
// attachment down.
func TestStaleNewLinkIgnored(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth1")
	require.NoError(t, startListed(t, s, host))
	old := k.links["eth1"]

	// Deleted and created again behind the subscription's back.
	k.end()
	k.delLink("eth1")
	fresh := k.addLink("eth1")
	require.NotEqual(t, old, fresh)
	s.stopping.Store(true) // keep the collection from renewing the subscription
	_, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"eth1", "eth1"}, k.attaches, "attached to the re-created interface")

	s.mu.Lock()
	s.found.apply(links.Event{Type: links.Added, Link: links.Link{Index: old, Name: "eth1"}}) // the late RTM_NEWLINK of the old interface
	ifc := s.found.ifaces["eth1"]
	s.mu.Unlock()
	assert.Equal(t, stateAttached, ifc.state)
	assert.Equal(t, fresh, ifc.index, "still counting the new interface")
	assert.Equal(t, 0, k.closes("eth1"), "the new attachment is untouched")
	assert.Equal(t, []string{"eth1", "eth1"}, k.attaches)
}

// TestShutdownSubscribesNothing ends the link subscription, as an
// overflow would, and shuts down before a collection renewed it: the
// final collection must not subscribe again, attach, or report status,
// and no goroutine may outlive the receiver. A link event afterwards
// reaches nobody.
func TestShutdownSubscribesNothing(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	k.attachErrs["eth2"] = &bpf.ForeignProgramError{Interface: "eth2", ProgramID: 9}
	cfg := testConfig("eth*")
	s := newConfiguredScraper(t, k, clk, cfg)
	require.NoError(t, startListed(t, s, host))
	k.end()
	eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.watchErr != nil
	}, "the ended subscription is noticed")
	reports, attaches := host.reports(), k.attachCount()

	require.NoError(t, s.shutdown(t.Context()))
	k.mu.Lock()
	subs := len(k.subs)
	k.mu.Unlock()
	assert.Zero(t, subs, "the final collection subscribed again")
	assert.Equal(t, attaches, k.attachCount(), "the final collection attached")
	assert.Equal(t, reports, host.reports(), "the final collection reported status")
	k.addLink("eth7")
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// TestShutdownReadsAfterDetaching: the final collection detaches every
// interface before it reads, so that what was counted up to the detach is
// in its points.
func TestShutdownReadsAfterDetaching(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	var order []string
	kern := k.kernel()
	load := kern.loadDatapath
	kern.loadDatapath = func(opts bpf.Options) (datapath[slotHandle], error) {
		d, err := load(opts)
		return &orderDatapath{datapath: d, order: &order}, err
	}
	s := newScraper(testConfig("eth0", "eth1"), nopSettings(), kern, clk.now)
	require.NoError(t, startListed(t, s, newStatusHost()))
	order = nil
	require.NoError(t, s.shutdown(t.Context()))
	assert.Equal(t, []string{"detach", "detach", "read", "release", "release"}, order)
}

// orderDatapath records the order of detaches, reads and releases.
type orderDatapath struct {
	datapath[slotHandle]
	order *[]string
}

func (d *orderDatapath) Open(name string) (slotHandle, error) {
	i, err := d.datapath.Open(name)
	if err != nil {
		return nil, err
	}
	return orderInterface{i, d.order}, nil
}

func (d *orderDatapath) Read(s *bpf.Snapshot) error {
	*d.order = append(*d.order, "read")
	return d.datapath.Read(s)
}

type orderInterface struct {
	slotHandle
	order *[]string
}

func (i orderInterface) Detach() error {
	*i.order = append(*i.order, "detach")
	return i.slotHandle.Detach()
}

func (i orderInterface) Release() error {
	*i.order = append(*i.order, "release")
	return i.slotHandle.Release()
}

// TestAttachmentQueriedWhenIdle: a collection asks the kernel whether an
// interface's programs are still attached (a query that takes the RTNL
// lock, per program) only when some direction counted nothing since the
// previous one: a program that counted ran.
func TestAttachmentQueriedWhenIdle(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	cfg := testConfig("eth0")
	cfg.Directions = []string{"receive", "transmit"}
	s := newScraper(cfg, nopSettings(), k.kernel(), clk.now)
	require.NoError(t, startListed(t, s, host))
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	queries := func() int {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.counters["eth0"].queries
	}
	scrape := func() {
		_, err := s.scrape(t.Context())
		require.NoError(t, err)
	}
	scrape()
	assert.Equal(t, 1, queries(), "idle: asked")
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 1, 100)
	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 1, 100)
	scrape()
	assert.Equal(t, 1, queries(), "both directions counted: not asked")
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 1, 100)
	scrape()
	assert.Equal(t, 2, queries(), "transmit counted nothing: asked")
}
