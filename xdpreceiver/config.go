package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// Linux interface names have at most IFNAMSIZ-1 = 15 bytes; alternative
// names (`ip link property add dev eth0 altname ...`), which an exact entry
// may give instead, at most ALTIFNAMSIZ-1 = 127. Exclusions and patterns
// match interface names only.
const (
	maxInterfaceName = 15
	maxAltName       = 127
)

// Config is the configuration of one xdp receiver instance.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Interfaces are the network interfaces to count packets on: exact
	// names (or alternative names), which must exist at start, or
	// path.Match patterns (veth*, eth?), which may match nothing yet and
	// follow interfaces as they come and go. An interface can belong to one
	// receiver instance only.
	Interfaces []string `mapstructure:"interfaces"`

	// ExcludeInterfaces are names or patterns that interfaces matched by a
	// pattern in Interfaces must not match. They never remove an exactly
	// named interface: Validate refuses that contradiction.
	ExcludeInterfaces []string `mapstructure:"exclude_interfaces"`

	// AttachMode is where receive is counted: auto (TC on every
	// interface, which changes nothing in the driver), native or generic
	// (XDP, forced), or tc (TC, as auto).
	AttachMode string `mapstructure:"attach_mode"`

	// Directions are what is counted: receive, transmit, or both. Transmit
	// is counted at TC egress.
	Directions []string `mapstructure:"directions"`

	// MaxInterfaces is how many interfaces the receiver counts at once. The
	// kernel memory of its counters, allocated at start, is
	// (max_interfaces + 1) x 640 bytes x possible CPUs.
	MaxInterfaces int `mapstructure:"max_interfaces"`

	// Program, when set, is the user's XDP program to attach instead of the
	// built-in counter, and the map of counters of it to export as
	// xdp.program.count. An interface has one XDP slot, so an instance with
	// a program reports neither xdp.packets nor xdp.bytes.
	Program configoptional.Optional[ProgramConfig] `mapstructure:"program"`

	// Pods is whether and how an interface that belongs to a pod is
	// attributed to it.
	Pods PodsConfig `mapstructure:"pods"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PodsConfig is how the interfaces of pods are reported: each in a
// resource of its own, with k8s.pod.ip, in the pod's view of direction.
type PodsConfig struct {
	// Enabled attributes interfaces to pods, from the routes, neighbors
	// and bridge forwarding entries of the host network namespace.
	Enabled bool `mapstructure:"enabled"`
	// IPFamily is which address of a dual-stack pod is its k8s.pod.ip:
	// ipv4 (the primary IP of a dual-stack pod by default, which
	// k8sattributes indexes pods by) or ipv6. A single-stack pod's only
	// address is its IP whatever this says.
	IPFamily string `mapstructure:"ip_family"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IP families of pods.ip_family.
const (
	ipFamilyIPv4 = "ipv4"
	ipFamilyIPv6 = "ipv6"
)

func (p *PodsConfig) validate() []error {
	if p.IPFamily != ipFamilyIPv4 && p.IPFamily != ipFamilyIPv6 {
		return []error{fmt.Errorf(`"pods.ip_family" is %q: use ipv4 or ipv6, the family of the address a dual-stack pod is known by`, p.IPFamily)}
	}
	return nil
}

// defaultProgramMap is the map exported when program.map is not set.
const defaultProgramMap = "packet_count"

