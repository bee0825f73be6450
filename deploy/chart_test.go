package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	chartDir = "helm/otelcol-xdp"
	// The release and namespace of the README's install command.
	releaseName = "otelcol-xdp"
	namespace   = "otelcol-xdp"

	// collectorRSS is the collector's own resident memory with the chart's
	// default configuration, with room: `make bench-memory`
	// (e2e/kube_memory_test.go) runs dist/otelcol-xdp with k8sattributes
	// watching a real API server, counting on 110 pods' veths, 10 of them
	// busy, for 5 minutes, its endpoints requested twice a second, on a
	// 2-CPU machine. It peaked at VmHWM 70.7 MiB, of which 51.1 MiB
	// file-backed (the binary's pages, binaryRSS) and 19.6 MiB anonymous;
	// with pods.enabled=false, 64.7 MiB, 46.4 of them the binary's (two
	// runs: up to 3 MiB apart).
	collectorRSS = 80 << 20
	binaryRSS    = 56 << 20

	// The counters' kernel memory, as values.yaml gives it: per possible
	// CPU, 640 bytes for each of max_interfaces interfaces and one more
	// slot, plus 1 MiB for the map of interface indexes and the programs.
	defaultMaxInterfaces = 512
	counterSlotBytes     = 640
	counterFixedBytes    = 1 << 20
)

// countersBytes is the kernel memory of the counters of xdp receivers that
// count slots slots in all, on nodes with cpus possible CPUs.
func countersBytes(cpus, slots int64) int64 {
	return slots*counterSlotBytes*cpus + counterFixedBytes
}

// counterSlots is the number of counter slots of config's xdp receivers:
// max_interfaces + 1 each, the receiver's default where it is not set.
func counterSlots(t *testing.T, config collectorConfig) int64 {
	t.Helper()
	var n int64
	for id, r := range config.Receivers {
		if id != "xdp" && !strings.HasPrefix(id, "xdp/") {
			continue
		}
		m := int64(defaultMaxInterfaces)
		if v, ok := r["max_interfaces"]; ok {
			f, ok := v.(float64)
			if !ok {
				t.Fatalf("receivers::%s::max_interfaces is %v", id, v)
			}
			m = int64(f)
		}
		n += m + 1
	}
	if n == 0 {
		t.Fatal("the configuration has no xdp receiver")
	}
	return n
}

// helm runs the helm that `make test` names in HELM, in dir, with its
// configuration, cache and data in a temporary directory, and returns its
// standard output.
func helm(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Fatal("HELM is not set: `make test` installs the pinned helm into .cache/bin and sets HELM to it; " +
			"by hand, `make -C .. helm` and HELM=<repository>/.cache/bin/helm-<version>/helm")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// release holds the objects that the chart rendered.
type release struct {
	serviceAccount     *corev1.ServiceAccount
	configMap          *corev1.ConfigMap
	daemonSet          *appsv1.DaemonSet
	service            *corev1.Service
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
}

// objects returns the release's namespaced objects.
func (r *release) objects() []metav1.Object {
	var objs []metav1.Object
	if r.serviceAccount != nil {
		objs = append(objs, r.serviceAccount)
	}
	if r.service != nil {
		objs = append(objs, r.service)
	}
	return append(objs, r.configMap, r.daemonSet)
}

// clusterObjects returns the release's cluster-scoped objects.
func (r *release) clusterObjects() []metav1.Object {
	var objs []metav1.Object
	if r.clusterRole != nil {
		objs = append(objs, r.clusterRole)
	}
	if r.clusterRoleBinding != nil {
		objs = append(objs, r.clusterRoleBinding)
	}
	return objs
}

var (
	documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)
	commentLine       = regexp.MustCompile(`(?m)^#.*$`)
)

// newObject points *p at a new T for decoding into, failing when the
// rendering had one already.
func newObject[T any](t *testing.T, p **T, kind string) *T {
	t.Helper()
	if *p != nil {
		t.Fatalf("the chart rendered more than one %s", kind)
	}
	*p = new(T)
	return *p
}

// decodeRelease decodes every document that helm rendered strictly: an
// unknown or misspelled field, a duplicate key or a value of the wrong type
// fails, and so does a kind this test does not check.
func decodeRelease(t *testing.T, manifest string) release {
	t.Helper()
	var r release
	for i, doc := range documentSeparator.Split(manifest, -1) {
		if strings.TrimSpace(commentLine.ReplaceAllString(doc, "")) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		var obj any
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "v1/ServiceAccount":
			obj = newObject(t, &r.serviceAccount, gvk)
		case "v1/ConfigMap":
			obj = newObject(t, &r.configMap, gvk)
		case "apps/v1/DaemonSet":
			obj = newObject(t, &r.daemonSet, gvk)
		case "v1/Service":
			obj = newObject(t, &r.service, gvk)
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			obj = newObject(t, &r.clusterRole, gvk)
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			obj = newObject(t, &r.clusterRoleBinding, gvk)
		default:
			t.Fatalf("document %d is a %s, which this test does not check:\n%s", i, gvk, doc)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("document %d (%s): %v\n%s", i, tm.Kind, err, doc)
		}
	}
	if r.configMap == nil || r.daemonSet == nil {
		t.Fatalf("the chart rendered no ConfigMap or no DaemonSet:\n%s", manifest)
	}
	return r
}

