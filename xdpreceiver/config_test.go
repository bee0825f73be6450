package xdpreceiver

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

func loadConfig(t *testing.T, id component.ID) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestConfigDefault(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = 10 * time.Second
	assert.Equal(t, &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		AttachMode:           "auto",
	}, cfg)
	assert.True(t, cfg.Metrics.XdpPackets.Enabled)
	assert.True(t, cfg.Metrics.XdpBytes.Enabled)
	require.ErrorContains(t, confmap.Validate(cfg), `"interfaces" is empty`, "the default has no interface to count on")
}

func TestConfigLoad(t *testing.T) {
	cfg := loadConfig(t, component.MustNewID("xdp"))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []string{"eth0"}, cfg.Interfaces)
	assert.Equal(t, "auto", cfg.AttachMode)
	assert.Equal(t, 10*time.Second, cfg.CollectionInterval)

	full := loadConfig(t, component.MustNewIDWithName("xdp", "full"))
	require.NoError(t, confmap.Validate(full))
	want := NewFactory().CreateDefaultConfig().(*Config)
	want.Interfaces = []string{"eth0", "eth1"}
	want.AttachMode = "generic"
	want.CollectionInterval = 30 * time.Second
	want.InitialDelay = 2 * time.Second
	want.Timeout = 5 * time.Second
	want.Metrics.XdpBytes.Enabled = false
	// enabledSetByUser is unexported: compare what the user can set.
	assert.Equal(t, want.ControllerConfig, full.ControllerConfig)
	assert.Equal(t, want.Interfaces, full.Interfaces)
	assert.Equal(t, want.AttachMode, full.AttachMode)
	assert.False(t, full.Metrics.XdpBytes.Enabled)
	assert.True(t, full.Metrics.XdpPackets.Enabled)
}

// TestConfigInvalid loads each invalid configuration of testdata/config.yaml:
// each gives one clear error, from Validate, which makes no syscall, so
// nothing is ever attached for a configuration that cannot work.
func TestConfigInvalid(t *testing.T) {
	cases := []struct {
		name    string
		wantErr string
	}{
		{"no_interfaces", `"interfaces" is empty: list at least one network interface or pattern to count packets on, for example interfaces: [eth0] or [veth*]`},
		{"empty_list", `"interfaces" is empty: list at least one network interface or pattern to count packets on, for example interfaces: [eth0] or [veth*]`},
		{"empty_name", `"interfaces"[1]: interface name is empty: give the name of a network interface, as ` + "`ip link`" + ` shows it, or a pattern such as veth*`},
		{"long_name", `"interfaces"[0]: interface name "abcdefghijklmnop" is 16 bytes long: Linux interface names have at most 15 bytes`},
		{"slash", `"interfaces"[0]: interface name "eth0/1" contains '/' or whitespace, which Linux interface names cannot: check the spelling`},
		{"whitespace", `"interfaces"[0]: interface name "eth 0" contains '/' or whitespace, which Linux interface names cannot: check the spelling`},
		{"duplicate", `"interfaces": "eth0" is listed more than once: list each interface or pattern once`},
		{"bad_bracket", `"interfaces"[0]: pattern "eth[" is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]`},
		{"bad_range", `"interfaces"[0]: pattern "eth[a-]" is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]`},
		{"bad_escape", `"interfaces"[0]: pattern "eth\\" is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]`},
		{"empty_class", `"interfaces"[0]: pattern "eth[]" is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]`},
		{"pattern_slash", `"interfaces"[0]: interface name "veth/*" contains '/' or whitespace, which Linux interface names cannot: check the spelling`},
		{"duplicate_pattern", `"interfaces": "veth*" is listed more than once: list each interface or pattern once`},
		{"exclude_bad_pattern", `"exclude_interfaces"[0]: pattern "veth[0" is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]`},
		{"exclude_empty", `"exclude_interfaces"[0]: interface name is empty: give the name of a network interface, as ` + "`ip link`" + ` shows it, or a pattern such as veth*`},
		{"exclude_whitespace", `"exclude_interfaces"[0]: interface name "veth 1" contains '/' or whitespace, which Linux interface names cannot: check the spelling`},
		{"exclude_long", `"exclude_interfaces"[0]: interface name "vethabcdefghijklm" is 17 bytes long: Linux interface names have at most 15 bytes`},
		{"exclude_duplicate", `"exclude_interfaces": "veth1" is listed more than once: list each interface or pattern once`},
		{"exclude_exact", `"exclude_interfaces"[0]: "eth*" excludes "eth0", which "interfaces" names exactly: remove one of them`},
		{"exclude_same_pattern", `"exclude_interfaces"[0]: "veth*" excludes every interface that pattern "veth*" matches: remove one of them`},
		{"exclude_everything", `"exclude_interfaces"[0]: "*" excludes "eth0", which "interfaces" names exactly: remove one of them` + "\n" +
			`"exclude_interfaces"[0]: "*" excludes every interface that pattern "veth*" matches: remove one of them`},
		{"exclude_without_pattern", `"exclude_interfaces" is set but "interfaces" has no pattern: exclusions narrow patterns only; remove "exclude_interfaces" or list a pattern such as veth*`},
		{"empty_mode", `"attach_mode": unknown value "": use auto, native or generic`},
		{"bad_mode", `"attach_mode": unknown value "offload": use auto, native or generic`},
		{"zero_interval", `"collection_interval" is 0s: set a positive duration, for example 10s`},
		{"negative_interval", `"collection_interval" is -5s: set a positive duration, for example 10s`},
	}
	require.GreaterOrEqual(t, len(cases), 20)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, component.MustNewIDWithName("xdp", tt.name))
			err := cfg.Validate()
			require.EqualError(t, err, tt.wantErr)
			// Through the collector's path too, which also runs the
			// embedded configs' own checks.
			require.ErrorContains(t, confmap.Validate(cfg), tt.wantErr)
			if strings.Contains(tt.wantErr, "malformed") {
				require.ErrorIs(t, err, path.ErrBadPattern)
			}
		})
	}
}

func TestConfigPatterns(t *testing.T) {
	cfg := loadConfig(t, component.MustNewIDWithName("xdp", "patterns"))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []string{"eth0", "veth*", "eth[1-3]"}, cfg.Interfaces)
	assert.Equal(t, []string{"veth9", "veth1?"}, cfg.ExcludeInterfaces)
	assert.Equal(t, []string{"eth0"}, exactNames(cfg.Interfaces))
	m := newMatcher(cfg.Interfaces, cfg.ExcludeInterfaces)
	for name, want := range map[string]bool{
		"veth0": true, "veth": true, "veth123": true, "eth2": true,
		"veth9": false, "veth12": false, "eth0": false /* exact, not a pattern's */, "eth4": false, "lo": false, "xveth0": false,
	} {
		assert.Equal(t, want, m.matchesPattern(name), name)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	cfg := testConfig("", "eth0", "eth0")
	cfg.AttachMode = "xdp"
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{`"interfaces"[0]: interface name is empty`, `"eth0" is listed more than once`, `unknown value "xdp"`} {
		assert.ErrorContains(t, err, want)
	}
}