// ProgramConfig names a user's XDP program in a compiled BPF ELF object,
// and the counter map it keeps.
type ProgramConfig struct {
	// Object is the absolute path of the compiled BPF ELF object. Whoever
	// can change it gets the collector's privileges in the kernel, so the
	// file and every directory on its path must be writable by root or the
	// collector's user only (bpf.UnsafeObjectError). A relative path is
	// refused: the receiver does not know where its configuration lives,
	// and the collector's working directory is nobody's choice.
	Object string `mapstructure:"object"`
	// FunctionName is the XDP program in the object to attach.
	FunctionName string `mapstructure:"function_name"`
	// Map is the counter map to export: an array, hash, per-CPU array or
	// per-CPU hash with 4-byte keys and 8-byte values.
	Map string `mapstructure:"map"`
	// Keys names some of the map's keys, by their number in decimal, for the
	// xdp.program.key attribute; other keys are reported by number.
	Keys map[string]string `mapstructure:"keys"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func (p *ProgramConfig) spec() bpf.CustomSpec {
	return bpf.CustomSpec{Object: p.Object, Function: p.FunctionName, Map: p.Map}
}

// keyNames parses Keys, which Validate checked.
func (p *ProgramConfig) keyNames() map[uint32]string {
	names := make(map[uint32]string, len(p.Keys))
	for k, name := range p.Keys {
		if n, err := parseKey(k); err == nil {
			names[n] = name
		}
	}
	return names
}

// parseKey parses a key of program.keys: a uint32 in canonical decimal, so
// that no two entries can name the same key (7 and 007).
func parseKey(k string) (uint32, error) {
	n, err := strconv.ParseUint(k, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != k {
		return 0, fmt.Errorf(`"program.keys": key %q is not a map key: give each key as its number in decimal, from 0 to %d, without sign or leading zeros`,
			k, uint32(1<<32-1))
	}
	return uint32(n), nil
}

// validate checks the program's settings without opening the object: that
// is Start's job (bpf.OpenCustom), so that validating a configuration on
// another machine works.
func (p *ProgramConfig) validate() []error {
	var errs []error
	switch {
	case p.Object == "":
		errs = append(errs, errors.New(`"program.object" is empty: give the path of the compiled BPF ELF object, for example /etc/otelcol/my_xdp.o`))
	case !path.IsAbs(p.Object): // a Linux path, even where a configuration is validated elsewhere
		errs = append(errs, fmt.Errorf(`"program.object" is %q, a relative path, which would depend on the collector's working directory: `+
			`give the absolute path of the object, for example /etc/otelcol/%s`, p.Object, path.Base(p.Object)))
	}
	if p.FunctionName == "" {
		errs = append(errs, errors.New(`"program.function_name" is empty: give the name of the XDP program in the object to attach (its C function, SEC("xdp"))`))
	}
	if p.Map == "" {
		errs = append(errs, fmt.Errorf(`"program.map" is empty: give the name of the counter map to export, or leave it out for %q`, defaultProgramMap))
	}
	keys := slices.Sorted(maps.Keys(p.Keys))
	byName := map[string]string{}
	for _, k := range keys {
		name := p.Keys[k]
		if _, err := parseKey(k); err != nil {
			errs = append(errs, err)
			continue
		}
		if name == "" {
			errs = append(errs, fmt.Errorf(`"program.keys": the name of key %s is empty: give it a name, or leave the key out to report it as %q`, k, k))
			continue
		}
		if n, err := parseKey(name); err == nil && strconv.FormatUint(uint64(n), 10) != k {
			errs = append(errs, fmt.Errorf(`"program.keys": key %s is named %q, which is how key %s is reported when it has no name: choose another name`, k, name, name))
		}
		if other, ok := byName[name]; ok {
			errs = append(errs, fmt.Errorf(`"program.keys": keys %s and %s are both named %q: give each key a name of its own`, other, k, name))
			continue
		}
		byName[name] = k
	}
	return errs
}

// Validate rejects, before any syscall, what could only fail at Start or
// would count the wrong thing.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Interfaces) == 0 {
		errs = append(errs, errors.New(`"interfaces" is empty: list at least one network interface or pattern to count packets on, for example interfaces: [eth0] or [veth*]`))
	}
	errs = append(errs, validateNames("interfaces", c.Interfaces, maxAltName)...)
	errs = append(errs, validateNames("exclude_interfaces", c.ExcludeInterfaces, maxInterfaceName)...)
	errs = append(errs, c.validateExclusions()...)
	mode, err := bpf.ParseMode(c.AttachMode)
	if err != nil {
		errs = append(errs, fmt.Errorf(`"attach_mode": unknown value %q: use auto, native, generic or tc`, c.AttachMode))
	}
	errs = append(errs, c.validateDirections()...)
	if c.MaxInterfaces < 1 || c.MaxInterfaces > maxMaxInterfaces {
		errs = append(errs, fmt.Errorf(`"max_interfaces" is %d: set it from 1 to %d; the counters take (max_interfaces + 1) x 640 bytes `+
			`of kernel memory per possible CPU`, c.MaxInterfaces, maxMaxInterfaces))
	} else if n := len(exactNames(c.Interfaces)); n > c.MaxInterfaces {
		errs = append(errs, fmt.Errorf(`"max_interfaces" is %d, but "interfaces" names %d interfaces exactly: raise max_interfaces`, c.MaxInterfaces, n))
	}
	if c.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf(`"collection_interval" is %s: set a positive duration, for example 10s`, c.CollectionInterval))
	}
	if p := c.Program.Get(); p != nil {
		errs = append(errs, p.validate()...)
		if err == nil && mode == bpf.ModeTC {
			errs = append(errs, errors.New(`"attach_mode" is tc, but "program" is an XDP program: use auto, native or generic`))
		}
		if slices.Contains(c.Directions, bpf.Transmit.String()) {
			errs = append(errs, errors.New(`"directions" has transmit, but "program" is an XDP program, which sees received packets only: `+
				`count transmit with the built-in counter, in a receiver of its own`))
		}
	}
	errs = append(errs, c.validateAggregation()...)
	errs = append(errs, c.Pods.validate()...)
	return errors.Join(errs...)
}

// maxMaxInterfaces bounds max_interfaces: 64Ki interfaces take 40 MiB of
// counters per possible CPU.
const maxMaxInterfaces = 1 << 16

func (c *Config) validateDirections() []error {
	if len(c.Directions) == 0 {
		return []error{errors.New(`"directions" is empty: list receive, transmit or both, or leave it out for receive`)}
	}
	var errs []error
	seen := map[string]bool{}
	for i, d := range c.Directions {
		if _, err := bpf.ParseDirection(d); err != nil {
			errs = append(errs, fmt.Errorf(`"directions"[%d]: unknown direction %q: use receive or transmit`, i, d))
			continue
		}
		if seen[d] {
			errs = append(errs, fmt.Errorf(`"directions": %q is listed more than once`, d))
		}
		seen[d] = true
	}
	return errs
}

