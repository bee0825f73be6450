//go:build linux && kube

package e2e

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

var memoryFor = flag.Duration("memory-for", 5*time.Minute, "how long BenchmarkCollectorMemory runs each collector")

// memoryPods is a node's worth of pods: Kubernetes' default limit is 110.
const memoryPods = 110

// BenchmarkCollectorMemory measures what deploy/chart_test.go's collectorRSS
// and binaryRSS and the chart's memory defaults rest on: the resident
// memory of the built collector running the Helm chart's default
// configuration, rendered by helm (HELM, as `make bench-memory` sets it),
// with pods attributed and without. It counts on the host ends of
// memoryPods routed pods' veths, each pod in a real API server, which
// k8sattributes watches through a kubeconfig instead of the service
// account token; ten pods send a frame twice a second and the Prometheus
// and health endpoints are requested as often, for -memory-for. It
// reports the peak (VmHWM) and, at the end, the file-backed part (the
// binary's pages) and the anonymous part, in MiB. One op is one such run.
func BenchmarkCollectorMemory(b *testing.B) {
	for _, pods := range []bool{true, false} {
		b.Run(fmt.Sprintf("pods=%v", pods), func(b *testing.B) {
			for b.Loop() {
				hwm, file, anon := collectorMemory(b, pods)
				b.ReportMetric(hwm, "hwm-MiB")
				b.ReportMetric(file, "file-MiB")
				b.ReportMetric(anon, "anon-MiB")
			}
		})
	}
}

func collectorMemory(b *testing.B, pods bool) (hwm, file, anon float64) {
	xdptest.Privileged(b)
	promPort, healthPort := freePort(b), freePort(b)
	config, goMemLimit := chartConfig(b, pods, promPort, healthPort)
	api := startAPIServer(b)
	api.grantCollector(b)
	api.namespace(b, "shop")
	ps := xdptest.NewPairs(b, memoryPods)
	started := time.Now().Add(-time.Hour)
	for i, p := range ps.Pairs {
		ip := xdptest.PodRoute(b, p.HostIndex, false).String()
		createPod(b, api, "shop", fmt.Sprintf("web-%d", i), thisNode, ip, started)
	}
	// The chart's interfaces would be the node's: the test's own instead.
	var replaced bool
	for _, patterns := range []string{`["eth*","en*","veth*","cali*","lxc*","eni*","azv*"]`, `["eth*","en*"]`} {
		if strings.Contains(config, "interfaces: "+patterns) {
			config = strings.Replace(config, "interfaces: "+patterns, "interfaces: "+flowList([]string{ps.Prefix + "*"}), 1)
			replaced = true
		}
	}
	if !replaced {
		b.Fatalf("no interfaces of the chart's defaults in its configuration:\n%s", config)
	}
	config = strings.Replace(config, "auth_type: serviceAccount", "auth_type: kubeConfig", 1)
	kubeconfig := api.kubeconfig(b, collectorUser)
	c := startCollectorIn(b, config, binaryPath(b), b.TempDir(), nil, func(cmd *exec.Cmd) {
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "K8S_NODE_NAME="+thisNode,
			"POD_IP=127.0.0.1", "GOMEMLIMIT="+goMemLimit)
	})
	for _, p := range ps.Pairs {
		waitAttached(b, c, p.Host, 2)
	}
	frame := xdptest.Frames()[0].Data
	promAddr := fmt.Sprintf("127.0.0.1:%d", promPort)
	var named int
	for end := time.Now().Add(*memoryFor); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		for _, p := range ps.Pairs[:10] {
			p.Inject(b, frame)
		}
		samples, _, _ := scrapePrometheus(promAddr)
		named = 0
		for _, s := range samples {
			if s.labels["k8s_pod_name"] != "" {
				named++
			}
		}
		if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort)); err == nil {
			r.Body.Close()
		}
	}
	if pods && named == 0 {
		b.Fatal("no Prometheus series with k8s_pod_name: the pods were not attributed")
	}
	st := procStatus(b, c.cmd.Process.Pid)
	c.stop(b)
	mib := func(field string) float64 {
		kb, err := strconv.ParseFloat(strings.TrimSuffix(st[field], " kB"), 64)
		if err != nil {
			b.Fatalf("%s %q: %v", field, st[field], err)
		}
		return kb / 1024
	}
	b.Logf("pods %v: VmHWM %s, RssFile %s, RssAnon %s; %d series name a pod", pods, st["VmHWM"], st["RssFile"], st["RssAnon"], named)
	return mib("VmHWM"), mib("RssFile"), mib("RssAnon")
}

// chartConfig renders the chart's defaults, pods as given, and returns the
// collector's configuration and its GOMEMLIMIT.
func chartConfig(b *testing.B, pods bool, promPort, healthPort int) (config, goMemLimit string) {
	b.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		b.Fatal("HELM is not set: `make bench-memory` sets it to the helm it installs")
	}
	out, err := exec.Command(helm, "template", "otelcol-xdp", "../deploy/helm/otelcol-xdp",
		"--set", fmt.Sprintf("pods.enabled=%v", pods),
		"--set", fmt.Sprintf("prometheus.port=%d", promPort),
		"--set", fmt.Sprintf("healthCheck.port=%d", healthPort)).CombinedOutput()
	if err != nil {
		b.Fatalf("helm template: %v\n%s", err, out)
	}
	var cfg []string
	in := false
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		switch {
		case strings.TrimSpace(l) == "config.yaml: |":
			in = true
		case in && (strings.HasPrefix(l, "    ") || strings.TrimSpace(l) == ""):
			cfg = append(cfg, strings.TrimPrefix(l, "    "))
		case in:
			in = false
		case strings.TrimSpace(l) == "- name: GOMEMLIMIT" && i+1 < len(lines):
			goMemLimit = strings.Trim(strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "value: "), `"`)
		}
	}
	if len(cfg) == 0 || goMemLimit == "" {
		b.Fatalf("no config.yaml or GOMEMLIMIT in the chart's rendering:\n%s", out)
	}
	return strings.Join(cfg, "\n"), goMemLimit
}
