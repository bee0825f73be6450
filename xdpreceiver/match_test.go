package xdpreceiver

import (
	"fmt"
	"path"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// TestConfigPatterns loads a configuration of exact names, patterns and
// exclusions: exact names are told from patterns, and the matcher counts
// what a pattern matches unless an exclusion matches it too, never an
// exact name.
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

// TestIsPattern: a name with any of path.Match's special characters is a
// pattern, which may match nothing at start; anything else is an exact
// name, which must exist.
func TestIsPattern(t *testing.T) {
	for s, want := range map[string]bool{
		"veth*": true, "eth?": true, "eth[0-3]": true, `eth\0`: true, "*": true,
		"eth0": false, "enp0s31f6": false, "br-1a2b": false, "wg0.1": false, "": false,
	} {
		assert.Equal(t, want, isPattern(s), "%q", s)
	}
}

// TestCheckPattern: a malformed pattern is refused, wrapping
// path.ErrBadPattern and showing the syntax, whatever name it would have
// met; a well-formed one, matching or not, passes.
func TestCheckPattern(t *testing.T) {
	for _, p := range []string{"veth*", "eth[0-3]", "x?", `eth\*`, "eth0"} {
		assert.NoError(t, checkPattern(p), p)
	}
	for _, p := range []string{"eth[", "eth[a-]", `eth\`, "eth[]"} {
		err := checkPattern(p)
		require.ErrorIs(t, err, path.ErrBadPattern, p)
		assert.EqualError(t, err, fmt.Sprintf("pattern %q is malformed: syntax error in pattern: use path.Match syntax, for example veth* or eth[0-3]", p))
	}
}

// TestMatcher: exactNames keeps the config's order and leaves patterns
// out; a matcher without patterns matches nothing through one, and
// exclusions narrow what patterns match, whatever their order.
func TestMatcher(t *testing.T) {
	include := []string{"eth1", "veth*", "eth0", "br-*"}
	assert.Equal(t, []string{"eth1", "eth0"}, exactNames(include))
	assert.Empty(t, exactNames([]string{"veth*"}))

	exact := newMatcher([]string{"eth0", "eth1"}, nil)
	assert.False(t, exact.hasPatterns())
	assert.False(t, exact.matchesPattern("eth0"), "an exact name is not a pattern's")

	m := newMatcher(include, []string{"br-*", "veth0"})
	assert.True(t, m.hasPatterns())
	for name, want := range map[string]bool{
		"veth1": true, "vethab12": true,
		"veth0": false, "br-1": false, "eth0": false, "eth1": false, "eth2": false, "": false,
	} {
		assert.Equal(t, want, m.matchesPattern(name), "%q", name)
	}
}