// render runs helm lint --strict and helm template on the chart with args
// (value flags), and decodes what it renders.
func render(t *testing.T, args ...string) release {
	t.Helper()
	if out, err := helm(t, ".", append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, args...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := helm(t, ".", append([]string{"template", releaseName, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeRelease(t, out)
}

// chartValues reads the chart's values.yaml.
func chartValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// valuesFile writes values (YAML) into a temporary file for -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// chartCase is a set of values to render the chart with, and what the
// release must then hold besides what checkRelease requires of every one.
type chartCase struct {
	name string
	args []string
	// nodeCPUs is the nodeCPUs value that args set, 0 for the default.
	nodeCPUs int64
	// perfmon: args add the capability PERFMON.
	perfmon bool
	// service: the release has the Prometheus Service.
	service bool
	// exporters of the rendered configuration's pipeline.
	exporters []string
	// ownConfig is the configuration file that the chart must render as is.
	ownConfig string
	// podsOff: args turn pods off.
	podsOff bool
	// account is the existing ServiceAccount that args name, "" for the
	// chart's own.
	account string
}

func ownConfigValues(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/own-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := yaml.Unmarshal(b, &config); err != nil {
		t.Fatal(err)
	}
	values, err := yaml.Marshal(map[string]any{"config": config})
	if err != nil {
		t.Fatal(err)
	}
	return valuesFile(t, string(values))
}

// TestChart renders the chart with its defaults and with each feature
// turned on or off, and checks every rendering with checkRelease.
func TestChart(t *testing.T) {
	for _, c := range []chartCase{
		{name: "defaults", exporters: []string{"prometheus"}},
		{
			name:      "Prometheus Service",
			args:      []string{"--set", "prometheus.service.enabled=true"},
			service:   true,
			exporters: []string{"prometheus"},
		},
		{
			name: "OTLP and Prometheus on other ports",
			args: []string{"--set", "otlp.enabled=true", "--set", "otlp.endpoint=otel-gateway.observability:4317",
				"--set", "otlp.insecure=true", "--set", "prometheus.port=9465", "--set", "healthCheck.port=13134",
				"--set", "prometheus.service.enabled=true"},
			service:   true,
			exporters: []string{"prometheus", "otlp_grpc"},
		},
		{
			name: "OTLP over HTTP only, with a header from a secret",
			args: []string{"-f", valuesFile(t, `
prometheus:
  enabled: false
  service: {enabled: true}
otlp:
  enabled: true
  protocol: http
  endpoint: https://otlp.example.com
  headers: {api-key: "${env:OTLP_API_KEY}"}
extraEnv:
  - name: OTLP_API_KEY
    valueFrom: {secretKeyRef: {name: otlp, key: api-key}}
`)},
			exporters: []string{"otlp_http"},
		},
		{
			name: "large nodes",
			args: []string{"--set", "nodeCPUs=512", "--set", "resources.limits.memory=1Gi",
				"--set", "resources.requests.memory=512Mi"},
			nodeCPUs:  512,
			exporters: []string{"prometheus"},
		},
		{
			name: "many interfaces, receive only",
			args: []string{"--set", "xdp.maxInterfaces=2048", "--set", "xdp.directions={receive}",
				"--set", "resources.limits.memory=512Mi"},
			exporters: []string{"prometheus"},
		},
		{
			name: "collector's own metrics, every interface in generic mode, a kernel before 5.18",
			args: []string{"--set", "telemetry.metricsPort=8888", "--set", "xdp.interfaces={*}", "--set", "xdp.excludeInterfaces={lo,veth*}",
				"--set", "xdp.attachMode=generic", "--set", "perfmon=true"},
			perfmon:   true,
			exporters: []string{"prometheus"},
		},
		{
			name:      "own configuration from a file",
			args:      []string{"--set-file", "config=testdata/own-config.yaml", "--set", "prometheus.service.enabled=true"},
			service:   true,
			ownConfig: "testdata/own-config.yaml",
		},
		{
			name:      "own configuration in values",
			args:      []string{"-f", ownConfigValues(t)},
			ownConfig: "testdata/own-config.yaml",
		},
		{
			name:      "pods off",
			args:      []string{"--set", "pods.enabled=false"},
			podsOff:   true,
			exporters: []string{"prometheus"},
		},
		{
			name:      "pods off, own configuration",
			args:      []string{"--set", "pods.enabled=false", "--set-file", "config=testdata/own-config.yaml"},
			podsOff:   true,
			ownConfig: "testdata/own-config.yaml",
		},
		{
			name: "pods of an IPv6-first cluster, an existing account, OTLP only",
			args: []string{"--set", "pods.ipFamily=ipv6", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=collector",
				"--set", "prometheus.enabled=false", "--set", "otlp.enabled=true", "--set", "otlp.endpoint=otel-gateway.observability:4317"},
			account:   "collector",
			exporters: []string{"otlp_grpc"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, c.args...)
			config := checkRelease(t, r, c)
			if (r.service != nil) != c.service {
				t.Errorf("Service rendered: %v, want %v", r.service != nil, c.service)
			}
			if c.ownConfig != "" {
				checkOwnConfig(t, config, c.ownConfig)
				return
			}
			if got := pipelineExporters(t, config); !slices.Equal(got, c.exporters) {
				t.Errorf("the pipeline's exporters are %v, want %v", got, c.exporters)
			}
		})
	}
}

// TestChartPodsIPFamily checks that pods.ipFamily is the receiver's
// pods::ip_family: ipv4 by default, the family that k8s_attributes finds a
// dual-stack pod by unless the cluster lists IPv6 first.
func TestChartPodsIPFamily(t *testing.T) {
	family := func(args ...string) any {
		out, err := helm(t, ".", append([]string{"template", releaseName, chartDir, "--show-only", "templates/configmap.yaml"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict([]byte(out), &cm); err != nil {
			t.Fatal(err)
		}
		pods, _ := parseConfig(t, cm.Data["config.yaml"]).Receivers["xdp"]["pods"].(map[string]any)
		return pods["ip_family"]
	}
	if f := family(); f != "ipv4" {
		t.Errorf("by default, pods::ip_family %v, want ipv4", f)
	}
	if f := family("--set", "pods.ipFamily=ipv6"); f != "ipv6" {
		t.Errorf("pods::ip_family %v, want ipv6", f)
	}
}

// goldenCases are the renderings of the chart from before it attributed
// pods, in testdata/golden/chart-NAME.yaml, by the values they were
// rendered with (each file's header says how): the defaults, every other
// value changed, and an own configuration with an existing account.
var goldenCases = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"features", []string{"-f", "testdata/chart-features.yaml"}},
	{"own-config", []string{"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=collector",
		"--set", "fullnameOverride=xdp", "--set-file", "config=testdata/own-config.yaml"}},
}

// manifestObjects decodes each object of a rendering into JSON values, by
// kind and name; comments and empty documents are no objects.
func manifestObjects(t *testing.T, manifest string) map[string]any {
	t.Helper()
	objs := map[string]any{}
	for i, doc := range documentSeparator.Split(manifest, -1) {
		if strings.TrimSpace(commentLine.ReplaceAllString(doc, "")) == "" {
			continue
		}
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		var v any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		key := obj.Kind + "/" + obj.Metadata.Name
		if _, dup := objs[key]; dup {
			t.Fatalf("two objects %s", key)
		}
		objs[key] = v
	}
	return objs
}

// TestChartPodsOff checks that pods.enabled=false renders the objects that
// the chart rendered before it attributed pods, every field the same (the
// configuration's text included), for the values of goldenCases.
func TestChartPodsOff(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("testdata", "golden", "chart-"+c.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"template", releaseName, chartDir, "--namespace", namespace, "--set", "pods.enabled=false"}, c.args...)
			out, err := helm(t, ".", args...)
			if err != nil {
				t.Fatal(err)
			}
			want, got := manifestObjects(t, string(golden)), manifestObjects(t, out)
			for key, w := range want {
				g, ok := got[key]
				if !ok {
					t.Errorf("%s is no longer rendered", key)
					continue
				}
				if !reflect.DeepEqual(g, w) {
					wy, _ := yaml.Marshal(w)
					gy, _ := yaml.Marshal(g)
					t.Errorf("%s differs from testdata/golden/chart-%s.yaml:\n--- want\n%s\n--- got\n%s", key, c.name, wy, gy)
				}
			}
			for key := range got {
				if _, ok := want[key]; !ok {
					t.Errorf("%s is rendered, which the chart did not render before", key)
				}
			}
		})
	}
}

