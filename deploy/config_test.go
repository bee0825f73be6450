package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// defaultConfig is the configuration the packages install as
// /etc/otelcol-xdp/config.yaml and the image holds there.
const defaultConfig = "config.yaml"

// TestDefaultConfigValidates validates the default configuration with the
// built collector, without warnings.
func TestDefaultConfigValidates(t *testing.T) {
	out, err := exec.Command(binaryPath(t), "validate", "--config="+defaultConfig).CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol-xdp validate --config=%s: %v\n%s", defaultConfig, err, out)
	}
	if bytes.Contains(bytes.ToLower(out), []byte("warn")) {
		t.Errorf("otelcol-xdp validate warns:\n%s", out)
	}
}

// TestDefaultConfigIsLocal checks what makes the default safe to start
// before anyone edits it, as a package installation does: it counts on lo
// only, and everything it listens on is on 127.0.0.1.
func TestDefaultConfigIsLocal(t *testing.T) {
	b, err := os.ReadFile(defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", defaultConfig, err)
	}
	var interfaces []any
	if r, ok := cfg["receivers"].(map[string]any); ok {
		if x, ok := r["xdp"].(map[string]any); ok {
			interfaces, _ = x["interfaces"].([]any)
		}
	}
	if !slices.Equal(interfaces, []any{"lo"}) {
		t.Errorf("%s: receivers.xdp.interfaces is %v, want [lo]", defaultConfig, interfaces)
	}
	endpoints := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path, e)
			}
		case string:
			if strings.HasSuffix(path, ".endpoint") {
				endpoints++
				if !strings.HasPrefix(v, "127.0.0.1:") {
					t.Errorf("%s: %s is %q, not on 127.0.0.1", defaultConfig, path[1:], v)
				}
			}
		}
	}
	walk("", cfg)
	if endpoints == 0 {
		t.Errorf("%s: no endpoint found; the check above checked nothing", defaultConfig)
	}
}
