//go:build linux && release

// The release tests check what `make dist image package` built, the way a
// user installs and runs it: the static binaries of both architectures,
// the two-architecture OCI archive and the image it loads as, the .deb and
// .rpm packages, and docs/install.md's own ocb build. `make test-release` builds
// the artifacts and runs these tests as root (build tag "release"); they
// leave nothing behind, also when they fail: the image lives in podman
// storage of the test's own, the package is purged.

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// releaseArches are the architectures of the release artifacts, with the
// ELF machine of their binaries and rpm's name of them.
var releaseArches = map[string]struct {
	machine elf.Machine
	rpm     string
}{
	"amd64": {elf.EM_X86_64, "x86_64"},
	"arm64": {elf.EM_AARCH64, "aarch64"},
}

// artifacts are the names the Makefile gives this checkout's release
// artifacts, and what their metadata must say.
type artifacts struct {
	version, revision string
	created           time.Time // the commit's time (SOURCE_DATE_EPOCH)
	image             string    // name:tag, as podman load names it
	imageArchive      string
	binaries          map[string]string // by architecture
	debs, rpms        map[string]string
}

func releaseArtifacts(t *testing.T) artifacts {
	t.Helper()
	epoch, err := strconv.ParseInt(makeVar(t, "SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		t.Fatalf("SOURCE_DATE_EPOCH: %v", err)
	}
	a := artifacts{
		version:      makeVar(t, "VERSION"),
		revision:     makeVar(t, "REVISION"),
		created:      time.Unix(epoch, 0).UTC(),
		image:        makeVar(t, "IMAGE") + ":" + makeVar(t, "IMAGE_TAG"),
		imageArchive: filepath.Join("..", makeVar(t, "IMAGE_ARCHIVE")),
		binaries:     map[string]string{},
		debs:         map[string]string{},
		rpms:         map[string]string{},
	}
	byArch := func(list string, suffix string, into map[string]string) {
		for _, f := range strings.Fields(list) {
			for arch := range releaseArches {
				if strings.HasSuffix(f, "_linux_"+arch+suffix) {
					into[arch] = filepath.Join("..", f)
				}
			}
		}
	}
	byArch(makeVar(t, "DIST_BINARIES"), "", a.binaries)
	packages := makeVar(t, "PACKAGES")
	byArch(packages, ".deb", a.debs)
	byArch(packages, ".rpm", a.rpms)
	for _, m := range []map[string]string{a.binaries, a.debs, a.rpms} {
		if len(m) != len(releaseArches) {
			t.Fatalf("the Makefile names artifacts for %v, want one for each of %d architectures", m, len(releaseArches))
		}
	}
	for _, f := range a.all() {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run `make dist image package` first (`make test-release` does)", err)
		}
	}
	return a
}

// all returns the paths of every artifact, sorted.
func (a artifacts) all() []string {
	files := slices.Concat([]string{a.imageArchive},
		slices.Collect(maps.Values(a.binaries)), slices.Collect(maps.Values(a.debs)), slices.Collect(maps.Values(a.rpms)))
	slices.Sort(files)
	return files
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReleaseBinaries checks make dist's binaries: 64-bit little-endian ELF
// executables for their architecture, static (no interpreter, no shared
// libraries), each embedding the little-endian BPF object and not the
// big-endian one; the host's runs and prints the version.
func TestReleaseBinaries(t *testing.T) {
	a := releaseArtifacts(t)
	for _, f := range a.all() {
		if st, err := os.Stat(f); err == nil {
			t.Logf("%s: %.1f MB", filepath.Base(f), float64(st.Size())/1e6)
		}
	}
	bpfel := readFile(t, "../bpf/counter_bpfel.o")
	bpfeb := readFile(t, "../bpf/counter_bpfeb.o")
	for arch, want := range releaseArches {
		t.Run(arch, func(t *testing.T) {
			bin := a.binaries[arch]
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != want.machine || f.Type != elf.ET_EXEC {
				t.Errorf("%s: %v %v %v %v, want ELFCLASS64 ELFDATA2LSB %v ET_EXEC", bin, f.Class, f.Data, f.Machine, f.Type, want.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s has a %v program header: not static", bin, p.Type)
				}
			}
			if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
				t.Errorf("%s imports shared libraries %v (%v)", bin, libs, err)
			}
			b := readFile(t, bin)
			if !bytes.Contains(b, bpfel) {
				t.Errorf("%s does not embed bpf/counter_bpfel.o", bin)
			}
			if bytes.Contains(b, bpfeb) {
				t.Errorf("%s embeds the big-endian bpf/counter_bpfeb.o", bin)
			}
		})
	}
	out, err := exec.Command(a.binaries[runtime.GOARCH], "--version").CombinedOutput()
	if got, want := strings.TrimSpace(string(out)), "otelcol-xdp version "+a.version; err != nil || got != want {
		t.Errorf("%s --version: %q (%v), want %q", a.binaries[runtime.GOARCH], got, err, want)
	}
}

