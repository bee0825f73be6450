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
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
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
		Directions:           []string{"receive"},
		MaxInterfaces:        512,
		Program:              configoptional.Default(ProgramConfig{Map: "packet_count"}),
		Pods:                 PodsConfig{Enabled: true, IPFamily: "ipv4"},
	}, cfg)
	assert.Nil(t, cfg.Program.Get(), "no program unless configured: the built-in counter")
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
	assert.Equal(t, []string{"receive"}, full.Directions, "receive by default")
	assert.Equal(t, 512, full.MaxInterfaces, "512 by default")
	assert.Equal(t, PodsConfig{Enabled: true, IPFamily: "ipv4"}, full.Pods, "pods attributed, by their IPv4 address, by default")

	for name, want := range map[string]PodsConfig{
		"pods_ipv6":     {Enabled: true, IPFamily: "ipv6"},
		"pods_disabled": {Enabled: false, IPFamily: "ipv4"},
	} {
		pods := loadConfig(t, component.MustNewIDWithName("xdp", name))
		require.NoError(t, confmap.Validate(pods), name)
		assert.Equal(t, want, pods.Pods, name)
	}

	node := loadConfig(t, component.MustNewIDWithName("xdp", "node"))
	require.NoError(t, confmap.Validate(node))
	assert.Equal(t, []string{"receive", "transmit"}, node.Directions)
	assert.Equal(t, []bpf.Direction{bpf.Receive, bpf.Transmit}, node.directions())
	assert.Equal(t, "tc", node.AttachMode)
	assert.Equal(t, 2048, node.MaxInterfaces)
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
		{"long_name", `"interfaces"[0]: interface name "` + strings.Repeat("a", 128) + `" is 128 bytes long: Linux interface names have at most 15 bytes, alternative names at most 127`},
		{"colon", `"interfaces"[0]: interface name "eth0:1" contains ':', which Linux interface names cannot: a name such as eth0:1 is an address label of eth0, whose packets eth0 counts`},
		{"dot", `"interfaces"[0]: interface name ".." is not a name Linux allows: check the spelling`},
		{"nbsp", `"interfaces"[0]: interface name "eth\u00a00" contains '/' or whitespace, which Linux interface names cannot: check the spelling`},
		{"aggregation_avg", `"metrics::xdp.packets::aggregation_strategy" is "avg": the points are delta sums, which only sum aggregates into counts; leave it out or set it to sum` + "\n" +
			`"metrics::xdp.bytes::aggregation_strategy" is "max": the points are delta sums, which only sum aggregates into counts; leave it out or set it to sum`},
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
		{"empty_mode", `"attach_mode": unknown value "": use auto, native, generic or tc`},
		{"bad_mode", `"attach_mode": unknown value "offload": use auto, native, generic or tc`},
		{"pods_bad_family", `"pods.ip_family" is "dual": use ipv4 or ipv6, the family of the address a dual-stack pod is known by`},
		{"pods_empty_family", `"pods.ip_family" is "": use ipv4 or ipv6, the family of the address a dual-stack pod is known by`},
		{"zero_interval", `"collection_interval" is 0s: set a positive duration, for example 10s`},
		{"directions_empty", `"directions" is empty: list receive, transmit or both, or leave it out for receive`},
		{"directions_unknown", `"directions"[1]: unknown direction "egress": use receive or transmit`},
		{"directions_duplicate", `"directions": "transmit" is listed more than once`},
		{"max_interfaces_zero", `"max_interfaces" is 0: set it from 1 to 65536; the counters take (max_interfaces + 1) x 640 bytes of kernel memory per possible CPU`},
		{"max_interfaces_too_many", `"max_interfaces" is 65537: set it from 1 to 65536; the counters take (max_interfaces + 1) x 640 bytes of kernel memory per possible CPU`},
		{"max_interfaces_below_exact", `"max_interfaces" is 1, but "interfaces" names 2 interfaces exactly: raise max_interfaces`},
		{"program_tc", `"attach_mode" is tc, but "program" is an XDP program: use auto, native or generic`},
		{"program_transmit", `"directions" has transmit, but "program" is an XDP program, which sees received packets only: count transmit with the built-in counter, in a receiver of its own`},
		{"negative_interval", `"collection_interval" is -5s: set a positive duration, for example 10s`},
		{"program_empty", `"program.object" is empty: give the path of the compiled BPF ELF object, for example /etc/otelcol/my_xdp.o` + "\n" +
			`"program.function_name" is empty: give the name of the XDP program in the object to attach (its C function, SEC("xdp"))`},
		{"program_relative", `"program.object" is "objects/port_count.o", a relative path, which would depend on the collector's working directory: ` +
			`give the absolute path of the object, for example /etc/otelcol/port_count.o`},
		{"program_no_object", `"program.object" is empty: give the path of the compiled BPF ELF object, for example /etc/otelcol/my_xdp.o`},
		{"program_no_function", `"program.function_name" is empty: give the name of the XDP program in the object to attach (its C function, SEC("xdp"))`},
		{"program_empty_map", `"program.map" is empty: give the name of the counter map to export, or leave it out for "packet_count"`},
		{"program_key_not_number", `"program.keys": key "dns" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
		{"program_key_negative", `"program.keys": key "-1" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
		{"program_key_too_big", `"program.keys": key "4294967296" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
		{"program_key_leading_zero", `"program.keys": key "007" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
		{"program_key_hex", `"program.keys": key "0x10" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
		{"program_empty_name", `"program.keys": the name of key 53 is empty: give it a name, or leave the key out to report it as "53"`},
		{"program_duplicate_name", `"program.keys": keys 443 and 80 are both named "web": give each key a name of its own`},
		{"program_numeric_name", `"program.keys": key 80 is named "443", which is how key 443 is reported when it has no name: choose another name`},
		{"program_everything_wrong", `"program.object" is empty: give the path of the compiled BPF ELF object, for example /etc/otelcol/my_xdp.o` + "\n" +
			`"program.function_name" is empty: give the name of the XDP program in the object to attach (its C function, SEC("xdp"))` + "\n" +
			`"program.map" is empty: give the name of the counter map to export, or leave it out for "packet_count"` + "\n" +
			`"program.keys": keys 1 and 2 are both named "a": give each key a name of its own` + "\n" +
			`"program.keys": key "x" is not a map key: give each key as its number in decimal, from 0 to 4294967295, without sign or leading zeros`},
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

func TestConfigReportsEveryProblem(t *testing.T) {
	cfg := testConfig("", "eth0", "eth0")
	cfg.AttachMode = "xdp"
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{`"interfaces"[0]: interface name is empty`, `"eth0" is listed more than once`, `unknown value "xdp"`} {
		assert.ErrorContains(t, err, want)
	}
}

func TestConfigProgram(t *testing.T) {
	cfg := loadConfig(t, component.MustNewIDWithName("xdp", "program"))
	require.NoError(t, confmap.Validate(cfg))
	p := cfg.Program.Get()
	require.NotNil(t, p)
	assert.Equal(t, "/etc/otelcol/my_xdp.o", p.Object)
	assert.Equal(t, "xdp_count", p.FunctionName)
	assert.Equal(t, "verdicts", p.Map)
	assert.Equal(t, map[string]string{"0": "allowed", "1": "dropped", "4294967295": "last"}, p.Keys, "YAML's integer keys arrive as strings")
	assert.Equal(t, map[uint32]string{0: "allowed", 1: "dropped", 1<<32 - 1: "last"}, p.keyNames())
	assert.Equal(t, bpf.CustomSpec{Object: "/etc/otelcol/my_xdp.o", Function: "xdp_count", Map: "verdicts"}, p.spec())

	defaults := loadConfig(t, component.MustNewIDWithName("xdp", "program_defaults"))
	require.NoError(t, confmap.Validate(defaults))
	p = defaults.Program.Get()
	require.NotNil(t, p)
	assert.Equal(t, "packet_count", p.Map, "the map defaults to packet_count")
	assert.Empty(t, p.Keys)

	disabled := loadConfig(t, component.MustNewIDWithName("xdp", "program_disabled"))
	require.NoError(t, confmap.Validate(disabled))
	assert.Nil(t, disabled.Program.Get(), "enabled: false: the built-in counter")

	// Without program, the default: the built-in counter.
	assert.Nil(t, loadConfig(t, component.MustNewID("xdp")).Program.Get())
}

func testConfig(ifaces ...string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Interfaces = ifaces
	return cfg
}

// TestConfigAltNames accepts exact names up to 127 bytes, which only
// alternative names can have, and nothing longer; exclusions and patterns
// match interface names, of at most 15 bytes.
func TestConfigAltNames(t *testing.T) {
	cfg := testConfig("enx0123456789abcdef", strings.Repeat("a", 127))
	require.NoError(t, cfg.Validate())
	cfg = testConfig("veth*")
	cfg.ExcludeInterfaces = []string{"enx0123456789abcdef"}
	require.EqualError(t, cfg.Validate(), `"exclude_interfaces"[0]: interface name "enx0123456789abcdef" is 19 bytes long: Linux interface names have at most 15 bytes`)
}
