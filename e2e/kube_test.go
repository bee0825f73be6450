//go:build linux && kube

package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The node the collector runs on, and another one.
const (
	thisNode  = "node-a"
	otherNode = "node-b"
)

// The resource attributes the test reads: what the receiver sets and what
// k8sattributes adds from the API server.
var kubeAttributes = []string{"k8s.pod.ip", "k8s.pod.name", "k8s.namespace.name", "k8s.node.name", "k8s.pod.uid"}

// kubeSink keeps, per interface, the totals per direction and class of
// xdp.packets and xdp.bytes, and every distinct set of kubeAttributes the
// interface's points came with.
type kubeSink struct {
	*otlpServer // its mu guards the maps
	totals      map[string]counts
	resources   map[string]map[string]bool // interface -> set of rendered attribute sets
}

func startKubeSink(t *testing.T) *kubeSink {
	t.Helper()
	s := &kubeSink{totals: map[string]counts{}, resources: map[string]map[string]bool{}}
	s.otlpServer = serveOTLP(t, s.record)
	return s
}

// render is a resource's kubeAttributes, in order, absent ones left out.
func render(res pcommon.Resource) string {
	var parts []string
	for _, k := range kubeAttributes {
		if v, ok := res.Attributes().Get(k); ok {
			parts = append(parts, k+"="+v.AsString())
		}
	}
	return strings.Join(parts, " ")
}

func (s *kubeSink) record(res pcommon.Resource, m pmetric.Metric) {
	if m.Name() != "xdp.packets" && m.Name() != "xdp.bytes" {
		return
	}
	dps := m.Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		attr := func(name string) string {
			v, _ := dp.Attributes().Get(name)
			return v.AsString()
		}
		iface := attr("network.interface.name")
		if s.totals[iface] == nil {
			s.totals[iface], s.resources[iface] = counts{}, map[string]bool{}
		}
		s.resources[iface][render(res)] = true
		k := classKey{attr("network.io.direction"), attr("network.type"), attr("network.transport")}
		if m.Name() == "xdp.packets" {
			s.totals[iface].add(k, dp.IntValue(), 0)
		} else {
			s.totals[iface].add(k, 0, dp.IntValue())
		}
	}
}

func (s *kubeSink) snapshot(iface string) (totals counts, resources []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.totals[iface]), slices.Sorted(maps.Keys(s.resources[iface]))
}

// kubePod is a pod the test makes: its host end and what the API server
// knows of it.
type kubePod struct {
	pair           *xdptest.Pair
	namespace      string
	name           string
	ip             string
	uid            string
	toPod, fromPod int // times each frame goes to the pod, and comes from it
}

