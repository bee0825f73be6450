// Package deploy checks the deployment files shipped in this directory: the
// systemd unit with systemd-analyze, the Kubernetes manifests by decoding
// them strictly into the Kubernetes API types, and the collector
// configuration in the ConfigMap with the built collector's validate
// command; and what `make dist image package` builds from: version.sh
// against scratch git repositories, the package scripts as dpkg and rpm call
// them (with a fake systemctl), the Containerfile and the default
// configuration. Nothing here needs root or the network; the collector
// binary comes from `make build`. e2e/release_test.go tests the built
// artifacts themselves.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	unitFile     = "otelcol-xdp.service"
	manifestFile = "kubernetes/daemonset.yaml"
	// binary is built by `make build`, relative to this directory.
	binary = "../dist/otelcol-xdp"
	// configPath is where both deployments keep the collector configuration.
	configPath = "/etc/otelcol-xdp/config.yaml"
	// healthPort is the health_check extension's port, the probes' target.
	healthPort = 13133
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

// manifests holds the decoded documents of the Kubernetes manifest.
type manifests struct {
	namespace *corev1.Namespace
	configMap *corev1.ConfigMap
	daemonSet *appsv1.DaemonSet
}

// readManifests decodes every document of the manifest strictly: an unknown
// or misspelled field, a duplicate key or a value of the wrong type fails.
func readManifests(t *testing.T) manifests {
	t.Helper()
	b, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var m manifests
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s: document %d: %v", manifestFile, i, err)
		}
		var obj any
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "v1/Namespace":
			m.namespace = &corev1.Namespace{}
			obj = m.namespace
		case "v1/ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "apps/v1/DaemonSet":
			m.daemonSet = &appsv1.DaemonSet{}
			obj = m.daemonSet
		default:
			t.Fatalf("%s: document %d is a %s, which this test does not check", manifestFile, i, gvk)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: document %d (%s): %v", manifestFile, i, tm.Kind, err)
		}
	}
	if m.namespace == nil || m.configMap == nil || m.daemonSet == nil {
		t.Fatalf("%s: want a Namespace, a ConfigMap and a DaemonSet", manifestFile)
	}
	return m
}

