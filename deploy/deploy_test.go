// Package deploy checks the deployment files shipped in this directory: the
// systemd unit with systemd-analyze; the Helm chart with helm lint and
// helm template, every rendered object decoded strictly into the
// Kubernetes API types and the rendered collector configuration checked by
// the built collector's validate command; and what `make dist image
// package` builds from: version.sh against scratch git repositories, the
// package scripts as dpkg and rpm call them (with a fake systemctl), the
// Containerfile and the default configuration. Nothing here needs root or
// the network; the collector binary comes from `make build`, helm from the
// HELM variable that `make test` sets. e2e/release_test.go tests the built
// artifacts themselves.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	unitFile = "otelcol-xdp.service"
	// binary is built by `make build`, relative to this directory.
	binary = "../dist/otelcol-xdp"
	// configPath is where both deployments keep the collector configuration.
	configPath = "/etc/otelcol-xdp/config.yaml"
)

func binaryPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(binary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the collector binary %s is missing (%v): run `make build` first (`make test` builds it)", p, err)
	}
	return p
}

// unit is a systemd unit file: every value of every key, in order, per
// section.
type unit map[string]map[string][]string

func readUnit(t *testing.T) (u unit, text string) {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u = unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", unitFile, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u, string(b)
}

// one returns the single value of key in section, failing t when it is set
// other than exactly once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("%s: [%s] %s= is set %d times, want once", unitFile, section, key, len(v))
		return ""
	}
	return v[0]
}

// unitCapabilities returns the capabilities the unit grants, sorted, after
// checking that its ambient and bounding sets are the same.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	u, _ := readUnit(t)
	ambient := strings.Fields(u.one(t, "Service", "AmbientCapabilities"))
	bounding := strings.Fields(u.one(t, "Service", "CapabilityBoundingSet"))
	slices.Sort(ambient)
	slices.Sort(bounding)
	if !slices.Equal(ambient, bounding) {
		t.Errorf("%s: AmbientCapabilities=%v but CapabilityBoundingSet=%v: they must be the same set", unitFile, ambient, bounding)
	}
	if len(ambient) == 0 {
		t.Fatalf("%s grants no capabilities", unitFile)
	}
	return ambient
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit, with
// ExecStart pointing at the built binary (verify insists that it exists),
// and `systemd-analyze security --offline` to keep its exposure low. Any
// warning fails the test: verify exits 0 on unknown keys and bad values.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is needed to check %s: %v; apt-get install systemd", unitFile, err)
	}
	_, text := readUnit(t)
	const installed = "ExecStart=/usr/local/bin/otelcol-xdp "
	if strings.Count(text, installed) != 1 {
		t.Fatalf("%s: want one line starting %q", unitFile, installed)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, unitFile)
	text = strings.Replace(text, installed, "ExecStart="+binaryPath(t)+" ", 1)
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"verify", "--man=no", "--generators=no", copyPath},
		// Exposure 0 (best) to 10 (worst), in tenths: the unit scores 1.9 with
		// systemd 252. Above 2.5, something was loosened.
		{"security", "--offline=yes", "--threshold=25", "--no-pager", copyPath},
	} {
		cmd := exec.Command(analyze, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil || (args[0] == "verify" && (stdout.Len() > 0 || stderr.Len() > 0)) {
			t.Errorf("systemd-analyze %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		if args[0] == "security" {
			if m := regexp.MustCompile(`Overall exposure level for [^:]*: ([0-9.]+)`).FindStringSubmatch(stdout.String()); m != nil {
				t.Logf("systemd-analyze security: exposure %s", m[1])
			}
		}
	}
}

// TestSystemdUnitLeastPrivilege checks the unit's privilege settings one by
// one: an unprivileged user, capabilities only through the ambient set with
// the bounding set the same, no way to gain more, and the sandbox.
func TestSystemdUnitLeastPrivilege(t *testing.T) {
	u, _ := readUnit(t)
	caps := unitCapabilities(t)
	t.Logf("%s grants %v", unitFile, caps)
	dynamic := slices.Equal(u["Service"]["DynamicUser"], []string{"yes"})
	user := u["Service"]["User"]
	if !dynamic && len(user) == 0 {
		t.Errorf("%s: neither DynamicUser=yes nor User=", unitFile)
	}
	if len(user) > 0 && (user[len(user)-1] == "root" || user[len(user)-1] == "0") {
		t.Errorf("%s: User=%s", unitFile, user[len(user)-1])
	}
	want := map[string]string{
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"PrivateUsers":            "no", // capabilities in a user namespace of its own would not reach the host
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"SystemCallArchitectures": "native",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("%s: %s=%s, want %s", unitFile, k, got, v)
		}
	}
	if start := u.one(t, "Service", "ExecStart"); !strings.Contains(start, "--config="+configPath) {
		t.Errorf("%s: ExecStart=%s does not read %s", unitFile, start, configPath)
	}
	// The program needs bpf(); an allow list without it would fail in a way
	// that looks like a missing capability.
	if f := u["Service"]["SystemCallFilter"]; len(f) > 0 && !slices.Contains(strings.Fields(f[0]), "bpf") {
		t.Errorf("%s: SystemCallFilter=%s does not allow bpf", unitFile, f[0])
	}
	for _, f := range u["Service"]["SystemCallFilter"][min(1, len(u["Service"]["SystemCallFilter"])):] {
		if strings.HasPrefix(f, "~") {
			t.Errorf("%s: SystemCallFilter=%s: a deny list after the allow list may take bpf away again (@privileged holds it)", unitFile, f)
		}
	}
}