// OCI image layout types, as much of them as the test reads.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string          `json:"mediaType"`
	Config    ociDescriptor   `json:"config"`
	Layers    []ociDescriptor `json:"layers"`
}

type ociConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	imageConfigPath   = "/etc/otelcol-xdp/config.yaml"
	projectURL        = "https://github.com/otelcol-xdp/otelcol-xdp"
)

// ociArchive is an OCI image layout read from a tar archive.
type ociArchive map[string][]byte

func readOCIArchive(t *testing.T, archive string) ociArchive {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := ociArchive{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", archive, h.Name, err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = b
	}
	return files
}

// blob returns the blob d points at, after checking its size and digest.
func (o ociArchive) blob(t *testing.T, d ociDescriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	b, ok := o["blobs/sha256/"+hexDigest]
	if !ok {
		t.Fatalf("blob %s is missing", d.Digest)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != hexDigest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: %d bytes with digest sha256:%x, want %d bytes", d.Digest, len(b), sum, d.Size)
	}
	return b
}

func (o ociArchive) json(t *testing.T, d ociDescriptor, v any) {
	t.Helper()
	if err := json.Unmarshal(o.blob(t, d), v); err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
}

// layerFile is a regular file of an image layer.
type layerFile struct {
	mode     fs.FileMode
	uid, gid int
	data     []byte
}

// layerFiles reads the regular files of a layer, after checking that the
// uncompressed layer is the diffID its configuration names.
func (o ociArchive) layerFiles(t *testing.T, d ociDescriptor, diffID string, into map[string]layerFile) {
	t.Helper()
	var r io.Reader = bytes.NewReader(o.blob(t, d))
	switch d.MediaType {
	case "application/vnd.oci.image.layer.v1.tar+gzip":
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("layer %s: %v", d.Digest, err)
		}
		r = gz
	case "application/vnd.oci.image.layer.v1.tar":
	default:
		t.Fatalf("layer %s has media type %s", d.Digest, d.MediaType)
	}
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, h))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer %s: %v", d.Digest, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("layer %s: %s: %v", d.Digest, name, err)
			}
			into[name] = layerFile{fs.FileMode(hdr.Mode).Perm(), hdr.Uid, hdr.Gid, b}
		default:
			t.Errorf("layer %s: %s is of tar type %q: the image should hold files and directories only", d.Digest, name, hdr.Typeflag)
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != diffID {
		t.Errorf("layer %s uncompresses to %s, but the configuration names %s", d.Digest, got, diffID)
	}
}