// directions parses Directions, which Validate checked.
func (c *Config) directions() []bpf.Direction {
	var out []bpf.Direction
	for _, s := range c.Directions {
		if d, err := bpf.ParseDirection(s); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// validateAggregation refuses every aggregation strategy but sum. The
// builder aggregates the points of series that differ only in attributes
// the user disabled; the points are delta sums, whose aggregate is their
// sum: an average, minimum or maximum of deltas is no count of anything,
// and breaks the series' sums.
func (c *Config) validateAggregation() []error {
	var errs []error
	for _, m := range []struct {
		name, strategy string
	}{
		{"xdp.packets", c.Metrics.XdpPackets.AggregationStrategy},
		{"xdp.bytes", c.Metrics.XdpBytes.AggregationStrategy},
	} {
		if m.strategy != metadata.AggregationStrategySum {
			errs = append(errs, fmt.Errorf(`"metrics::%s::aggregation_strategy" is %q: the points are delta sums, which only sum aggregates `+
				`into counts; leave it out or set it to sum`, m.name, m.strategy))
		}
	}
	return errs
}

// validateNames checks each entry of the list called key: an exact name
// must be a possible Linux interface name of at most maxLen bytes, a
// pattern must be well formed, and no entry may be listed twice.
func validateNames(key string, list []string, maxLen int) []error {
	var errs []error
	seen := make(map[string]bool, len(list))
	for i, name := range list {
		if err := validateEntry(name, maxLen); err != nil {
			errs = append(errs, fmt.Errorf(`%q[%d]: %w`, key, i, err))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf(`%q: %q is listed more than once: list each interface or pattern once`, key, name))
		}
		seen[name] = true
	}
	return errs
}

// validateExclusions refuses exclusions that contradict the inclusions:
// an exclusion only narrows patterns, so one that hits an exact name, or
// leaves a pattern nothing to match, is a mistake that would otherwise show
// as an interface silently never counted.
func (c *Config) validateExclusions() []error {
	if len(c.ExcludeInterfaces) == 0 {
		return nil
	}
	var errs []error
	m := newMatcher(c.Interfaces, nil)
	if !m.hasPatterns() {
		errs = append(errs, errors.New(`"exclude_interfaces" is set but "interfaces" has no pattern: exclusions narrow patterns only; `+
			`remove "exclude_interfaces" or list a pattern such as veth*`))
	}
	for i, ex := range c.ExcludeInterfaces {
		if validateEntry(ex, maxInterfaceName) != nil {
			continue // already reported
		}
		for _, name := range exactNames(c.Interfaces) {
			if validateEntry(name, maxAltName) != nil {
				continue
			}
			if ok, _ := path.Match(ex, name); ok {
				errs = append(errs, fmt.Errorf(`"exclude_interfaces"[%d]: %q excludes %q, which "interfaces" names exactly: remove one of them`, i, ex, name))
			}
		}
		for _, p := range m.patterns {
			if ex == p || ex == "*" {
				errs = append(errs, fmt.Errorf(`"exclude_interfaces"[%d]: %q excludes every interface that pattern %q matches: remove one of them`, i, ex, p))
			}
		}
	}
	return errs
}

// validateEntry checks a name the way the kernel's dev_valid_name() does,
// or a pattern for its syntax and for characters no name can have.
func validateEntry(name string, maxLen int) error {
	if name == "" {
		return errors.New("interface name is empty: give the name of a network interface, as `ip link` shows it, or a pattern such as veth*")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not a name Linux allows: check the spelling", name)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r == ':' }) {
		return fmt.Errorf("interface name %q contains ':', which Linux interface names cannot: a name such as eth0:1 "+
			"is an address label of eth0, whose packets eth0 counts", name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || isSpace(name[i]) {
			return fmt.Errorf("interface name %q contains '/' or whitespace, which Linux interface names cannot: check the spelling", name)
		}
	}
	switch {
	case isPattern(name) && len(name) > maxAltName:
		return fmt.Errorf("pattern %q is %d bytes long: the names it matches have at most %d bytes", name, len(name), maxInterfaceName)
	case isPattern(name):
		return checkPattern(name)
	case len(name) > maxLen && maxLen == maxInterfaceName:
		return fmt.Errorf("interface name %q is %d bytes long: Linux interface names have at most %d bytes", name, len(name), maxInterfaceName)
	case len(name) > maxLen:
		return fmt.Errorf("interface name %q is %d bytes long: Linux interface names have at most %d bytes, alternative names at most %d",
			name, len(name), maxInterfaceName, maxAltName)
	}
	return nil
}

// isSpace is the kernel's isspace(): ASCII whitespace and, in its
// Latin-1 table, the no-break space byte 0xa0, which UTF-8 uses too.
func isSpace(b byte) bool {
	return b == ' ' || b >= '\t' && b <= '\r' || b == 0xa0
}
