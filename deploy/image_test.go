package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

const containerfile = "image/Containerfile"

// instruction is one instruction of a Containerfile, continuation lines
// joined.
type instruction struct {
	op, args string
}

func readContainerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(containerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestContainerfile checks the image's recipe for what the offline,
// two-architecture build and the deployments rely on: FROM scratch (nothing
// to pull) and no RUN (nothing to emulate for the other architecture), a
// numeric non-root default user, the entrypoint and the configuration path
// that the unit and the DaemonSet use too, and the OCI labels.
func TestContainerfile(t *testing.T) {
	ins := readContainerfile(t)
	one := func(op string) string {
		t.Helper()
		var args []string
		for _, i := range ins {
			if i.op == op {
				args = append(args, i.args)
			}
		}
		if len(args) != 1 {
			t.Errorf("%s: %d %s instructions, want 1", containerfile, len(args), op)
			return ""
		}
		return args[0]
	}
	if from := one("FROM"); from != "scratch" {
		t.Errorf("%s: FROM %s, want scratch", containerfile, from)
	}
	for _, i := range ins {
		if i.op == "RUN" {
			t.Errorf("%s: RUN %s: the build must run nothing (another architecture would need emulation)", containerfile, i.args)
		}
	}
	if user := one("USER"); user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") ||
		strings.Trim(user, "0123456789:") != "" {
		t.Errorf("%s: USER %q, want a numeric non-root uid:gid", containerfile, user)
	}
	var entrypoint, cmd []string
	if err := json.Unmarshal([]byte(one("ENTRYPOINT")), &entrypoint); err != nil || !slices.Equal(entrypoint, []string{"/otelcol-xdp"}) {
		t.Errorf("%s: ENTRYPOINT %v (%v), want [\"/otelcol-xdp\"] in exec form", containerfile, entrypoint, err)
	}
	if err := json.Unmarshal([]byte(one("CMD")), &cmd); err != nil || !slices.Equal(cmd, []string{"--config=" + configPath}) {
		t.Errorf("%s: CMD %v (%v), want [\"--config=%s\"] in exec form", containerfile, cmd, err, configPath)
	}
	copied := map[string]bool{}
	for _, i := range ins {
		if i.op == "COPY" {
			f := strings.Fields(i.args)
			copied[f[len(f)-1]] = true
		}
	}
	for _, dst := range []string{"/otelcol-xdp", configPath, "/etc/ssl/certs/ca-certificates.crt"} {
		if !copied[dst] {
			t.Errorf("%s: nothing is copied to %s", containerfile, dst)
		}
	}

	labels := one("LABEL")
	for _, l := range []string{"title", "description", "source", "url", "version", "revision", "created"} {
		if !strings.Contains(labels, "org.opencontainers.image."+l+"=") {
			t.Errorf("%s: no label org.opencontainers.image.%s", containerfile, l)
		}
	}
	if !strings.Contains(labels, `org.opencontainers.image.licenses="Apache-2.0"`) {
		t.Errorf("%s: the licenses label is not Apache-2.0", containerfile)
	}
}