// checkOwnConfig checks that the rendered configuration is the file's.
func checkOwnConfig(t *testing.T, config, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(config), &got); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := yaml.Marshal(want)
	gotJSON, _ := yaml.Marshal(got)
	if !bytes.Equal(wantJSON, gotJSON) {
		t.Errorf("the rendered configuration is not %s:\n%s", file, config)
	}
}

// collectorConfig is what the tests read of a collector configuration.
type collectorConfig struct {
	Receivers  map[string]map[string]any `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
	Extensions map[string]map[string]any `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

func parseConfig(t *testing.T, config string) collectorConfig {
	t.Helper()
	var c collectorConfig
	if err := yaml.Unmarshal([]byte(config), &c); err != nil {
		t.Fatalf("the rendered collector configuration is not YAML: %v\n%s", err, config)
	}
	return c
}

func pipelineExporters(t *testing.T, config string) []string {
	t.Helper()
	return parseConfig(t, config).Service.Pipelines["metrics"].Exporters
}

// endpointPort returns the port of a component's endpoint (host:port),
// checking that it listens on the pod IP, where the kubelet's probes and
// Prometheus reach it, and not on loopback.
func endpointPort(t *testing.T, component string, settings map[string]any) int32 {
	t.Helper()
	ep, _ := settings["endpoint"].(string)
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		t.Errorf("%s: endpoint %q: %v", component, ep, err)
		return 0
	}
	if host != "${env:POD_IP}" && host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: endpoint %q listens on %s: the kubelet and Prometheus reach the pod at its IP, ${env:POD_IP}", component, ep, host)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Errorf("%s: endpoint %q: port: %v", component, ep, err)
	}
	return int32(n)
}