// TestReleaseImageArchive reads make image's OCI archive as a registry or
// `podman load` would: one image index, named, with exactly a linux/amd64
// and a linux/arm64 image; each with the OCI labels, a non-root user, the
// entrypoint and command, and a filesystem of exactly three files: that
// architecture's binary from dist/, the default configuration and the CA
// certificates. Every blob's digest and size, and every layer's diffID, is
// checked on the way.
func TestReleaseImageArchive(t *testing.T) {
	a := releaseArtifacts(t)
	o := readOCIArchive(t, a.imageArchive)
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(o["oci-layout"], &layout); err != nil || layout.Version != "1.0.0" {
		t.Errorf("oci-layout is %q (%v), want version 1.0.0", o["oci-layout"], err)
	}
	var top ociIndex
	if err := json.Unmarshal(o["index.json"], &top); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != mediaTypeIndex {
		t.Fatalf("index.json holds %+v, want one image index", top.Manifests)
	}
	if name := top.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; name != a.image {
		t.Errorf("the archive names its image %q, want %q", name, a.image)
	}
	var index ociIndex
	o.json(t, top.Manifests[0], &index)

	wantLabels := map[string]string{
		"org.opencontainers.image.title":    "otelcol-xdp",
		"org.opencontainers.image.source":   projectURL,
		"org.opencontainers.image.url":      projectURL,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.version":  a.version,
		"org.opencontainers.image.revision": a.revision,
		"org.opencontainers.image.created":  a.created.Format(time.RFC3339),
	}
	platforms := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform == nil || m.MediaType != mediaTypeManifest {
			t.Errorf("index entry %s: media type %s, platform %v", m.Digest, m.MediaType, m.Platform)
			continue
		}
		arch := m.Platform.Architecture
		platform := m.Platform.OS + "/" + arch
		platforms[platform] = true
		t.Run(platform, func(t *testing.T) {
			var manifest ociManifest
			o.json(t, m, &manifest)
			var cfg ociConfig
			o.json(t, manifest.Config, &cfg)
			if cfg.OS+"/"+cfg.Architecture != platform {
				t.Errorf("the configuration is for %s/%s", cfg.OS, cfg.Architecture)
			}
			for k, v := range wantLabels {
				if got := cfg.Config.Labels[k]; got != v {
					t.Errorf("label %s is %q, want %q", k, got, v)
				}
			}
			if cfg.Config.Labels["org.opencontainers.image.description"] == "" {
				t.Error("no label org.opencontainers.image.description")
			}
			if u := imageUser(t, cfg.Config.User); u.uid == 0 {
				t.Errorf("the image runs as %q, want a non-root default user", cfg.Config.User)
			}
			if !slices.Equal(cfg.Config.Entrypoint, []string{"/otelcol-xdp"}) || !slices.Equal(cfg.Config.Cmd, []string{"--config=" + imageConfigPath}) {
				t.Errorf("entrypoint %q and command %q, want [/otelcol-xdp] and [--config=%s]", cfg.Config.Entrypoint, cfg.Config.Cmd, imageConfigPath)
			}

			if len(manifest.Layers) != len(cfg.RootFS.DiffIDs) {
				t.Fatalf("%d layers but %d diffIDs", len(manifest.Layers), len(cfg.RootFS.DiffIDs))
			}
			files := map[string]layerFile{}
			for i, l := range manifest.Layers {
				o.layerFiles(t, l, cfg.RootFS.DiffIDs[i], files)
			}
			want := map[string]struct {
				mode fs.FileMode
				data []byte
			}{
				"otelcol-xdp":                       {0o755, readFile(t, a.binaries[arch])},
				"etc/otelcol-xdp/config.yaml":       {0o644, readFile(t, "../deploy/config.yaml")},
				"etc/ssl/certs/ca-certificates.crt": {0o644, nil},
			}
			for name, f := range files {
				w, ok := want[name]
				switch {
				case !ok:
					t.Errorf("the image holds /%s, which it should not", name)
				case f.mode != w.mode || f.uid != 0 || f.gid != 0:
					t.Errorf("/%s: mode %v owner %d:%d, want %v 0:0", name, f.mode, f.uid, f.gid, w.mode)
				case w.data != nil && !bytes.Equal(f.data, w.data):
					t.Errorf("/%s differs from what it was built from", name)
				}
			}
			for name := range want {
				if _, ok := files[name]; !ok {
					t.Errorf("the image has no /%s", name)
				}
			}
			if ca := files["etc/ssl/certs/ca-certificates.crt"].data; !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
				t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificate")
			}
		})
	}
	if len(platforms) != len(releaseArches) || !platforms["linux/amd64"] || !platforms["linux/arm64"] {
		t.Errorf("the image index has %v, want exactly linux/amd64 and linux/arm64", platforms)
	}
}

// imageUser parses an image's numeric "uid:gid" user.
func imageUser(t *testing.T, user string) identity {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("the image's user %q is not a numeric uid:gid", user)
	}
	return identity{uid, gid}
}

// podman runs podman on storage of the test's own, which is gone when the
// test ends: the machine's images are never touched, and the tests can run
// beside each other and beside make image. It never pulls.
type podman struct {
	bin    string
	global []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		t.Fatalf("podman is needed to test the image: %v; apt-get install podman (make test-release does)", err)
	}
	// podman refuses a run root longer than 50 characters, which a test's
	// temporary directory may well be: that and podman's state go to a
	// short directory in /tmp, as make image puts them.
	run, err := os.MkdirTemp("/tmp", "otelcol-xdp-podman.")
	if err != nil {
		t.Fatal(err)
	}
	storage := t.TempDir()
	t.Cleanup(func() { os.RemoveAll(run) })
	return &podman{bin, []string{
		"--root=" + storage, "--runroot=" + run + "/run", "--tmpdir=" + run + "/tmp",
		"--storage-driver=vfs", "--cgroup-manager=cgroupfs", "--events-backend=none",
	}}
}

func (p *podman) command(args ...string) *exec.Cmd {
	return exec.Command(p.bin, append(slices.Clone(p.global), args...)...)
}

func (p *podman) run(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := p.command(args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// unpack creates a container of image, without starting it, and writes its
// filesystem into a new directory that every user may traverse, as podman
// export gives it. The container is removed at once.
func (p *podman) unpack(t *testing.T, image string) string {
	t.Helper()
	id := p.run(t, "create", "--pull=never", image)
	defer p.run(t, "rm", id)
	root, err := os.MkdirTemp("", "otelcol-xdp-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := p.command("export", id)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	extractErr := extractTar(out, root)
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil || extractErr != nil {
		t.Fatalf("podman export %s: %v, extracting: %v\n%s", id, err, extractErr, stderr.String())
	}
	return root
}

// extractTar writes the directories and regular files of a tar stream
// under root, with their modes and owners.
func extractTar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(root, path.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, fs.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: tar type %q", h.Name, h.Typeflag)
		}
		if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
			return err
		}
		if err := os.Chmod(target, fs.FileMode(h.Mode).Perm()); err != nil {
			return err
		}
	}
}