// TestKubernetesDaemonSet checks the DaemonSet's security properties (host
// network, not privileged, all capabilities dropped and exactly the unit's
// added, no escalation), its wiring (namespace, selector, ConfigMap,
// configuration path, probes on the health_check port) and resources.
func TestKubernetesDaemonSet(t *testing.T) {
	m := readManifests(t)
	ds := m.daemonSet
	ns := m.namespace.Name
	if ds.Namespace != ns || m.configMap.Namespace != ns {
		t.Errorf("namespaces: Namespace %q, DaemonSet %q, ConfigMap %q", ns, ds.Namespace, m.configMap.Namespace)
	}
	// hostNetwork and added capabilities are outside the baseline level.
	if l := m.namespace.Labels["pod-security.kubernetes.io/enforce"]; l != "privileged" {
		t.Errorf("Namespace %s: pod-security.kubernetes.io/enforce=%q: admission would refuse the pods", ns, l)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatalf("DaemonSet selector: %v", err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("DaemonSet selector %v does not select its pod template's labels %v", sel, ds.Spec.Template.Labels)
	}

	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("hostNetwork is not true: XDP would count the pod's own interface only")
	}
	if pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("dnsPolicy %q: with hostNetwork, cluster names resolve with %s only", pod.DNSPolicy, corev1.DNSClusterFirstWithHostNet)
	}
	if pod.HostPID || pod.HostIPC {
		t.Error("hostPID or hostIPC is set: not needed")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s mounts host path %s: not needed", v.Name, v.HostPath.Path)
		}
	}
	if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
		t.Fatalf("want one container and no init container, got %d and %d", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the container has no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	// Kubernetes grants added capabilities to uid 0 only (no ambient
	// capabilities): the container runs as 0, and must say so, rather than
	// inherit an image's USER that would leave it without them.
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("runAsUser is not 0: a non-root container gets no capabilities without file capabilities and privilege escalation")
	}
	if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot {
		t.Error("runAsNonRoot is true but the container must run as uid 0")
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined ||
		pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil && pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		t.Error("seccomp is Unconfined")
	}
	var drop, add []string
	for _, c := range sc.Capabilities.Drop {
		drop = append(drop, string(c))
	}
	for _, c := range sc.Capabilities.Add {
		add = append(add, "CAP_"+string(c))
	}
	slices.Sort(add)
	if !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop is %v, want [ALL]", drop)
	}
	if want := unitCapabilities(t); !slices.Equal(add, want) {
		t.Errorf("capabilities.add is %v, want the systemd unit's %v", add, want)
	}

	// Configuration: the ConfigMap, mounted where --config points.
	if !slices.Contains(c.Args, "--config="+configPath) {
		t.Errorf("container args %v do not read %s", c.Args, configPath)
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name &&
				vm.MountPath == filepath.Dir(configPath) && vm.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("ConfigMap %s is not mounted read-only at %s", m.configMap.Name, filepath.Dir(configPath))
	}
	if _, ok := m.configMap.Data[filepath.Base(configPath)]; !ok {
		t.Errorf("ConfigMap %s has no %s", m.configMap.Name, filepath.Base(configPath))
	}

	// Probes on the health_check extension's port.
	port := func(p *corev1.Probe) int32 {
		if p == nil || p.HTTPGet == nil {
			return 0
		}
		if n := p.HTTPGet.Port.IntValue(); n != 0 {
			return int32(n)
		}
		for _, cp := range c.Ports {
			if cp.Name == p.HTTPGet.Port.String() {
				return cp.ContainerPort
			}
		}
		return -1
	}
	if got := port(c.ReadinessProbe); got != healthPort {
		t.Errorf("readinessProbe: HTTP port %d, want %d (health_check)", got, healthPort)
	}
	if c.LivenessProbe != nil && port(c.LivenessProbe) != healthPort {
		t.Errorf("livenessProbe: HTTP port %d, want %d (health_check)", port(c.LivenessProbe), healthPort)
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			t.Errorf("resources: %s request or limit missing", r)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("resources: %s request %s above limit %s", r, req.String(), lim.String())
		}
	}
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// TestKubernetesConfigValidates validates the ConfigMap's collector
// configuration with the built collector, in the environment the DaemonSet
// gives the container (status.podIP stands for the pod IP), after checking
// that every variable it uses without a default is set there.
func TestKubernetesConfigValidates(t *testing.T) {
	bin := binaryPath(t)
	m := readManifests(t)
	config := m.configMap.Data[filepath.Base(configPath)]
	c := m.daemonSet.Spec.Template.Spec.Containers[0]

	env := []string{"PATH=" + os.Getenv("PATH")}
	defined := map[string]bool{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("env %s: only status.podIP is expected from valueFrom", e.Name)
				continue
			}
			v = "127.0.0.1"
		}
		defined[e.Name] = true
		env = append(env, e.Name+"="+v)
	}
	for _, ref := range envRef.FindAllStringSubmatch(config, -1) {
		if ref[2] == "" && !defined[ref[1]] {
			t.Errorf("the configuration uses ${env:%s}, which the container's env does not set", ref[1])
		}
	}

	// The health_check extension listens where the probes look.
	var parsed struct {
		Extensions struct {
			HealthCheck struct {
				Endpoint string `json:"endpoint"`
			} `json:"health_check"`
		} `json:"extensions"`
	}
	if err := yaml.Unmarshal([]byte(config), &parsed); err != nil {
		t.Fatalf("the ConfigMap's configuration is not YAML: %v", err)
	}
	if ep := parsed.Extensions.HealthCheck.Endpoint; !strings.HasSuffix(ep, fmt.Sprintf(":%d", healthPort)) {
		t.Errorf("health_check endpoint %q is not on port %d", ep, healthPort)
	}

	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config="+path)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol-xdp validate of the ConfigMap's configuration: %v\n%s\n%s", err, out, config)
	}
	if bytes.Contains(out, []byte("WARN")) || bytes.Contains(out, []byte("warn")) {
		t.Errorf("otelcol-xdp validate warns:\n%s", out)
	}
}