// checkRelease checks what every rendering must hold, and returns the
// collector configuration:
//   - names, namespaces and labels of every object;
//   - the DaemonSet's security: host network, not privileged, all
//     capabilities dropped and exactly the systemd unit's added, uid 0
//     without escalation, a read-only root filesystem, seccomp;
//   - its ServiceAccount, which mounts no token, and the pods' token, mounted
//     only with pods on;
//   - with pods on, the RBAC, K8S_NODE_NAME and k8s_attributes (checkPods);
//     with pods off, none of them;
//   - the configuration: the ConfigMap mounted where --config points, valid
//     for the built collector in the container's environment;
//   - the probes on the configuration's health_check port, the metrics port
//     on its prometheus exporter's, the Service on that;
//   - resources, with a memory limit that holds the collector and the
//     counters at c.nodeCPUs, and GOMEMLIMIT within it.
func checkRelease(t *testing.T, r release, c chartCase) string {
	t.Helper()
	if c.nodeCPUs == 0 {
		c.nodeCPUs = int64(chartValues(t)["nodeCPUs"].(float64))
	}
	ds := r.daemonSet
	for _, obj := range r.objects() {
		if obj.GetNamespace() != namespace {
			t.Errorf("%s: namespace %q, want the release's %q", obj.GetName(), obj.GetNamespace(), namespace)
		}
	}
	for _, obj := range r.clusterObjects() {
		if obj.GetNamespace() != "" {
			t.Errorf("%s: namespace %q on a cluster-scoped object", obj.GetName(), obj.GetNamespace())
		}
	}
	for _, obj := range slices.Concat(r.objects(), r.clusterObjects()) {
		l := obj.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s: no label %s", obj.GetName(), k)
			}
		}
		if l["app.kubernetes.io/instance"] != releaseName || l["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: labels %v", obj.GetName(), l)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatalf("DaemonSet selector: %v", err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("DaemonSet selector %v does not select its pod template's labels %v", sel, ds.Spec.Template.Labels)
	}
	if _, ok := ds.Spec.Selector.MatchLabels["app.kubernetes.io/version"]; ok {
		t.Error("the DaemonSet's selector holds the version: an upgrade could not change it")
	}
	if u := ds.Spec.UpdateStrategy; u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil || u.RollingUpdate.MaxUnavailable == nil {
		t.Errorf("updateStrategy %+v: want RollingUpdate with maxUnavailable", u)
	}
	if ds.Spec.Template.Annotations["checksum/config"] == "" {
		t.Error("the pod template has no checksum/config annotation: a new configuration would not roll the pods")
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
	for i := range pod.Volumes {
		if v := &pod.Volumes[i]; v.HostPath != nil {
			t.Errorf("volume %s mounts host path %s: not needed", v.Name, v.HostPath.Path)
		}
	}
	// The token: mounted in the collector's pods when k8s_attributes
	// needs it, never by the account for other pods.
	automount := pod.AutomountServiceAccountToken
	switch {
	case c.podsOff && (automount == nil || *automount):
		t.Error("the pod mounts a service account token: without pods the collector calls no Kubernetes API")
	case !c.podsOff && (automount == nil || !*automount):
		t.Error("automountServiceAccountToken is not true with pods on: k8s_attributes needs the token")
	}
	if c.account != "" {
		if r.serviceAccount != nil || pod.ServiceAccountName != c.account {
			t.Errorf("the pod's serviceAccountName %q, ServiceAccount rendered %v: want the existing account %s", pod.ServiceAccountName, r.serviceAccount != nil, c.account)
		}
	} else if sa := r.serviceAccount; sa == nil || pod.ServiceAccountName != sa.Name {
		t.Errorf("the pod's serviceAccountName %q is not the chart's ServiceAccount", pod.ServiceAccountName)
	} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s: automountServiceAccountToken is not false", sa.Name)
	}
	if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
		t.Fatalf("want one container and no init container, got %d and %d", len(pod.Containers), len(pod.InitContainers))
	}
	ctr := pod.Containers[0]
	checkSecurityContext(t, &pod, &ctr, c.perfmon)

	// Configuration: the ConfigMap, mounted where --config points.
	if !slices.Contains(ctr.Args, "--config="+configPath) {
		t.Errorf("container args %v do not read %s", ctr.Args, configPath)
	}
	mounted := false
	for _, vm := range ctr.VolumeMounts {
		for i := range pod.Volumes {
			if v := &pod.Volumes[i]; v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == r.configMap.Name &&
				vm.MountPath == filepath.Dir(configPath) && vm.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("ConfigMap %s is not mounted read-only at %s", r.configMap.Name, filepath.Dir(configPath))
	}
	config, ok := r.configMap.Data[filepath.Base(configPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", r.configMap.Name, filepath.Base(configPath))
	}
	validateConfig(t, config, &ctr)
	parsed := parseConfig(t, config)
	checkPods(t, r, &ctr, parsed, c)

	// Probes on the health_check extension's port.
	containerPort := func(name string) int32 {
		for _, cp := range ctr.Ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
		return 0
	}
	probePort := func(p *corev1.Probe) int32 {
		if p == nil || p.HTTPGet == nil {
			return 0
		}
		if n := p.HTTPGet.Port.IntValue(); n != 0 {
			return int32(n)
		}
		return containerPort(p.HTTPGet.Port.String())
	}
	health, ok := parsed.Extensions["health_check"]
	if !ok || !slices.Contains(parsed.Service.Extensions, "health_check") {
		t.Fatalf("the configuration has no health_check extension in service::extensions: the probes would fail\n%s", config)
	}
	healthPort := endpointPort(t, "health_check", health)
	if got := probePort(ctr.ReadinessProbe); got != healthPort {
		t.Errorf("readinessProbe: HTTP port %d, want %d (health_check)", got, healthPort)
	}
	if got := probePort(ctr.LivenessProbe); got != healthPort {
		t.Errorf("livenessProbe: HTTP port %d, want %d (health_check)", got, healthPort)
	}

	// The metrics port is the prometheus exporter's, and the Service's.
	var metricsPort int32
	for name, settings := range parsed.Exporters {
		if name == "prometheus" || strings.HasPrefix(name, "prometheus/") {
			metricsPort = endpointPort(t, name, settings)
		}
	}
	if got := containerPort("metrics"); got != metricsPort {
		t.Errorf("container port metrics: %d, want the prometheus exporter's %d (0: none)", got, metricsPort)
	}
	if s := r.service; s != nil {
		checkService(t, s, ds, metricsPort)
	}

	checkResources(t, &ctr, parsed, c.nodeCPUs)
	return config
}

// podRules are the permissions that the chart asks for with pods on, as
// apiGroup/resource:verb: reading the pods that k8s_attributes names, and
// the namespaces and ReplicaSets behind their namespace and deployment
// metadata. Nothing else: no write verb, no wildcard, no other resource.
var podRules = []string{
	"/namespaces:get", "/namespaces:list", "/namespaces:watch",
	"/pods:get", "/pods:list", "/pods:watch",
	"apps/replicasets:get", "apps/replicasets:list", "apps/replicasets:watch",
}

// podAttributes are the resource attributes that k8s_attributes must
// extract with pods on, and that the Prometheus exporter must then put on
// every series, with the receiver's k8s.pod.ip.
var podAttributes = []string{"k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name", "k8s.deployment.name", "k8s.node.name"}

// k8sAttributes is what the tests read of the k8s_attributes processor's
// settings.
type k8sAttributes struct {
	Filter struct {
		NodeFromEnvVar string `json:"node_from_env_var"`
	} `json:"filter"`
	PodAssociation []struct {
		Sources []struct {
			From string `json:"from"`
			Name string `json:"name"`
		} `json:"sources"`
	} `json:"pod_association"`
	Extract struct {
		Metadata []string `json:"metadata"`
	} `json:"extract"`
}

// checkPods checks what pods on adds to the release, and that pods off
// adds none of it: a ClusterRole that reads exactly podRules, bound to the
// pods' ServiceAccount in the release's namespace; K8S_NODE_NAME from the
// downward API; and, in the configuration the chart renders, the
// receiver's pods on the pods' veths, k8s_attributes in the pipeline on
// that node's pods, associating by k8s.pod.ip, and their attributes on
// every Prometheus series.
func checkPods(t *testing.T, r release, ctr *corev1.Container, config collectorConfig, c chartCase) {
	t.Helper()
	var nodeName *corev1.EnvVar
	for i := range ctr.Env {
		if ctr.Env[i].Name == "K8S_NODE_NAME" {
			nodeName = &ctr.Env[i]
		}
	}
	pipeline := config.Service.Pipelines["metrics"].Processors
	if c.podsOff {
		if r.clusterRole != nil || r.clusterRoleBinding != nil {
			t.Error("pods off, but the chart renders a ClusterRole or ClusterRoleBinding")
		}
		if nodeName != nil {
			t.Error("pods off, but the container has K8S_NODE_NAME")
		}
		if _, ok := config.Processors["k8s_attributes"]; ok && c.ownConfig == "" || slices.Contains(pipeline, "k8s_attributes") {
			t.Errorf("pods off, but the configuration has k8s_attributes (pipeline %v)", pipeline)
		}
		return
	}

	role, binding := r.clusterRole, r.clusterRoleBinding
	if role == nil || binding == nil {
		t.Fatal("pods on, but the chart renders no ClusterRole or no ClusterRoleBinding")
	}
	var rules []string
	for _, rule := range role.Rules {
		if len(rule.NonResourceURLs) != 0 || len(rule.ResourceNames) != 0 {
			t.Errorf("ClusterRole %s: rule %+v names URLs or resource names", role.Name, rule)
		}
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					rules = append(rules, g+"/"+res+":"+v)
				}
			}
		}
	}
	slices.Sort(rules)
	if !slices.Equal(rules, podRules) || role.AggregationRule != nil {
		t.Errorf("ClusterRole %s grants %v (aggregation %v), want exactly %v", role.Name, rules, role.AggregationRule, podRules)
	}
	if ref := binding.RoleRef; ref.APIGroup != rbacv1.GroupName || ref.Kind != "ClusterRole" || ref.Name != role.Name {
		t.Errorf("ClusterRoleBinding %s refers to %+v, want the ClusterRole %s", binding.Name, ref, role.Name)
	}
	account := r.daemonSet.Spec.Template.Spec.ServiceAccountName
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: namespace}
	if len(binding.Subjects) != 1 || binding.Subjects[0] != want {
		t.Errorf("ClusterRoleBinding %s binds %+v, want only the pods' ServiceAccount %+v", binding.Name, binding.Subjects, want)
	}
	if account == "" || account == "default" {
		t.Errorf("the ClusterRole is bound to the account %q, which other pods of the namespace use", account)
	}
	if nodeName == nil || nodeName.Value != "" || nodeName.ValueFrom == nil || nodeName.ValueFrom.FieldRef == nil ||
		nodeName.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("K8S_NODE_NAME is %+v, want it from the downward API's spec.nodeName", nodeName)
	}
	if c.ownConfig != "" {
		return
	}

	// The receiver: pods on, counting the pods' veths.
	xdp := config.Receivers["xdp"]
	if pods, _ := xdp["pods"].(map[string]any); pods["enabled"] != true {
		t.Errorf("receivers::xdp::pods is %v, want enabled", xdp["pods"])
	}
	podInterfaces, _ := chartValues(t)["pods"].(map[string]any)["interfaces"].([]any)
	for _, p := range podInterfaces {
		if !slices.Contains(asSlice(xdp["interfaces"]), p) || slices.Contains(asSlice(xdp["exclude_interfaces"]), p) {
			t.Errorf("the pods' interfaces %v: %v is not counted (interfaces %v, exclude_interfaces %v)",
				podInterfaces, p, xdp["interfaces"], xdp["exclude_interfaces"])
		}
	}

	// k8s_attributes, after the memory_limiter and before the batch, on the
	// node's pods, by k8s.pod.ip.
	i := slices.Index(pipeline, "k8s_attributes")
	if i < 1 || pipeline[0] != "memory_limiter" || slices.Index(pipeline, "batch") < i {
		t.Errorf("the pipeline's processors are %v, want k8s_attributes after memory_limiter and before batch", pipeline)
	}
	b, err := json.Marshal(config.Processors["k8s_attributes"])
	if err != nil {
		t.Fatal(err)
	}
	var k8s k8sAttributes
	if err := json.Unmarshal(b, &k8s); err != nil {
		t.Fatalf("processors::k8s_attributes: %v", err)
	}
	if k8s.Filter.NodeFromEnvVar != nodeName.Name {
		t.Errorf("k8s_attributes: filter::node_from_env_var %q, want %s", k8s.Filter.NodeFromEnvVar, nodeName.Name)
	}
	if a := k8s.PodAssociation; len(a) != 1 || len(a[0].Sources) != 1 ||
		a[0].Sources[0].From != "resource_attribute" || a[0].Sources[0].Name != "k8s.pod.ip" {
		t.Errorf("k8s_attributes: pod_association %+v, want the resource attribute k8s.pod.ip only", a)
	}
	for _, a := range podAttributes {
		if !slices.Contains(k8s.Extract.Metadata, a) {
			t.Errorf("k8s_attributes: extract::metadata %v has no %s", k8s.Extract.Metadata, a)
		}
	}

	// The Prometheus exporter: the pod's attributes on every series.
	for name, settings := range config.Exporters {
		if name != "prometheus" && !strings.HasPrefix(name, "prometheus/") {
			continue
		}
		if _, ok := settings["resource_to_telemetry_conversion"]; ok {
			t.Errorf("exporters::%s: resource_to_telemetry_conversion, deprecated for resource_constant_labels", name)
		}
		constant, _ := settings["resource_constant_labels"].(map[string]any)
		for _, a := range append([]string{"k8s.pod.ip"}, podAttributes...) {
			if !slices.ContainsFunc(asSlice(constant["included"]), func(p any) bool {
				s, _ := p.(string)
				ok, _ := filepath.Match(s, a)
				return ok
			}) {
				t.Errorf("exporters::%s: resource_constant_labels %v does not include %s", name, constant, a)
			}
		}
	}
}