// TestReleaseImageRuns loads the archive as the README says (podman load),
// and runs the image's entrypoint with its command, as its user, with only
// CAP_BPF and CAP_NET_ADMIN, and counts frames on a veth exactly.
//
// It does what `podman run --user=65532 --cap-drop=all
// --cap-add=bpf,net_admin --security-opt=no-new-privileges -v
// CONFIG:/etc/otelcol-xdp/config.yaml` does, without podman run, which
// cannot start containers in the sandbox these tests run in (crun may not
// set rlimits there, and the cgroups are hybrid): the container's
// filesystem, from podman create and podman export, runs from its
// directory; setpriv gives the image's user the two capabilities as
// ambient capabilities and as the bounding set, with no_new_privs, as
// podman gives --cap-add to a non-root user; and the test's configuration
// takes the place of the default, as the mounted file would.
func TestReleaseImageRuns(t *testing.T) {
	xdptest.Privileged(t)
	a := releaseArtifacts(t)
	caps := capabilitySet(t)
	pm := newPodman(t)

	var loaded string
	for _, line := range strings.Split(pm.run(t, "load", "--input="+a.imageArchive), "\n") {
		if name, ok := strings.CutPrefix(line, "Loaded image: "); ok {
			loaded = name
		}
	}
	if loaded != a.image {
		t.Fatalf("podman load loaded %q, want %q", loaded, a.image)
	}
	t.Cleanup(func() { pm.run(t, "rmi", loaded) })

	var inspect []ociConfig
	if err := json.Unmarshal([]byte(pm.run(t, "image", "inspect", loaded)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: %v (%d images)", loaded, err, len(inspect))
	}
	cfg := inspect[0]
	if cfg.Architecture != runtime.GOARCH {
		t.Errorf("podman load took the %s image, want this machine's %s", cfg.Architecture, runtime.GOARCH)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/otelcol-xdp"}) || !slices.Equal(cfg.Config.Cmd, []string{"--config=" + imageConfigPath}) {
		t.Fatalf("entrypoint %q and command %q, want [/otelcol-xdp] and [--config=%s]", cfg.Config.Entrypoint, cfg.Config.Cmd, imageConfigPath)
	}
	user := imageUser(t, cfg.Config.User)
	root := pm.unpack(t, loaded)
	entrypoint := filepath.Join(root, cfg.Config.Entrypoint[0])
	config := filepath.Join(root, imageConfigPath)

	// The image's own default configuration validates, read by its user.
	validate := append(setprivArgs(t, user, caps), entrypoint, "validate", "--config="+config)
	if out, err := exec.Command(validate[0], validate[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("the image's %s does not validate: %v\n%s", imageConfigPath, err, out)
	}

	p := xdptest.NewPair(t)
	sink := startOTLPSink(t)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollectorIn(t, configFor([]string{p.Host}, "auto", sink.addr, promAddr),
		entrypoint, filepath.Dir(config), setprivArgs(t, user, caps))
	if got := c.cmd.Args[len(c.cmd.Args)-1]; got != "--config="+config {
		t.Fatalf("the collector runs with %s, not the image's command", got)
	}
	waitAttached(t, c, p.Host, 2)
	checkCredentials(t, c, user, caps)

	injectExact(t, c, p, sink, 2)

	c.stop(t, p.Host)
}

// packageFile is what a package must install at a path.
type packageFile struct {
	mode fs.FileMode
	data []byte
}

// packageFiles is every file the package for arch installs, by format.
func packageFiles(t *testing.T, a artifacts, arch, format string) map[string]packageFile {
	t.Helper()
	unit := readFile(t, "../deploy/otelcol-xdp.service")
	const hand, packaged = "\nExecStart=/usr/local/bin/otelcol-xdp ", "\nExecStart=/usr/bin/otelcol-xdp "
	if bytes.Count(unit, []byte(hand)) != 1 {
		t.Fatalf("deploy/otelcol-xdp.service: want one line starting %q", hand[1:])
	}
	files := map[string]packageFile{
		"/usr/bin/otelcol-xdp":                        {0o755, readFile(t, a.binaries[arch])},
		"/etc/otelcol-xdp/config.yaml":                {0o644, readFile(t, "../deploy/config.yaml")},
		"/usr/lib/systemd/system/otelcol-xdp.service": {0o644, bytes.Replace(unit, []byte(hand), []byte(packaged), 1)},
	}
	switch format {
	case "deb":
		files["/usr/share/doc/otelcol-xdp/copyright"] = packageFile{0o644, readFile(t, "../LICENSE")}
	case "rpm":
		files["/usr/share/licenses/otelcol-xdp/LICENSE"] = packageFile{0o644, readFile(t, "../LICENSE")}
	}
	return files
}

// packageVersion is how nfpm writes a semver version for dpkg and rpm: the
// pre-release after "~", which sorts before the release.
func packageVersion(v string) string { return strings.Replace(v, "-", "~", 1) }

func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestReleasePackages reads both architectures' .deb and .rpm: name,
// version, architecture, every file with its mode, owner and content (the
// binary is that architecture's from dist/, the unit is deploy's with
// /usr/bin), the configuration as a conffile (noreplace for rpm), and the
// scripts of deploy/package.
func TestReleasePackages(t *testing.T) {
	a := releaseArtifacts(t)
	scripts := map[string][]byte{}
	for _, s := range []string{"postinstall", "preremove", "postremove"} {
		scripts[s] = readFile(t, "../deploy/package/"+s+".sh")
	}
	for arch, info := range releaseArches {
		t.Run("deb_"+arch, func(t *testing.T) {
			deb := a.debs[arch]
			fields := strings.Split(strings.TrimSpace(command(t, "dpkg-deb", "--showformat=${Package}|${Version}|${Architecture}", "--show", deb)), "|")
			if want := []string{"otelcol-xdp", packageVersion(a.version) + "-1", arch}; !slices.Equal(fields, want) {
				t.Errorf("%s is %q, want %q", deb, fields, want)
			}
			files := debData(t, deb)
			checkPackageFiles(t, deb, files, packageFiles(t, a, arch, "deb"))
			control := debControl(t, deb)
			if got := strings.TrimSpace(string(control["conffiles"])); got != "/etc/otelcol-xdp/config.yaml" {
				t.Errorf("%s: conffiles %q, want /etc/otelcol-xdp/config.yaml", deb, got)
			}
			for deb, s := range map[string]string{"postinst": "postinstall", "prerm": "preremove", "postrm": "postremove"} {
				if !bytes.Equal(control[deb], scripts[s]) {
					t.Errorf("the %s script is not deploy/package/%s.sh", deb, s)
				}
			}
			for _, s := range []string{"preinst", "config", "templates"} {
				if _, ok := control[s]; ok {
					t.Errorf("the package has a %s, which it should not", s)
				}
			}
		})
		t.Run("rpm_"+arch, func(t *testing.T) {
			if _, err := exec.LookPath("rpm"); err != nil {
				t.Fatalf("rpm is needed to read the .rpm: %v; apt-get install rpm (make test-release does)", err)
			}
			rpm := a.rpms[arch]
			header := strings.Split(command(t, "rpm", "-qp", "--queryformat=%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{FILEDIGESTALGO}", rpm), "|")
			// rpm's version may not hold "-": nfpm writes "_" in the pre-release.
			wantVersion := strings.ReplaceAll(packageVersion(a.version), "-", "_")
			if want := []string{"otelcol-xdp", wantVersion, "1", info.rpm, "Apache-2.0", "8"}; !slices.Equal(header, want) {
				t.Errorf("%s is %q, want %q (8: SHA-256 file digests)", rpm, header, want)
			}
			want := packageFiles(t, a, arch, "rpm")
			seen := map[string]bool{}
			out := command(t, "rpm", "-qp", "--queryformat=[%{FILENAMES}|%{FILEMODES:octal}|%{FILEUSERNAME}:%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILEDIGESTS}\n]", rpm)
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Split(line, "|")
				if len(f) != 5 {
					t.Fatalf("rpm -qp: %q", line)
				}
				name, mode, owner, flags, digest := f[0], f[1], f[2], f[3], f[4]
				seen[name] = true
				if owner != "root:root" {
					t.Errorf("%s: %s is owned by %s", rpm, name, owner)
				}
				if strings.HasPrefix(mode, "40") { // a directory
					if name != "/etc/otelcol-xdp" && name != "/usr/share/licenses/otelcol-xdp" {
						t.Errorf("%s owns the directory %s", rpm, name)
					}
					if mode != "40755" {
						t.Errorf("%s: %s has mode %s, want 40755", rpm, name, mode)
					}
					continue
				}
				w, ok := want[name]
				if !ok {
					t.Errorf("%s installs %s, which it should not", rpm, name)
					continue
				}
				sum := sha256.Sum256(w.data)
				if mode != fmt.Sprintf("100%o", w.mode) || digest != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: %s has mode %s and digest %s, want 100%o and %x", rpm, name, mode, digest, w.mode, sum)
				}
				wantFlags := ""
				switch name {
				case "/etc/otelcol-xdp/config.yaml":
					wantFlags = "cn" // %config(noreplace)
				case "/usr/share/licenses/otelcol-xdp/LICENSE":
					wantFlags = "l" // %license
				}
				if flags != wantFlags {
					t.Errorf("%s: %s has flags %q, want %q", rpm, name, flags, wantFlags)
				}
			}
			for name := range want {
				if !seen[name] {
					t.Errorf("%s does not install %s", rpm, name)
				}
			}
			const sep = "\n--8<--\n"
			out = command(t, "rpm", "-qp", "--queryformat="+strings.Join([]string{
				"%{POSTIN}", "%{PREUN}", "%{POSTUN}", "%{PREIN}", "%{POSTINPROG}", "%{PREUNPROG}", "%{POSTUNPROG}",
			}, sep), rpm)
			got := strings.Split(out, sep)
			if len(got) != 7 {
				t.Fatalf("rpm -qp scripts: %q", out)
			}
			for i, s := range []string{"postinstall", "preremove", "postremove"} {
				if strings.TrimSpace(got[i]) != strings.TrimSpace(string(scripts[s])) || got[4+i] != "/bin/sh" {
					t.Errorf("%s: scriptlet %d is not deploy/package/%s.sh run by /bin/sh (%s)", rpm, i, s, got[4+i])
				}
			}
			if got[3] != "(none)" {
				t.Errorf("%s has a %%pre scriptlet, which it should not", rpm)
			}
		})
	}
}

