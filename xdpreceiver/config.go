package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// maxInterfaceName is IFNAMSIZ-1: Linux interface names are at most 15
// bytes, so a longer name can never match an interface.
const maxInterfaceName = 15

// Config is the configuration of one xdp receiver instance.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Interfaces are the names of the network interfaces to count packets
	// on. Each one gets its own XDP program; an interface can belong to one
	// receiver instance only.
	Interfaces []string `mapstructure:"interfaces"`

	// AttachMode is auto (native XDP, else generic), native or generic.
	AttachMode string `mapstructure:"attach_mode"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate rejects, before any syscall, what could only fail at Start or
// would count the wrong thing.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Interfaces) == 0 {
		errs = append(errs, errors.New(`"interfaces" is empty: list at least one network interface to count packets on, for example interfaces: [eth0]`))
	}
	seen := make(map[string]bool, len(c.Interfaces))
	for i, name := range c.Interfaces {
		if err := validateInterfaceName(name); err != nil {
			errs = append(errs, fmt.Errorf(`"interfaces"[%d]: %w`, i, err))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf(`"interfaces": %q is listed more than once: list each interface once`, name))
		}
		seen[name] = true
	}
	if _, err := bpf.ParseMode(c.AttachMode); err != nil {
		errs = append(errs, fmt.Errorf(`"attach_mode": unknown value %q: use auto, native or generic`, c.AttachMode))
	}
	if c.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf(`"collection_interval" is %s: set a positive duration, for example 10s`, c.CollectionInterval))
	}
	return errors.Join(errs...)
}

func validateInterfaceName(name string) error {
	if name == "" {
		return errors.New("interface name is empty: give the name of a network interface, as `ip link` shows it")
	}
	if len(name) > maxInterfaceName {
		return fmt.Errorf("interface name %q is %d bytes long: Linux interface names have at most %d bytes", name, len(name), maxInterfaceName)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r == '/' || unicode.IsSpace(r) }) {
		return fmt.Errorf("interface name %q contains '/' or whitespace, which Linux interface names cannot: check the spelling", name)
	}
	return nil
}