func checkSecurityContext(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, perfmon bool) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the container has no securityContext.capabilities")
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Error("privileged is not false")
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
	podSeccomp := pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil &&
		pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !podSeccomp || sc.SeccompProfile != nil {
		t.Error("the pod's seccomp profile is not RuntimeDefault, or the container overrides it")
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
	want := unitCapabilities(t)
	if perfmon {
		// As the unit says: CAP_PERFMON before Linux 5.18.
		want = append(want, "CAP_PERFMON")
		slices.Sort(want)
	}
	if !slices.Equal(add, want) {
		t.Errorf("capabilities.add is %v, want the systemd unit's %v", add, want)
	}
}

// checkService checks the Prometheus Service: headless, selecting the
// DaemonSet's pods, on the exporter's port, with the scrape annotations.
func checkService(t *testing.T, s *corev1.Service, ds *appsv1.DaemonSet, metricsPort int32) {
	t.Helper()
	if metricsPort == 0 {
		t.Fatalf("Service %s, but the configuration has no prometheus exporter", s.Name)
	}
	if s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None: each node's series are its own", s.Name, s.Spec.ClusterIP)
	}
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("Service %s: selector %v does not select the pods %v", s.Name, s.Spec.Selector, ds.Spec.Template.Labels)
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != metricsPort || s.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service %s: ports %+v, want %d to the container port metrics", s.Name, s.Spec.Ports, metricsPort)
	}
	want := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(int(metricsPort)),
		"prometheus.io/path":   "/metrics",
	}
	for k, v := range want {
		if got := s.Annotations[k]; got != v {
			t.Errorf("Service %s: annotation %s=%q, want %q", s.Name, k, got, v)
		}
	}
}