// debData reads the files of a .deb's data archive.
func debData(t *testing.T, deb string) map[string]layerFile {
	t.Helper()
	return tarFiles(t, "dpkg-deb", "--fsys-tarfile", deb)
}

// debControl reads the files of a .deb's control archive, by name.
func debControl(t *testing.T, deb string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, f := range tarFiles(t, "dpkg-deb", "--ctrl-tarfile", deb) {
		out[strings.TrimPrefix(name, "/")] = f.data
	}
	return out
}

// tarFiles runs a command that writes a tar archive and returns its
// regular files by absolute path; directories must be 0755 root:root.
func tarFiles(t *testing.T, name string, args ...string) map[string]layerFile {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader([]byte(command(t, name, args...))))
	files := map[string]layerFile{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		p := path.Clean("/" + h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if fs.FileMode(h.Mode).Perm() != 0o755 || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: directory %s has mode %v owner %d:%d", args[len(args)-1], p, fs.FileMode(h.Mode).Perm(), h.Uid, h.Gid)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[p] = layerFile{fs.FileMode(h.Mode).Perm(), h.Uid, h.Gid, b}
		default:
			t.Errorf("%s: %s is of tar type %q", args[len(args)-1], p, h.Typeflag)
		}
	}
}

func checkPackageFiles(t *testing.T, pkg string, got map[string]layerFile, want map[string]packageFile) {
	t.Helper()
	for name, f := range got {
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s installs %s, which it should not", pkg, name)
		case f.mode != w.mode || f.uid != 0 || f.gid != 0:
			t.Errorf("%s: %s has mode %v owner %d:%d, want %v 0:0", pkg, name, f.mode, f.uid, f.gid, w.mode)
		case !bytes.Equal(f.data, w.data):
			t.Errorf("%s: %s differs from what it was built from", pkg, name)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s does not install %s", pkg, name)
		}
	}
}

