//go:build linux && kube

package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A real Kubernetes API server for TestKubeAttributes: Kubernetes' own
// kube-apiserver on an etcd of its own, both built from the Go module proxy
// by `make test-kube` (e2e/kube, a module of its own) into kubeBinDir. No
// controller, scheduler or kubelet runs: the test writes pods, their node
// and their status through the API, as a kubelet would, and the collector's
// k8sattributes processor watches them as it would on a node.

// kubeBinDir holds etcd and kube-apiserver, relative to this package's
// directory; KUBE_BIN_DIR overrides it.
const kubeBinDir = "../.cache/bin/kube"

// The API server's users (--token-auth-file): an administrator, which is
// the test, and the collector, which may do only what the chart's
// ClusterRole lets it.
const (
	adminUser      = "e2e-admin"
	collectorUser  = "otelcol-xdp"
	apiReadyWithin = 90 * time.Second
)

// apiServer is a running kube-apiserver and its etcd.
type apiServer struct {
	url    string // https://127.0.0.1:port
	caPEM  []byte // the CA of its serving certificate
	tokens map[string]string
	client *http.Client
}

func kubeBinary(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("KUBE_BIN_DIR")
	if dir == "" {
		dir = kubeBinDir
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%v): `make test-kube` builds it from e2e/kube", p, err)
	}
	return p
}

// startAPIServer starts etcd and kube-apiserver on loopback ports, with a
// serving certificate, service account key and tokens made here, and waits
// until the API server is ready. Both stop when the test ends.
func startAPIServer(t testing.TB) *apiServer {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCA(t)
	certFile, keyFile := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	writeServingCert(t, ca, caKey, certFile, keyFile)
	saKey := filepath.Join(dir, "sa.key")
	writeRSAKey(t, saKey)
	a := &apiServer{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		tokens: map[string]string{adminUser: randomToken(t), collectorUser: randomToken(t)},
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s\n",
		a.tokens[adminUser], adminUser, adminUser, a.tokens[collectorUser], collectorUser, collectorUser)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}

	etcdPort := freePort(t)
	etcd := startDaemon(t, "etcd", kubeBinary(t, "etcd"),
		"-data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("-client-port=%d", etcdPort), fmt.Sprintf("-peer-port=%d", freePort(t)))
	select {
	case <-etcd.ready:
	case <-etcd.done:
		t.Fatalf("etcd exited before it was ready: %v\n%s", etcd.err, etcd.out.String())
	case <-time.After(time.Minute):
		t.Fatalf("etcd not ready after a minute:\n%s", etcd.out.String())
	}

	port := freePort(t)
	a.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	api := startDaemon(t, "kube-apiserver", kubeBinary(t, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file="+certFile, "--tls-private-key-file="+keyFile,
		"--token-auth-file="+tokenFile, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey, "--service-account-signing-key-file="+saKey,
		// An API object only: nothing routes to it.
		"--service-cluster-ip-range=198.18.254.0/24",
		"--profiling=false")

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	a.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(apiReadyWithin)
	for {
		status, body, err := a.request(adminUser, http.MethodGet, "/readyz", "", nil)
		if err == nil && status == http.StatusOK {
			break
		}
		select {
		case <-api.done:
			t.Fatalf("kube-apiserver exited before it was ready: %v\n%s", api.err, api.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready within %v: %d %s %v\n%s", apiReadyWithin, status, body, err, api.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return a
}

// grantCollector gives the collector's user the chart's ClusterRole
// (deploy/helm/otelcol-xdp/templates/rbac.yaml).
func (a *apiServer) grantCollector(t testing.TB) {
	t.Helper()
	read := []string{"get", "list", "watch"}
	a.create(t, "/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
		"metadata": map[string]any{"name": "otelcol-xdp"},
		"rules": []any{
			map[string]any{"apiGroups": []string{""}, "resources": []string{"pods", "namespaces"}, "verbs": read},
			map[string]any{"apiGroups": []string{"apps"}, "resources": []string{"replicasets"}, "verbs": read},
		},
	})
	a.create(t, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
		"metadata": map[string]any{"name": "otelcol-xdp"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "otelcol-xdp"},
		"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": collectorUser}},
	})
}