// checkResources checks requests and limits, and that the memory limit
// holds the collector and the counters at nodeCPUs, the Go runtime's share
// (GOMEMLIMIT) leaving the counters and the binary their room, and the
// memory_limiter (when the chart renders it) within that share.
func checkResources(t *testing.T, c *corev1.Container, config collectorConfig, nodeCPUs int64) {
	t.Helper()
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
	limit := c.Resources.Limits.Memory().Value()
	counters := countersBytes(nodeCPUs, counterSlots(t, config))
	if limit < counters+collectorRSS {
		t.Errorf("memory limit %d MiB: the counters take %.1f MiB at %d CPUs, and the collector %d MiB",
			limit>>20, float64(counters)/(1<<20), nodeCPUs, collectorRSS>>20)
	}
	var goLimit int64
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT=%s: %v", e.Value, err)
			}
			goLimit = q.Value()
		}
	}
	if goLimit == 0 {
		t.Fatal("no GOMEMLIMIT: the Go runtime would not know that the counters share its memory limit")
	}
	if goLimit+counters+binaryRSS > limit {
		t.Errorf("GOMEMLIMIT %d MiB + counters %.1f MiB + binary %d MiB exceed the limit %d MiB",
			goLimit>>20, float64(counters)/(1<<20), binaryRSS>>20, limit>>20)
	}
	if ml, ok := config.Processors["memory_limiter"]; ok {
		if mib, ok := ml["limit_mib"].(float64); ok && int64(mib)<<20 > goLimit {
			t.Errorf("memory_limiter limit_mib %v above GOMEMLIMIT %d MiB", mib, goLimit>>20)
		}
	}
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// validateConfig validates the collector configuration with the built
// collector, in the environment the container has (127.0.0.1 standing for
// the pod IP, node-1 for the node's name, a placeholder for a secret), after checking that every
// variable it uses without a default is set there.
func validateConfig(t *testing.T, config string, c *corev1.Container) {
	t.Helper()
	bin := binaryPath(t)
	env := []string{"PATH=" + os.Getenv("PATH")}
	defined := map[string]bool{}
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			v = "127.0.0.1"
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			v = "node-1"
		case e.ValueFrom.SecretKeyRef != nil:
			v = "secret"
		default:
			t.Errorf("env %s: unexpected valueFrom %+v", e.Name, e.ValueFrom)
			continue
		}
		defined[e.Name] = true
		env = append(env, e.Name+"="+v)
	}
	for _, ref := range envRef.FindAllStringSubmatch(config, -1) {
		if ref[2] == "" && !defined[ref[1]] {
			t.Errorf("the configuration uses ${env:%s}, which the container's env does not set", ref[1])
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config="+path)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol-xdp validate of the rendered configuration: %v\n%s\n%s", err, out, config)
	}
	if bytes.Contains(out, []byte("WARN")) || bytes.Contains(out, []byte("warn")) {
		t.Errorf("otelcol-xdp validate warns:\n%s", out)
	}
}