const (
	debPackage = "otelcol-xdp"
	debUnit    = "otelcol-xdp.service"
	debConfig  = "/etc/otelcol-xdp/config.yaml"
)

// dpkgStatus returns the package's status and version as dpkg knows it, or
// "" when dpkg does not know it (never installed, or purged).
func dpkgStatus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--show", "--showformat=${Status} ${Version}", debPackage).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return ""
	}
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	if s := strings.TrimSpace(string(out)); !strings.HasPrefix(s, "unknown ok not-installed") {
		return s
	}
	return ""
}

// unitLinks returns everything under /etc/systemd/system that names the
// unit: what enabling it creates.
func unitLinks(t *testing.T) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir("/etc/systemd/system", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), "otelcol-xdp") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// isEnabled returns what `systemctl is-enabled` says of the unit; it
// works without a running systemd.
func isEnabled(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("systemctl", "is-enabled", debUnit).Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("systemctl is-enabled: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// systemdRunning is sd_booted(), as the package scripts ask it.
func systemdRunning() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// TestReleaseDebInstall takes the .deb of this machine's architecture
// through its life with dpkg, as docs/install.md says: installation (every
// file with its mode, owner and content; the configuration a conffile; the
// unit verified by systemd-analyze and enabled, and started where systemd
// runs), the installed binary counting frames on a veth exactly as an
// unprivileged user with only CAP_BPF and CAP_NET_ADMIN, as the unit runs
// it; an upgrade over it, which keeps an edited configuration and a
// disabled service; removal, after which only the conffile is left, as
// dpkg keeps conffiles; and purge, after which nothing is. The package is
// purged when the test ends, whatever happened.
func TestReleaseDebInstall(t *testing.T) {
	xdptest.Privileged(t)
	a := releaseArtifacts(t)
	caps := capabilitySet(t)
	deb := a.debs[runtime.GOARCH]
	want := packageFiles(t, a, runtime.GOARCH, "deb")
	for _, tool := range []string{"dpkg", "systemctl", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}

	// Another installation stays as it is: this test would replace and purge it.
	if st := dpkgStatus(t); st != "" {
		t.Fatalf("%s is on this machine already (%s); the test would replace and purge it: dpkg --purge %s first", debPackage, st, debPackage)
	}
	for name := range want {
		if _, err := os.Lstat(name); err == nil {
			t.Fatalf("%s exists, though no package installed it; the test would remove it", name)
		}
	}
	if links := unitLinks(t); len(links) > 0 {
		t.Fatalf("%v exist already; the test would remove them", links)
	}
	t.Cleanup(func() {
		if st := dpkgStatus(t); st != "" {
			if out, err := exec.Command("dpkg", "--purge", debPackage).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge %s: %v\n%s", debPackage, err, out)
			}
		}
	})
	dpkg := func(args ...string) {
		t.Helper()
		t.Logf("dpkg %s:\n%s", strings.Join(args, " "), command(t, "dpkg", args...))
	}

	// Installation.
	dpkg("--install", deb)
	wantStatus := "install ok installed " + packageVersion(a.version) + "-1"
	if st := dpkgStatus(t); st != wantStatus {
		t.Fatalf("after dpkg --install: %q, want %q", st, wantStatus)
	}
	listed := map[string]bool{}
	for _, name := range strings.Split(strings.TrimSpace(command(t, "dpkg-query", "--listfiles", debPackage)), "\n") {
		st, err := os.Lstat(name)
		if err != nil {
			t.Errorf("dpkg lists %s: %v", name, err)
			continue
		}
		if st.IsDir() {
			continue
		}
		listed[name] = true
		w, ok := want[name]
		sys := st.Sys().(*syscall.Stat_t)
		switch {
		case !ok:
			t.Errorf("the package installed %s, which it should not", name)
		case !st.Mode().IsRegular() || st.Mode().Perm() != w.mode || sys.Uid != 0 || sys.Gid != 0:
			t.Errorf("%s: %v owner %d:%d, want a regular file %v 0:0", name, st.Mode(), sys.Uid, sys.Gid, w.mode)
		case !bytes.Equal(readFile(t, name), w.data):
			t.Errorf("%s differs from what the package was built from", name)
		}
	}
	for name := range want {
		if !listed[name] {
			t.Errorf("dpkg does not list %s", name)
		}
	}
	if cf := command(t, "dpkg-query", "--show", "--showformat=${Conffiles}", debPackage); !strings.HasPrefix(strings.TrimSpace(cf), debConfig+" ") {
		t.Errorf("conffiles: %q, want %s", cf, debConfig)
	}
	unitPath := "/usr/lib/systemd/system/" + debUnit
	if out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--generators=no", unitPath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	if st := isEnabled(t); st != "enabled" {
		t.Errorf("after installation the unit is %q, want enabled", st)
	}
	if systemdRunning() {
		eventually(t, nil, countTimeout, "the service active", func() error {
			out, _ := exec.Command("systemctl", "is-active", debUnit).Output()
			if s := strings.TrimSpace(string(out)); s != "active" {
				return fmt.Errorf("systemctl is-active: %s", s)
			}
			return nil
		})
	} else {
		t.Log("systemd is not the init system here: the installation enabled the unit for the next boot and started nothing")
	}
	if out, err := exec.Command("/usr/bin/otelcol-xdp", "validate", "--config="+debConfig).CombinedOutput(); err != nil {
		t.Errorf("the installed %s does not validate: %v\n%s", debConfig, err, out)
	}

	// The installed binary, as the unit runs it: an unprivileged user with
	// the two capabilities (ambient and bounding) and no_new_privs.
	t.Run("counts", func(t *testing.T) {
		p := xdptest.NewPair(t)
		sink := startOTLPSink(t)
		promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		dir, err := os.MkdirTemp("", "otelcol-xdp-deb-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c := startCollectorIn(t, configFor([]string{p.Host}, "auto", sink.addr, promAddr),
			"/usr/bin/otelcol-xdp", dir, setprivArgs(t, nobody, caps))
		waitAttached(t, c, p.Host, 2)
		checkCredentials(t, c, nobody, caps)
		injectExact(t, c, p, sink, 2)
		c.stop(t, p.Host)
	})

	// An upgrade (the same package again: dpkg runs the upgrade steps)
	// keeps the administrator's configuration and a disabled service.
	edited := append(readFile(t, debConfig), "# edited by TestReleaseDebInstall\n"...)
	if err := os.WriteFile(debConfig, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	command(t, "systemctl", "disable", debUnit)
	dpkg("--install", deb)
	if st := dpkgStatus(t); st != wantStatus {
		t.Errorf("after the upgrade: %q, want %q", st, wantStatus)
	}
	if !bytes.Equal(readFile(t, debConfig), edited) {
		t.Errorf("the upgrade replaced the edited %s", debConfig)
	}
	if st := isEnabled(t); st != "disabled" {
		t.Errorf("after the upgrade the disabled unit is %q", st)
	}
	command(t, "systemctl", "enable", debUnit)

	// Removal stops and disables the service and leaves the conffile.
	dpkg("--remove", debPackage)
	if st := dpkgStatus(t); !strings.HasPrefix(st, "deinstall ok config-files ") {
		t.Errorf("after dpkg --remove: %q, want deinstall ok config-files", st)
	}
	for name := range want {
		_, err := os.Lstat(name)
		switch {
		case name == debConfig && err != nil:
			t.Errorf("dpkg --remove removed the conffile %s: %v", name, err)
		case name != debConfig && err == nil:
			t.Errorf("%s is still there after dpkg --remove", name)
		}
	}
	if !bytes.Equal(readFile(t, debConfig), edited) {
		t.Errorf("dpkg --remove changed %s", debConfig)
	}
	for _, dir := range []string{"/usr/share/doc/otelcol-xdp"} {
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("%s is still there after dpkg --remove", dir)
		}
	}
	if links := unitLinks(t); len(links) > 0 {
		t.Errorf("after dpkg --remove the unit is still enabled: %v", links)
	}

	// Purge leaves nothing.
	dpkg("--purge", debPackage)
	if st := dpkgStatus(t); st != "" {
		t.Errorf("after dpkg --purge: %q, want the package unknown", st)
	}
	for _, name := range append(slices.Collect(maps.Keys(want)), filepath.Dir(debConfig)) {
		if _, err := os.Lstat(name); err == nil {
			t.Errorf("%s is still there after dpkg --purge", name)
		}
	}
	if links := unitLinks(t); len(links) > 0 {
		t.Errorf("after dpkg --purge: %v", links)
	}
}