// namespace creates a namespace and its default ServiceAccount, which no
// controller manager makes here and the ServiceAccount admission plugin
// wants before a pod.
func (a *apiServer) namespace(t testing.TB, name string) {
	t.Helper()
	a.create(t, "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": name}})
	a.create(t, "/api/v1/namespaces/"+name+"/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "default"}})
}

// kubeconfig writes a kubeconfig that reaches the API server as user, with
// the server's CA, and returns its path.
func (a *apiServer) kubeconfig(t testing.TB, user string) string {
	t.Helper()
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "e2e",
		"clusters": []any{map[string]any{"name": "e2e", "cluster": map[string]any{
			"server": a.url, "certificate-authority-data": a.caPEM}}},
		"users": []any{map[string]any{"name": user, "user": map[string]any{"token": a.tokens[user]}}},
		"contexts": []any{map[string]any{"name": "e2e", "context": map[string]any{
			"cluster": "e2e", "user": user}}},
	}
	// JSON is YAML; []byte marshals as base64, as certificate-authority-data wants.
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// request sends body (JSON-encoded, unless it is already []byte) as user
// and returns the status and the response body.
func (a *apiServer) request(user, method, path, contentType string, body any) (status int, respBody []byte, err error) {
	var r io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			if b, err = json.Marshal(body); err != nil {
				return 0, nil, err
			}
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.tokens[user])
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(resp.Body)
	return resp.StatusCode, respBody, err
}

// create POSTs obj to path as the administrator, wants it created, and
// returns the object the API server made of it.
func (a *apiServer) create(t testing.TB, path string, obj map[string]any) []byte {
	t.Helper()
	status, body, err := a.request(adminUser, http.MethodPost, path, "application/json", obj)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s %v", path, status, body, err)
	}
	return body
}

// patchStatus writes a pod's status as its kubelet would: Running since
// start, with its IPs.
func (a *apiServer) patchStatus(t testing.TB, namespace, name string, start time.Time, ips ...string) {
	t.Helper()
	podIPs := make([]any, len(ips))
	for i, ip := range ips {
		podIPs[i] = map[string]any{"ip": ip}
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/status", namespace, name)
	patch := map[string]any{"status": map[string]any{
		"phase": "Running", "startTime": start.UTC().Format(time.RFC3339), "podIP": ips[0], "podIPs": podIPs,
	}}
	status, body, err := a.request(adminUser, http.MethodPatch, path, "application/merge-patch+json", patch)
	if err != nil || status != http.StatusOK {
		t.Fatalf("PATCH %s: %d %s %v", path, status, body, err)
	}
}

// daemon is etcd or kube-apiserver, running.
type daemon struct {
	cmd   *exec.Cmd
	out   *lockedBuffer
	ready chan struct{} // closed when it prints a line "ready"
	done  chan struct{}
	err   error
}

// startDaemon runs bin, logs its output if the test fails, and stops it
// when the test ends: SIGTERM, then SIGKILL.
func startDaemon(t testing.TB, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{out: &lockedBuffer{}, ready: make(chan struct{}), done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stderr = d.out
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// It dies with the test binary, even one killed or timed out, which
	// runs no cleanup: the kernel sends SIGKILL when the thread that
	// started it ends, so that thread is locked until it is done (the
	// runtime ends threads only of goroutines that exit locked, as
	// xdptest's namespace work does).
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started, copied := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := d.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		<-copied // Wait closes stdout: only once it is all read
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			if sc.Text() == "ready" && !once {
				once = true
				close(d.ready)
			}
			fmt.Fprintln(d.out, sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			out := d.out.String()
			if len(out) > 20000 {
				out = "...\n" + out[len(out)-20000:]
			}
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return d
}

// newCA makes the CA the API server's serving certificate is signed by.
func newCA(t testing.TB) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	return newCert(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otelcol-xdp e2e CA"},
		KeyUsage:              x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}, nil, nil)
}

// writeServingCert writes the API server's certificate for 127.0.0.1,
// signed by ca, and its key.
func writeServingCert(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, certFile, keyFile string) {
	t.Helper()
	cert, key := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", cert.Raw)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
}

// newCert makes a key and tmpl's certificate for it, valid for a day,
// signed by parent, or by itself when parent is nil.
func newCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writeRSAKey writes the key the API server signs and checks service
// account tokens with.
func writeRSAKey(t testing.TB, file string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, file, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
