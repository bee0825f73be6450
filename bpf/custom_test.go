//go:build linux

package bpf_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The test objects, built from testdata/programs/*.c by make generate, as
// copies the loader accepts whoever owns the checkout (xdptest.SafeObject).
func portCountObject(t testing.TB) string {
	return xdptest.SafeObject(t, filepath.Join("..", "testdata", "programs", "port_count.o"))
}

func shapesObject(t testing.TB) string {
	return xdptest.SafeObject(t, filepath.Join("..", "testdata", "programs", "shapes.o"))
}

func TestCheckCustomRefusesWhatItCannotUse(t *testing.T) {
	notELF := xdptest.SafeObject(t, filepath.Join("..", "testdata", "programs", "not_elf.o.txt"))
	notBPF, err := os.Executable() // an ELF file, but no BPF object
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec bpf.CustomSpec
		want []string
		is   error // what errors.Is finds in the error, or nil
	}{
		{"missing file", bpf.CustomSpec{Object: "/nonexistent/prog.o", Function: "xdp_count", Map: "packet_count"},
			[]string{`opening XDP program object "/nonexistent/prog.o"`, "no such file"}, os.ErrNotExist},
		{"not an ELF file", bpf.CustomSpec{Object: notELF, Function: "xdp_count", Map: "packet_count"},
			[]string{"is not an ELF file"}, bpf.ErrNotELF},
		{"an ELF file but no BPF object", bpf.CustomSpec{Object: notBPF, Function: "xdp_count", Map: "packet_count"},
			[]string{"invalid BPF object", "machine type"}, bpf.ErrInvalidObject},
		{"no such function", bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_nope", Map: "packet_count"},
			[]string{`has no program "xdp_nope"`, "its programs: xdp_count (XDP)"}, nil},
		{"not an XDP program", bpf.CustomSpec{Object: shapesObject(t), Function: "tc_pass", Map: "array_count"},
			[]string{`program "tc_pass"`, "is a SchedCLS program, not XDP", "xdp_all (XDP)"}, bpf.ErrNotXDP},
		{"no such map", bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "nope"},
			[]string{`has no map "nope"`, "packet_count (PerCPUHash, 4-byte keys, 8-byte values)"}, nil},
		{"16-byte values", bpf.CustomSpec{Object: shapesObject(t), Function: "xdp_all", Map: "wide_values"},
			[]string{`map "wide_values"`, "is a Array with 4-byte keys and 16-byte values", "4-byte keys and 8-byte values"},
			bpf.ErrNotCounterMap},
		{"a ring buffer", bpf.CustomSpec{Object: shapesObject(t), Function: "xdp_all", Map: "events"},
			[]string{`map "events"`, "RingBuf", "Array, Hash, PerCPUArray or PerCPUHash"}, bpf.ErrNotCounterMap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bpf.CheckCustom(tc.spec)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			noConfigWords(t, err)
			var open *bpf.ObjectOpenError
			if errors.As(err, &open) != (tc.name == "missing file") || open != nil && open.Path != tc.spec.Object {
				t.Errorf("error %q: ObjectOpenError %+v, want one of %q for a file that cannot be opened only", err, open, tc.spec.Object)
			}
		})
	}
}

// TestCheckSpecRefusesMapEntryPrograms: an XDP program for the entries of
// a devmap or cpumap, which the kernel refuses on an interface with a bare
// EINVAL, is refused before anything is loaded; one for an interface, of
// either section, is accepted.
func TestCheckSpecRefusesMapEntryPrograms(t *testing.T) {
	spec := func(attach ebpf.AttachType, section string) *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{
			Programs: map[string]*ebpf.ProgramSpec{"prog": {Name: "prog", Type: ebpf.XDP, AttachType: attach, SectionName: section}},
			Maps:     map[string]*ebpf.MapSpec{"counts": {Name: "counts", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}},
		}
	}
	s := bpf.CustomSpec{Object: "/etc/otelcol/prog.o", Function: "prog", Map: "counts"}
	for _, tc := range []struct {
		attach  ebpf.AttachType
		section string
		refused bool
	}{
		{ebpf.AttachXDPDevMap, "xdp/devmap", true},
		{ebpf.AttachXDPCPUMap, "xdp/cpumap", true},
		{ebpf.AttachXDP, "xdp", false},
		{ebpf.AttachXDP, "xdp.frags", false},
	} {
		err := bpf.CheckSpec(spec(tc.attach, tc.section), s)
		if !tc.refused {
			if err != nil {
				t.Errorf("SEC(%q): %v, want accepted", tc.section, err)
			}
			continue
		}
		want := `program "prog" in "/etc/otelcol/prog.o" is for a devmap or cpumap entry, which the kernel does not attach ` +
			`to an interface (SEC("` + tc.section + `")); its programs: prog (XDP)`
		if !errors.Is(err, bpf.ErrMapEntryProgram) || err.Error() != want {
			t.Errorf("SEC(%q): %v, want %q, which is ErrMapEntryProgram", tc.section, err, want)
		}
	}
}

// noConfigWords fails t if err speaks the receiver's language: its
// settings are the receiver's to name, in its advice.
func noConfigWords(t *testing.T, err error) {
	t.Helper()
	for _, w := range []string{"program.", "attach_mode", "attach mode", "max_interfaces", "function_name", "receiver"} {
		if strings.Contains(err.Error(), w) {
			t.Errorf("error %q names %q, a word of the receiver's", err, w)
		}
	}
}

// unsafeFixture lays out, in a directory of the test's own, a directory d
// with the given mode and owner holding prog.o, a copy of port_count.o,
// with the given mode and owner; edit may then change the layout. It
// returns the path to give the loader.
type unsafeFixture struct {
	name                string
	dirMode, fileMode   os.FileMode
	dirOwner, fileOwner int
	edit                func(t *testing.T, root, obj string) string
}

func (f unsafeFixture) make(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "d")
	obj := filepath.Join(dir, "prog.o")
	b, err := os.ReadFile(portCountObject(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		os.Mkdir(dir, 0o700),
		os.WriteFile(obj, b, 0o600),
		os.Chmod(obj, f.fileMode),
		os.Chown(obj, f.fileOwner, 0),
		os.Chmod(dir, f.dirMode),
		os.Chown(dir, f.dirOwner, 0),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	if f.edit != nil {
		return f.edit(t, root, obj)
	}
	return obj
}

// symlinkIn makes a directory in root with mode and owner, holding a link
// to target, and returns the link's path.
func symlinkIn(t *testing.T, root string, mode os.FileMode, owner int, target string) string {
	t.Helper()
	dir := filepath.Join(root, "links")
	link := filepath.Join(dir, "prog.o")
	for _, step := range []error{os.Mkdir(dir, 0o700), os.Symlink(target, link), os.Chmod(dir, mode), os.Chown(dir, owner, 0)} {
		if step != nil {
			t.Fatal(step)
		}
	}
	return link
}

// nobody is a uid that is neither root nor the tests' user.
const nobody = 65534

// TestCheckCustomRefusesUnsafeObjects: an object that anyone but root and
// the process's user could have written, through its own mode or owner or
// through a directory on its path as given or as resolved, is refused with
// an *UnsafeObjectError saying who and how, before a byte of it is used; a
// FIFO is refused without blocking.
func TestCheckCustomRefusesUnsafeObjects(t *testing.T) {
	xdptest.Privileged(t) // chown
	for _, tc := range []struct {
		unsafeFixture
		want string
	}{
		{unsafeFixture{name: "group-writable file", dirMode: 0o755, fileMode: 0o664},
			`it is writable by its group, gid 0 (mode 0664)`},
		{unsafeFixture{name: "world-writable file", dirMode: 0o755, fileMode: 0o646},
			`it is writable by every user (mode 0646)`},
		{unsafeFixture{name: "file of another user", dirMode: 0o755, fileMode: 0o644, fileOwner: nobody},
			`it is owned by uid 65534, not root`},
		{unsafeFixture{name: "group-writable directory", dirMode: 0o775, fileMode: 0o644},
			`/d" is writable by its group, gid 0 (mode 0775, without the sticky bit)`},
		{unsafeFixture{name: "world-writable directory", dirMode: 0o777, fileMode: 0o644},
			`/d" is writable by every user (mode 0777, without the sticky bit)`},
		{unsafeFixture{name: "directory of another user", dirMode: 0o755, dirOwner: nobody, fileMode: 0o644},
			`/d" is owned by uid 65534, not root`},
		{unsafeFixture{name: "sticky directory of another user", dirMode: os.ModeSticky | 0o777, dirOwner: nobody, fileMode: 0o644},
			`/d" is owned by uid 65534, not root`},
		{unsafeFixture{name: "link in a directory of another user", dirMode: 0o755, fileMode: 0o644,
			edit: func(t *testing.T, root, obj string) string { return symlinkIn(t, root, 0o755, nobody, obj) }},
			`/links" is owned by uid 65534, not root`},
		{unsafeFixture{name: "link to a file in a writable directory", dirMode: 0o777, fileMode: 0o644,
			edit: func(t *testing.T, root, obj string) string { return symlinkIn(t, root, 0o755, 0, obj) }},
			`/d" is writable by every user (mode 0777, without the sticky bit)`},
		{unsafeFixture{name: "directory", dirMode: 0o755, fileMode: 0o644,
			edit: func(t *testing.T, root, obj string) string { return filepath.Dir(obj) }},
			`it is not a regular file (d---------)`},
		{unsafeFixture{name: "fifo", dirMode: 0o755, fileMode: 0o644,
			edit: func(t *testing.T, root, obj string) string {
				fifo := filepath.Join(filepath.Dir(obj), "fifo")
				if err := syscall.Mkfifo(fifo, 0o644); err != nil {
					t.Fatal(err)
				}
				return fifo
			}},
			`it is not a regular file (p---------)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			_, err := bpf.CheckCustom(bpf.CustomSpec{Object: path, Function: "xdp_count", Map: "packet_count"})
			var unsafe *bpf.UnsafeObjectError
			if !errors.As(err, &unsafe) {
				t.Fatalf("got %v, want an *UnsafeObjectError", err)
			}
			if unsafe.Path != path || !strings.HasPrefix(err.Error(), fmt.Sprintf("program object %q is unsafe to load: ", path)) ||
				!strings.HasSuffix(unsafe.Reason, tc.want) {
				t.Errorf("got %q (path %q, reason %q), want the path and a reason ending %q", err, unsafe.Path, unsafe.Reason, tc.want)
			}
		})
	}
}

// TestCheckCustomAcceptsSafeObjects: an object only root or the process's
// user could have written loads from a directory of root's, from a sticky
// directory anyone may write (as /tmp), through a link in a safe
// directory, and, for a process that runs as another user, when that user
// owns it.
func TestCheckCustomAcceptsSafeObjects(t *testing.T) {
	xdptest.Privileged(t) // chown
	for _, tc := range []unsafeFixture{
		{name: "root's, mode 0644", dirMode: 0o755, fileMode: 0o644},
		{name: "root's, read-only", dirMode: 0o555, fileMode: 0o444},
		{name: "in a sticky world-writable directory", dirMode: os.ModeSticky | 0o777, fileMode: 0o644},
		{name: "group-writable sticky directory", dirMode: os.ModeSticky | 0o775, fileMode: 0o600},
		{name: "through a link in a safe directory", dirMode: 0o755, fileMode: 0o644,
			edit: func(t *testing.T, root, obj string) string { return symlinkIn(t, root, 0o755, 0, obj) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			if _, err := bpf.CheckCustom(bpf.CustomSpec{Object: path, Function: "xdp_count", Map: "packet_count"}); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A collector running as uid 65534 (tests run as root, so ask for it).
	want, err := os.ReadFile(portCountObject(t))
	if err != nil {
		t.Fatal(err)
	}
	own := unsafeFixture{dirMode: 0o755, dirOwner: nobody, fileMode: 0o600, fileOwner: nobody}.make(t)
	if got, err := bpf.ReadObject(own, nobody); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the process user's own object: %d bytes, %v; want the object", len(got), err)
	}
	other := unsafeFixture{dirMode: 0o755, fileMode: 0o644, fileOwner: 1000}.make(t)
	var unsafe *bpf.UnsafeObjectError
	if _, err := bpf.ReadObject(other, nobody); !errors.As(err, &unsafe) ||
		unsafe.Reason != "it is owned by uid 1000, neither root nor uid 65534, which this process runs as" {
		t.Errorf("another user's object: %v", err)
	}
}

func TestLoadCustomShowsTheVerifierLog(t *testing.T) {
	xdptest.Privileged(t)
	_, err := bpf.LoadCustom(bpf.CustomSpec{Object: shapesObject(t), Function: "xdp_unchecked", Map: "array_count"})
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a verifier error", err)
	}
	for _, w := range []string{`the kernel's verifier rejected program "xdp_unchecked"`, "last lines of the verifier log", "invalid access to packet"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

// TestCustomMapKinds runs frames through a program that counts them in a
// map of each supported kind and reads every map back.
func TestCustomMapKinds(t *testing.T) {
	xdptest.Privileged(t)
	frames := xdptest.Frames()
	var size uint64
	for _, f := range frames {
		size += uint64(len(f.Data))
	}
	for _, m := range []string{"array_count", "hash_count", "percpu_array_count", "percpu_hash_count"} {
		t.Run(m, func(t *testing.T) {
			p, err := bpf.LoadCustom(bpf.CustomSpec{Object: shapesObject(t), Function: "xdp_all", Map: m})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, f := range frames {
				if _, err := p.Program().Run(&ebpf.RunOptions{Data: f.Data, Repeat: 1}); err != nil {
					t.Fatal(err)
				}
			}
			got := map[uint32]uint64{42: 42} // Read must replace, not merge
			if err := p.Read(got); err != nil {
				t.Fatal(err)
			}
			want := map[uint32]uint64{0: uint64(len(frames)), 1: size}
			if strings.Contains(m, "array") {
				want[2], want[3] = 0, 0 // an array has every key
			}
			if !maps.Equal(got, want) {
				t.Errorf("read %v, want %v", got, want)
			}
			if err := p.ReadEach(got); err != nil || !maps.Equal(got, want) {
				t.Errorf("read key by key %v, %v; want %v", got, err, want)
			}
		})
	}
}

// TestAttachCustomCountsByPort attaches the example program to a veth and
// counts UDP datagrams by destination port, exactly.
func TestAttachCustomCountsByPort(t *testing.T) {
	p := xdptest.NewPair(t)
	a, err := bpf.AttachCustom(p.Host, bpf.ModeAuto, bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "packet_count"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	want := map[uint32]uint64{}
	for i, port := range []uint16{53, 53, 443, 8080, 53, 443} {
		udp := xdptest.UDP(port, i)
		p.Inject(t, xdptest.Cat(xdptest.Eth(xdptest.EtherIPv4), xdptest.IPv4(xdptest.ProtoUDP, nil, len(udp)), udp))
		want[uint32(port)]++
	}
	// Frames that are not IPv4/UDP count nowhere.
	for _, f := range xdptest.Frames() {
		if f.Class != (bpf.Class{Network: bpf.IPv4, Transport: bpf.UDP}) {
			p.Inject(t, f.Data)
		}
	}
	got := map[uint32]uint64{}
	waitUntil(t, func() bool {
		if err := a.Read(got); err != nil {
			t.Fatal(err)
		}
		return maps.Equal(got, want)
	})
	if !maps.Equal(got, want) {
		t.Errorf("counted %v, want %v", got, want)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	xdptest.RequireNoXDP(t, p.Host)
}

func TestAttachCustomFailureLeavesNothing(t *testing.T) {
	p := xdptest.NewPair(t)
	_, err := bpf.AttachCustom(p.Host, bpf.ModeAuto, bpf.CustomSpec{Object: shapesObject(t), Function: "xdp_unchecked", Map: "array_count"})
	if err == nil {
		t.Fatal("attached a program the verifier rejects")
	}
	xdptest.RequireNoXDP(t, p.Host)
}

// TestCustomDetachKeepsTheMap: after Detach the program counts no more and
// its map still reads, so the last counts can be read after it stopped.
func TestCustomDetachKeepsTheMap(t *testing.T) {
	p := xdptest.NewPair(t)
	a, err := bpf.AttachCustom(p.Host, bpf.ModeAuto, bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "packet_count"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	udp := xdptest.UDP(53, 8)
	frame := xdptest.Cat(xdptest.Eth(xdptest.EtherIPv4), xdptest.IPv4(xdptest.ProtoUDP, nil, len(udp)), udp)
	p.Inject(t, frame)
	got := map[uint32]uint64{}
	waitUntil(t, func() bool { return a.Read(got) == nil && got[53] == 1 })
	if err := a.Detach(); err != nil {
		t.Fatal(err)
	}
	xdptest.RequireNoXDP(t, p.Host)
	p.Inject(t, frame)
	time.Sleep(50 * time.Millisecond)
	if err := a.Read(got); err != nil || got[53] != 1 {
		t.Errorf("after Detach: %v, %v; want the last count, 1", got, err)
	}
	if ok, err := a.Attached(); ok || err != nil {
		t.Errorf("Attached() = %v, %v after Detach", ok, err)
	}
	_, err = bpf.AttachCustom(p.Host, bpf.ModeTC, bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "packet_count"})
	if !errors.Is(err, bpf.ErrXDPAtTC) {
		t.Errorf("a user's XDP program in tc mode: %v", err)
	}
	noConfigWords(t, err)
}

// waitUntil polls done for up to 5 s: frames cross a veth asynchronously.
func waitUntil(t *testing.T, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !done() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}