// readmeBlock returns the first code block of the given language after
// heading in docs/install.md.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	readme := string(readFile(t, "../docs/install.md"))
	_, after, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/install.md has no heading %q", heading)
	}
	_, block, ok := strings.Cut(after, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("docs/install.md: no %s block after %q", lang, heading)
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatalf("docs/install.md: the %s block after %q does not end", lang, heading)
	}
	return block + "\n"
}

// TestReleaseOwnOCBBuild builds the collector of docs/install.md's "Your own ocb
// build" as written there, with the ocb the Makefile installs, in a
// directory of its own; the one change is a replace of the receiver's
// module by this checkout, which stands in for its release. The collector
// it builds must hold the xdp receiver.
func TestReleaseOwnOCBBuild(t *testing.T) {
	ocb := makeVar(t, "OCB")
	if _, err := os.Stat(ocb); err != nil {
		t.Fatalf("ocb: %v; make test-release installs it", err)
	}
	config := readmeBlock(t, "## Your own ocb build", "yaml")
	commands := readmeBlock(t, "## Your own ocb build", "sh")
	if !strings.Contains(commands, "builder --config=builder-config.yaml") {
		t.Fatalf("docs/install.md's ocb build does not run `builder --config=builder-config.yaml`:\n%s", commands)
	}
	if !strings.Contains(commands, "@"+makeVar(t, "OCB_VERSION")) {
		t.Errorf("docs/install.md's ocb build does not install ocb %s, the Makefile's:\n%s", makeVar(t, "OCB_VERSION"), commands)
	}
	name := regexp.MustCompile(`(?m)^ {2}name: (\S+)$`).FindStringSubmatch(config)
	output := regexp.MustCompile(`(?m)^ {2}output_path: (\S+)$`).FindStringSubmatch(config)
	if name == nil || output == nil {
		t.Fatalf("docs/install.md's builder configuration has no dist name or output_path:\n%s", config)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config += "replaces:\n  - github.com/otelcol-xdp/otelcol-xdp => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "builder-config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// ocb leaves a directory in TMPDIR on every run.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(ocb, "--config=builder-config.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ocb --config=builder-config.yaml: %v\n%s\nbuilder-config.yaml:\n%s", err, out, config)
	}
	t.Logf("ocb built docs/install.md's collector in %v", time.Since(start).Round(time.Second))

	bin := filepath.Join(dir, output[1], name[1])
	out, err := exec.Command(bin, "components").CombinedOutput()
	if err != nil {
		t.Fatalf("%s components: %v\n%s", bin, err, out)
	}
	gomod := regexp.MustCompile(`(?m)^ {2}- gomod: github\.com/otelcol-xdp/otelcol-xdp (v\S+)$`).FindStringSubmatch(config)
	if gomod == nil {
		t.Fatalf("docs/install.md's builder configuration has no gomod line for github.com/otelcol-xdp/otelcol-xdp:\n%s", config)
	}
	receiver := regexp.MustCompile(`(?m)^receivers:\n(?: {4}.*\n)*? {4}- name: xdp\n {6}module: github\.com/otelcol-xdp/otelcol-xdp (\S+)$`).FindStringSubmatch(string(out))
	if len(receiver) != 2 || receiver[1] != gomod[1] {
		t.Errorf("docs/install.md's collector has no xdp receiver of github.com/otelcol-xdp/otelcol-xdp %s:\n%s", gomod[1], out)
	}
}