// TestChartRefuses checks that values which cannot work fail to render,
// with a message that says what to change: the values' schema catches
// misspelled keys and wrong types, the templates what the schema cannot.
func TestChartRefuses(t *testing.T) {
	// The smallest limit the chart takes at 1024 CPUs: the counters and
	// 120 MiB for the collector.
	const cpus = 1024
	minimum := (countersBytes(cpus, defaultMaxInterfaces+1)+1<<20-1)>>20 + 120
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "prometheus.servce.enabled=true"}, "additional properties 'servce' not allowed"},
		{[]string{"--set", "xdp.attachMode=fast"}, "/xdp/attachMode"},
		{[]string{"--set-json", "xdp.interfaces=[]"}, "/xdp/interfaces"},
		{[]string{"--set", "xdp.interfaces={eth0,eth0}"}, "/xdp/interfaces"},
		{[]string{"--set", "xdp.directions={receive,both}"}, "/xdp/directions"},
		{[]string{"--set-json", "xdp.directions=[]"}, "/xdp/directions"},
		{[]string{"--set", "xdp.maxInterfaces=0"}, "/xdp/maxInterfaces"},
		{[]string{"--set", "xdp.maxInterfaces=4096"}, "is too small for nodeCPUs 128 and xdp.maxInterfaces 4096: the counters take 322 MiB there"},
		{[]string{"--set", "otlp.protocol=grpcs"}, "/otlp/protocol"},
		{[]string{"--set", "resources.limits.memory=300M"}, "/resources/limits/memory"},
		{[]string{"--set", "prometheus.enabled=false"}, "no exporter: set prometheus.enabled or otlp.enabled"},
		{[]string{"--set", "otlp.enabled=true"}, "otlp.endpoint: where to send the metrics"},
		{[]string{"--set", "pods.enabled=yes"}, "/pods/enabled"},
		{[]string{"--set", "pods.ipFamily=dual"}, "/pods/ipFamily"},
		{[]string{"--set", "pods.interfaces={veth*,veth*}"}, "/pods/interfaces"},
		{[]string{"--set", "serviceAccount.create=false"}, "with serviceAccount.create false, name an account of the collector's own in serviceAccount.name"},
		{[]string{"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"}, "rather than the namespace's default one"},
		{
			[]string{"--set", fmt.Sprintf("nodeCPUs=%d", cpus), "--set", fmt.Sprintf("resources.limits.memory=%dMi", minimum-1)},
			fmt.Sprintf("resources.limits.memory %dMi is too small for nodeCPUs %d and xdp.maxInterfaces %d: ", minimum-1, cpus, defaultMaxInterfaces) +
				fmt.Sprintf("the counters take %d MiB there, and the collector needs 120 MiB besides; give it at least %dMi", minimum-120, minimum),
		},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, err := helm(t, ".", append([]string{"template", releaseName, chartDir, "--namespace", namespace}, c.args...)...)
			if err == nil {
				t.Fatalf("rendered, want an error with %q:\n%s", c.want, out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error without %q: %v", c.want, err)
			}
		})
	}

	// The exact minimum renders, with what is left for the Go runtime.
	r := render(t, "--set", fmt.Sprintf("nodeCPUs=%d", cpus), "--set", fmt.Sprintf("resources.limits.memory=%dMi", minimum))
	checkRelease(t, r, chartCase{nodeCPUs: cpus})
}

