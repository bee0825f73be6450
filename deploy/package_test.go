package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// systemdRuntimeDir is how the package scripts tell whether systemd runs
// (sd_booted()); the tests point a copy of each script elsewhere.
const systemdRuntimeDir = "/run/systemd/system"

// scriptCase is one call of a package script and the systemctl commands it
// must run, with systemd running and without.
type scriptCase struct {
	args             []string
	running, offline []string
}

const unitName = "otelcol-xdp.service"

// scriptCases are the calls dpkg (words) and rpm (counts) make of each
// script, and what each must do.
var scriptCases = map[string][]scriptCase{
	"postinstall.sh": {
		// dpkg: a first installation has no previously configured version.
		{[]string{"configure", ""}, []string{"daemon-reload", "enable --now " + unitName}, []string{"enable " + unitName}},
		{[]string{"configure"}, []string{"daemon-reload", "enable --now " + unitName}, []string{"enable " + unitName}},
		// dpkg: an upgrade, or a reinstallation after dpkg -r.
		{[]string{"configure", "0.1.0-1"}, []string{"daemon-reload", "try-restart " + unitName}, nil},
		{[]string{"abort-upgrade", "0.2.0-1"}, nil, nil},
		{[]string{"abort-remove"}, nil, nil},
		// rpm: installation, then upgrades, where the old package's
		// %postun restarts.
		{[]string{"1"}, []string{"daemon-reload", "enable --now " + unitName}, []string{"enable " + unitName}},
		{[]string{"2"}, []string{"daemon-reload"}, nil},
		{[]string{"12"}, []string{"daemon-reload"}, nil},
	},
	"preremove.sh": {
		{[]string{"remove"}, []string{"stop " + unitName, "disable " + unitName}, []string{"disable " + unitName}},
		{[]string{"upgrade", "0.2.0-1"}, nil, nil},
		{[]string{"deconfigure", "in-favour", "other", "1"}, nil, nil}, //nolint:misspell // dpkg's own word
		{[]string{"failed-upgrade", "0.1.0-1"}, nil, nil},
		{[]string{"0"}, []string{"stop " + unitName, "disable " + unitName}, []string{"disable " + unitName}},
		{[]string{"1"}, nil, nil},
	},
	"postremove.sh": {
		{[]string{"remove"}, []string{"daemon-reload"}, nil},
		{[]string{"purge"}, []string{"daemon-reload"}, nil},
		{[]string{"upgrade", "0.2.0-1"}, nil, nil},
		{[]string{"disappear", "other", "1"}, nil, nil},
		{[]string{"abort-install"}, nil, nil},
		{[]string{"0"}, []string{"daemon-reload"}, nil},
		{[]string{"1"}, []string{"daemon-reload", "try-restart " + unitName}, nil},
	},
}

// scriptEnv prepares a copy of script whose systemd check looks at a
// directory that exists when running is true, and a fake systemctl that
// logs its arguments and exits with exit. It returns the copy, the PATH to
// run it with and the log.
func scriptEnv(t *testing.T, script string, running bool, exit int) (copyPath, path, log string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("package", script))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(systemdRuntimeDir)); n != 1 {
		t.Fatalf("package/%s mentions %s %d times; this test expects its one systemd check there", script, systemdRuntimeDir, n)
	}
	dir := t.TempDir()
	runtimeDir := filepath.Join(dir, "run-systemd-system")
	if running {
		if err := os.Mkdir(runtimeDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyPath = filepath.Join(dir, script)
	if err := os.WriteFile(copyPath, bytes.ReplaceAll(b, []byte(systemdRuntimeDir), []byte(runtimeDir)), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	log = filepath.Join(dir, "systemctl.log")
	fake := fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%s\nexit %d\n", log, exit)
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	return copyPath, bin, log
}

// shells are the /bin/sh of Debian (dash) and of rpm-based distributions
// (bash).
var shells = []string{"dash", "bash"}

func runScript(t *testing.T, shell, script, path string, args []string) (stderr string, err error) {
	t.Helper()
	cmd := exec.Command(shell, append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + path}
	var e bytes.Buffer
	cmd.Stderr = &e
	err = cmd.Run()
	return e.String(), err
}

func loggedCalls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestPackageScripts runs the package scripts as dpkg and rpm call them,
// with systemd running and without, in both shells, and checks the
// systemctl commands each runs: a first installation enables (and starts,
// where systemd runs), an upgrade restarts only a running service and keeps
// whether it is enabled, a removal stops and disables, nothing fails.
func TestPackageScripts(t *testing.T) {
	for _, shell := range shells {
		if _, err := exec.LookPath(shell); err != nil {
			t.Fatalf("%s is needed to run the package scripts as both families of distributions do: %v", shell, err)
		}
	}
	scripts, err := filepath.Glob("package/*.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		if _, ok := scriptCases[filepath.Base(s)]; !ok {
			t.Errorf("%s has no cases in scriptCases", s)
		}
	}
	for script, cases := range scriptCases {
		for _, c := range cases {
			for _, running := range []bool{true, false} {
				want := c.offline
				state := "offline"
				if running {
					want, state = c.running, "running"
				}
				for _, shell := range shells {
					name := fmt.Sprintf("%s/%s/%s/%s", script, strings.Join(c.args, ","), state, shell)
					t.Run(name, func(t *testing.T) {
						copyPath, path, log := scriptEnv(t, script, running, 0)
						stderr, err := runScript(t, shell, copyPath, path, c.args)
						if err != nil {
							t.Fatalf("%s %s: %v\n%s", script, strings.Join(c.args, " "), err, stderr)
						}
						if got := loggedCalls(t, log); !slices.Equal(got, want) {
							t.Errorf("systemctl calls %q, want %q", got, want)
						}
					})
				}
			}
		}
	}
}

// TestPackageScriptsNeverFail checks that the scripts succeed when
// systemctl fails, saying so, and when there is no systemctl at all.
func TestPackageScriptsNeverFail(t *testing.T) {
	for script, cases := range scriptCases {
		args := cases[0].args // the first case of each calls systemctl
		copyPath, path, log := scriptEnv(t, script, true, 1)
		stderr, err := runScript(t, "dash", copyPath, path, args)
		if err != nil {
			t.Errorf("%s %s with a failing systemctl: %v\n%s", script, strings.Join(args, " "), err, stderr)
		}
		if len(loggedCalls(t, log)) == 0 || !strings.Contains(stderr, "failed") {
			t.Errorf("%s %s with a failing systemctl: calls %q, stderr %q; want calls and a warning", script, strings.Join(args, " "), loggedCalls(t, log), stderr)
		}

		stderr, err = runScript(t, "dash", copyPath, t.TempDir(), args)
		if err != nil || stderr != "" {
			t.Errorf("%s %s without systemctl: %v, stderr %q; want success and silence", script, strings.Join(args, " "), err, stderr)
		}
	}
}
