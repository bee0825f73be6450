package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"
	"path"
	"strings"
)

// isPattern tells a glob pattern from an exact interface name. Exact names
// must exist at start, patterns may match nothing yet, so the distinction
// decides whether a missing interface is a mistake or just not there yet.
func isPattern(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// checkPattern rejects a malformed pattern. path.Match checks the whole
// pattern whatever the name, so matching the empty name finds every syntax
// error before any interface is seen.
func checkPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("pattern %q is malformed: %w: use path.Match syntax, for example veth* or eth[0-3]", p, err)
	}
	return nil
}

// matcher decides which interfaces a receiver instance counts. Exact names
// are always counted (Validate refuses an exclusion that removes one);
// patterns count whatever they match unless an exclusion matches it too.
type matcher struct {
	exact    map[string]bool
	patterns []string
	exclude  []string
}

func newMatcher(include, exclude []string) matcher {
	m := matcher{exact: map[string]bool{}, exclude: exclude}
	for _, s := range include {
		if isPattern(s) {
			m.patterns = append(m.patterns, s)
		} else {
			m.exact[s] = true
		}
	}
	return m
}

// exactNames are the names that must exist at start, in config order.
func exactNames(include []string) []string {
	var names []string
	for _, s := range include {
		if !isPattern(s) {
			names = append(names, s)
		}
	}
	return names
}

// matchesPattern tells whether name is counted through a pattern. Patterns
// were validated, so Match cannot fail here.
func (m matcher) matchesPattern(name string) bool {
	if !anyMatch(m.patterns, name) {
		return false
	}
	return !anyMatch(m.exclude, name)
}

func (m matcher) hasPatterns() bool { return len(m.patterns) > 0 }

func anyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