// TestChartDirections checks the directions the receiver counts: both by
// default, or what the values list.
func TestChartDirections(t *testing.T) {
	directions := func(args ...string) any {
		out, err := helm(t, ".", append([]string{"template", releaseName, chartDir, "--show-only", "templates/configmap.yaml"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict([]byte(out), &cm); err != nil {
			t.Fatal(err)
		}
		return parseConfig(t, cm.Data["config.yaml"]).Receivers["xdp"]["directions"]
	}
	if d, want := directions(), []any{"receive", "transmit"}; !slices.Equal(asSlice(d), want) {
		t.Errorf("by default, directions: %v, want %v", d, want)
	}
	if d, want := directions("--set", "xdp.directions={transmit}"), []any{"transmit"}; !slices.Equal(asSlice(d), want) {
		t.Errorf("directions: %v, want %v", d, want)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestChartConfigChecksum checks that the pods' checksum/config annotation
// follows the configuration, so that a new one rolls the pods, and only it.
func TestChartConfigChecksum(t *testing.T) {
	checksum := func(args ...string) string {
		out, err := helm(t, ".", append([]string{"template", releaseName, chartDir, "--show-only", "templates/daemonset.yaml"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var ds appsv1.DaemonSet
		if err := yaml.UnmarshalStrict([]byte(out), &ds); err != nil {
			t.Fatal(err)
		}
		return ds.Spec.Template.Annotations["checksum/config"]
	}
	base := checksum()
	if other := checksum("--set", "xdp.collectionInterval=30s"); other == base {
		t.Errorf("checksum/config %s did not change with the collection interval", base)
	}
	if same := checksum("--set", "priorityClassName=system-node-critical"); same != base {
		t.Errorf("checksum/config changed from %s to %s with a value outside the configuration", base, same)
	}
}

// chartMetadata reads the chart's Chart.yaml.
func chartMetadata(t *testing.T) (version, appVersion string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		APIVersion string `json:"apiVersion"`
		Type       string `json:"type"`
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != "v2" || c.Type != "application" {
		t.Errorf("Chart.yaml: apiVersion %q, type %q, want v2 and application", c.APIVersion, c.Type)
	}
	return c.Version, c.AppVersion
}

// TestChartAppVersion checks that the image tag is the chart's appVersion
// unless image.tag is set, and that `helm package --app-version`, as
// `make chart` runs it, sets both.
func TestChartAppVersion(t *testing.T) {
	version, appVersion := chartMetadata(t)
	image := func(chart string, args ...string) (string, string) {
		out, err := helm(t, ".", append([]string{"template", releaseName, chart, "--show-only", "templates/daemonset.yaml"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var ds appsv1.DaemonSet
		if err := yaml.UnmarshalStrict([]byte(out), &ds); err != nil {
			t.Fatal(err)
		}
		return ds.Spec.Template.Spec.Containers[0].Image, ds.Labels["app.kubernetes.io/version"]
	}
	if img, v := image(chartDir); img != "otelcol-xdp:"+appVersion || v != appVersion {
		t.Errorf("image %s, version label %s: want the appVersion %s", img, v, appVersion)
	}
	if img, _ := image(chartDir, "--set", "image.repository=registry.example/otelcol-xdp", "--set", "image.tag=1.0.0"); img != "registry.example/otelcol-xdp:1.0.0" {
		t.Errorf("image %s, want image.repository:image.tag", img)
	}

	dir := t.TempDir()
	if _, err := helm(t, ".", "package", chartDir, "--app-version", "9.8.7-test", "--destination", dir); err != nil {
		t.Fatal(err)
	}
	packaged := filepath.Join(dir, fmt.Sprintf("otelcol-xdp-%s.tgz", version))
	if img, v := image(packaged); img != "otelcol-xdp:9.8.7-test" || v != "9.8.7-test" {
		t.Errorf("packaged with --app-version 9.8.7-test: image %s, version label %s", img, v)
	}
}

// installDocs are the documents whose "Helm chart" section gives the
// install commands, by file and heading: the README's quick start and the
// install guide.
var installDocs = [][2]string{{"README.md", "### Helm chart"}, {"docs/install.md", "## Helm chart"}}

// readmeInstall returns the shell lines of the "Helm chart" block of doc
// (an installDocs entry), continuation lines joined.
func readmeInstall(t *testing.T, doc [2]string) []string {
	t.Helper()
	b, err := os.ReadFile("../" + doc[0])
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	_, section, ok := strings.Cut(text, "\n"+doc[1]+"\n")
	if !ok {
		t.Fatalf(`%s has no %q section`, doc[0], doc[1])
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf(`%s: no sh block in "Helm chart"`, doc[0])
	}
	block, _, _ = strings.Cut(block, "```")
	return strings.Split(strings.TrimSpace(strings.ReplaceAll(block, "\\\n", " ")), "\n")
}

// TestChartReadmeInstall renders the chart as the install commands of the
// README and of docs/install.md install it: helm template with the
// arguments of their helm install, from the repository's root, into the
// namespace that their kubectl commands create and label for Pod Security
// admission.
func TestChartReadmeInstall(t *testing.T) {
	for _, doc := range installDocs {
		t.Run(doc[0], func(t *testing.T) { checkInstallDoc(t, doc) })
	}
}

func checkInstallDoc(t *testing.T, doc [2]string) {
	var install []string
	created, labeled := "", ""
	for _, line := range readmeInstall(t, doc) {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "kubectl" && f[1] == "create" && f[2] == "namespace":
			created = f[3]
		case len(f) == 5 && f[0] == "kubectl" && f[1] == "label" && f[2] == "namespace" &&
			f[4] == "pod-security.kubernetes.io/enforce=privileged":
			labeled = f[3]
		case len(f) > 4 && f[0] == "helm" && f[1] == "install":
			install = f[2:]
		default:
			t.Errorf("%s, Helm chart: a line this test does not know: %q", doc[0], line)
		}
	}
	if install == nil {
		t.Fatalf("%s, Helm chart: no helm install line", doc[0])
	}
	if install[0] != releaseName || install[1] != "deploy/"+chartDir {
		t.Errorf("%s: helm install %s %s, want release %s and chart deploy/%s", doc[0], install[0], install[1], releaseName, chartDir)
	}
	ns := ""
	for i, a := range install {
		if a == "--namespace" && i+1 < len(install) {
			ns = install[i+1]
		}
		if a == "--create-namespace" {
			t.Errorf("%s: helm install --create-namespace: the namespace needs its Pod Security label before the pods are created", doc[0])
		}
	}
	if ns != namespace || created != ns || labeled != ns {
		t.Errorf("%s: helm install --namespace %q, kubectl create namespace %q, kubectl label namespace %q: want %q for all",
			doc[0], ns, created, labeled, namespace)
	}
	out, err := helm(t, "..", append([]string{"template"}, install...)...)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeRelease(t, out)
	checkRelease(t, r, chartCase{})
	if img := r.daemonSet.Spec.Template.Spec.Containers[0].Image; strings.HasPrefix(img, "otelcol-xdp:") {
		t.Errorf("%s: the install leaves the image at %s, which is published nowhere: set image.repository", doc[0], img)
	}
}

// freePorts returns n different TCP ports that nothing listens on now, on
// the IPv4 and IPv6 loopback addresses alike.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	// Held until all are chosen, so that none is chosen twice.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		port := l.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
		if err != nil {
			continue // taken on ::1: try another
		}
		listeners = append(listeners, l6)
		ports = append(ports, port)
	}
	return ports
}

// TestChartConfigServes runs the built collector with the configuration
// that the chart renders, as the pod runs it: with the pod's IP, IPv4 and
// then IPv6, in POD_IP and the container's GOMEMLIMIT. The health_check
// extension must answer where the probes look, and the Prometheus exporter
// where the metrics port and the Service point. The interfaces are a
// pattern that matches nothing here, so that the collector attaches
// nothing and needs no privileges. Pods are off: k8s_attributes starts only
// with a Kubernetes API server to watch (TestChart validates that
// configuration with the collector).
func TestChartConfigServes(t *testing.T) {
	bin := binaryPath(t)
	ports := freePorts(t, 2)
	healthPort, metricsPort := ports[0], ports[1]
	r := render(t, "--set", "pods.enabled=false", "--set", "xdp.interfaces={xdpchartnone*}",
		"--set", fmt.Sprintf("healthCheck.port=%d", healthPort), "--set", fmt.Sprintf("prometheus.port=%d", metricsPort))
	checkRelease(t, r, chartCase{podsOff: true})
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(r.configMap.Data[filepath.Base(configPath)]), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, e := range r.daemonSet.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}

	for _, podIP := range []string{"127.0.0.1", "::1"} {
		t.Run(podIP, func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, "--config="+path)
			cmd.Env = append(slices.Clone(env), "POD_IP="+podIP)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					cmd.Process.Kill()
					<-exited
				}
			})

			get := func(port int, path string) (int, error) {
				resp, err := http.Get("http://" + net.JoinHostPort(podIP, strconv.Itoa(port)) + path)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				_, err = io.Copy(io.Discard, resp.Body)
				return resp.StatusCode, err
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				code, err := get(healthPort, "/")
				if err == nil && code == http.StatusOK {
					break
				}
				select {
				case err := <-exited:
					stopped = true
					t.Fatalf("the collector exited (%v) before health_check answered:\n%s", err, out.String())
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("health_check on port %d: %d, %v after 20 s; the collector's output:\n%s", healthPort, code, err, out.String())
				}
			}
			if code, err := get(metricsPort, "/metrics"); err != nil || code != http.StatusOK {
				t.Errorf("prometheus exporter on port %d: %d, %v", metricsPort, code, err)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				stopped = true
				if err != nil {
					t.Errorf("the collector exited with %v after SIGTERM:\n%s", err, out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the collector did not stop within 30 s of SIGTERM (the pod's grace period):\n%s", out.String())
			}
		})
	}
}