// TestKubeAttributes runs the built collector with the xdp receiver and the
// k8sattributes processor against a real kube-apiserver, the way the Helm
// chart runs it on a node: the receiver tells the pod IP of each routed
// pod's host end, k8sattributes, filtered to this node and allowed only
// the chart's ClusterRole, names the pod from the API server. Each pod's
// points arrive under its own name and namespace, with exact counts in the
// pod's view of direction; an interface of no pod arrives with no pod
// attributes and the interface's view; and a pod on another node with the
// same IP as one of this node's names nothing here.
func TestKubeAttributes(t *testing.T) {
	xdptest.Privileged(t)
	api := startAPIServer(t)

	api.grantCollector(t)
	// The collector's user may do what the ClusterRole says and no more.
	if status, _, err := api.request(collectorUser, http.MethodGet, "/api/v1/secrets", "", nil); err != nil || status != http.StatusForbidden {
		t.Fatalf("the collector's user lists secrets: %d %v, want 403", status, err)
	}
	api.namespace(t, "shop")
	api.namespace(t, "elsewhere")

	// Two routed pods on this node (Calico's layout: a /32 through each
	// host end) and a veth of no pod.
	pods := []*kubePod{
		{pair: xdptest.NewPair(t), namespace: "shop", name: "web-0", toPod: 1, fromPod: 2},
		{pair: xdptest.NewPair(t), namespace: "shop", name: "db-0", toPod: 3, fromPod: 1},
	}
	noPod := xdptest.NewPair(t)
	started := time.Now().Add(-time.Hour)
	for _, p := range pods {
		p.ip = xdptest.PodRoute(t, p.pair.HostIndex, false).String()
		p.uid = createPod(t, api, p.namespace, p.name, thisNode, p.ip, started)
	}
	// And, on another node, a pod with web-0's IP, as another node's pod
	// network may reuse it, started later: the collector watches only its
	// node's pods, and had it seen this one, k8sattributes would name
	// web-0's interface after it (of two pods with one IP, it keeps the
	// one started last).
	createPod(t, api, "elsewhere", "impostor", otherNode, pods[0].ip, started.Add(time.Minute))

	sink := startKubeSink(t)
	ifaces := []string{pods[0].pair.Host, pods[1].pair.Host, noPod.Host}
	kubeconfig := api.kubeconfig(t, collectorUser)
	c := startCollectorIn(t, kubeConfig(ifaces, sink.addr), binaryPath(t), t.TempDir(), nil, func(cmd *exec.Cmd) {
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "K8S_NODE_NAME="+thisNode)
	})
	for _, iface := range ifaces {
		waitAttached(t, c, iface, 2)
	}

	// What each pod receives, the host end transmits; what it sends, the
	// host end receives. The interface of no pod keeps its own view.
	want := map[string]counts{}
	frames := xdptest.Frames()
	for _, p := range pods {
		want[p.pair.Host] = counts{}
		var in, out [][]byte
		for _, f := range frames {
			for range p.toPod {
				out = append(out, f.Data)
				want[p.pair.Host].add(classKey{"receive", f.Class.Network.String(), f.Class.Transport.String()}, 1, int64(len(f.Data)))
			}
			for range p.fromPod {
				in = append(in, f.Data)
				want[p.pair.Host].add(classKey{"transmit", f.Class.Network.String(), f.Class.Transport.String()}, 1, int64(len(f.Data)))
			}
		}
		p.pair.Send(t, out...)
		p.pair.Inject(t, in...)
	}
	want[noPod.Host] = counts{}
	var in [][]byte
	for _, f := range frames {
		in = append(in, f.Data, f.Data)
		want[noPod.Host].add(classKey{"receive", f.Class.Network.String(), f.Class.Transport.String()}, 2, 2*int64(len(f.Data)))
	}
	noPod.Inject(t, in...)

	wantResource := map[string]string{noPod.Host: ""}
	for _, p := range pods {
		wantResource[p.pair.Host] = fmt.Sprintf("k8s.pod.ip=%s k8s.pod.name=%s k8s.namespace.name=%s k8s.node.name=%s k8s.pod.uid=%s",
			p.ip, p.name, p.namespace, thisNode, p.uid)
	}
	check := func() error {
		var problems []string
		for _, iface := range ifaces {
			got, resources := sink.snapshot(iface)
			if d := want[iface].diff(got); d != "" {
				problems = append(problems, fmt.Sprintf("%s: %s", iface, d))
			}
			if len(resources) != 1 || resources[0] != wantResource[iface] {
				problems = append(problems, fmt.Sprintf("%s: resources %q, want only %q", iface, resources, wantResource[iface]))
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "\n"))
		}
		return nil
	}
	eventually(t, c, countTimeout, "each interface's totals and pod, exact", check)
	// Nothing more comes, and no point under another resource.
	time.Sleep(5*collectionInterval + 500*time.Millisecond)
	if err := check(); err != nil {
		t.Errorf("after the frames were all counted: %v", err)
	}
	for _, p := range pods {
		got, _ := sink.snapshot(p.pair.Host)
		t.Logf("%s/%s on %s (%s): %s", p.namespace, p.name, p.pair.Host, p.ip, byDirection(got))
	}
	got, _ := sink.snapshot(noPod.Host)
	t.Logf("no pod on %s: %s", noPod.Host, byDirection(got))

	c.stop(t, ifaces...)
}

// byDirection sums c's classes per direction.
func byDirection(c counts) string {
	var parts []string
	for _, d := range []string{"receive", "transmit"} {
		var packets, bytes int64
		for k, v := range c {
			if k.direction == d {
				packets, bytes = packets+v.packets, bytes+v.bytes
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d packets, %d bytes", d, packets, bytes))
	}
	return strings.Join(parts, "; ")
}

// createPod creates a pod bound to node and writes its status as the
// node's kubelet would, Running since start with ip, and returns its UID.
func createPod(t testing.TB, api *apiServer, namespace, name, node, ip string, start time.Time) string {
	t.Helper()
	created := api.create(t, "/api/v1/namespaces/"+namespace+"/pods", map[string]any{
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"nodeName":                     node,
			"automountServiceAccountToken": false,
			"containers":                   []any{map[string]any{"name": "app", "image": "app.invalid/app:1"}},
		},
	})
	var pod struct {
		Metadata struct{ UID string } `json:"metadata"`
	}
	if err := json.Unmarshal(created, &pod); err != nil || pod.Metadata.UID == "" {
		t.Fatalf("pod %s/%s: no uid in %s (%v)", namespace, name, created, err)
	}
	api.patchStatus(t, namespace, name, start, ip)
	return pod.Metadata.UID
}

// kubeConfig is the collector's configuration: the xdp receiver on ifaces
// (pods attributed, its default) and k8sattributes as the Helm chart
// configures it (templates/_config.tpl), but for its credentials, which
// are the kubeconfig's here, and waiting for its first listing, so that
// the first points already carry the pods' names.
func kubeConfig(ifaces []string, otlpAddr string) string {
	return fmt.Sprintf(`receivers:
  xdp:
    interfaces: %s
    directions: [receive, transmit]
    collection_interval: %s
    initial_delay: 0s

processors:
  k8s_attributes:
    auth_type: kubeConfig
    wait_for_metadata: true
    wait_for_metadata_timeout: 30s
    filter:
      node_from_env_var: K8S_NODE_NAME
    pod_association:
      - sources:
          - from: resource_attribute
            name: k8s.pod.ip
    extract:
      metadata:
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.namespace.name
        - k8s.node.name
        - k8s.deployment.name
  batch:
    timeout: 100ms

exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true

service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [xdp]
      processors: [k8s_attributes, batch]
      exporters: [otlp_grpc]
`, flowList(ifaces), collectionInterval, otlpAddr)
}
