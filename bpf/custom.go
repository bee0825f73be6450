//go:build linux

package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Counter maps are read as 4-byte keys and 8-byte counters; per-CPU values
// are summed. These are the kinds of map that hold them.
var counterMapTypes = []ebpf.MapType{ebpf.Array, ebpf.Hash, ebpf.PerCPUArray, ebpf.PerCPUHash}

// CheckCustom reads the object and checks everything that can be checked
// without the kernel: the file is an ELF object, it has the function, the
// function is an XDP program, and the map exists with a supported shape. It
// returns the object's spec trimmed to that one program.
func CheckCustom(s CustomSpec) (*ebpf.CollectionSpec, error) {
	// Read whole, once: the checks and the spec see the same bytes.
	obj, err := readObject(s.Object, os.Geteuid())
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(obj, []byte("\x7fELF")) {
		return nil, fmt.Errorf("XDP program object %q is not an ELF file: give the object that "+
			"clang -target bpf -O2 -g -c prog.c -o prog.o writes", s.Object)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(obj))
	if err != nil {
		return nil, fmt.Errorf("reading XDP program object %q: %w: is it a BPF object (clang -target bpf)?", s.Object, err)
	}

	prog, ok := spec.Programs[s.Function]
	if !ok {
		return nil, fmt.Errorf("XDP program object %q has no program %q; its programs: %s",
			s.Object, s.Function, describePrograms(spec))
	}
	if prog.AttachType == ebpf.AttachXDPDevMap || prog.AttachType == ebpf.AttachXDPCPUMap {
		// The kernel runs these on frames redirected into a map's entry,
		// and refuses them on an interface with a bare EINVAL.
		return nil, fmt.Errorf("program %q in %q is for a devmap or cpumap entry (SEC(%q)), which the kernel does not "+
			"attach to an interface: give a program of SEC(\"xdp\"); its programs: %s", s.Function, s.Object, prog.SectionName, describePrograms(spec))
	}
	if prog.Type != ebpf.XDP {
		return nil, fmt.Errorf("program %q in %q is a %s program, not XDP: the receiver attaches XDP programs "+
			"only (SEC(\"xdp\") in the C source); its XDP programs: %s", s.Function, s.Object, prog.Type, describePrograms(spec))
	}

	m, ok := spec.Maps[s.Map]
	if !ok {
		return nil, fmt.Errorf("XDP program object %q has no map %q; its maps: %s", s.Object, s.Map, describeMaps(spec))
	}
	if !isCounterMap(m) {
		return nil, fmt.Errorf("map %q in %q is a %s with %d-byte keys and %d-byte values; the receiver reads "+
			"an Array, Hash, PerCPUArray or PerCPUHash with 4-byte keys and 8-byte values (__u32 to __u64 counters)",
			s.Map, s.Object, m.Type, m.KeySize, m.ValueSize)
	}

	spec.Programs = map[string]*ebpf.ProgramSpec{s.Function: prog}
	return spec, nil
}

// readObject reads the object at path, unless anyone but root and euid (the
// user this process runs as) could have written what it reads: a program
// loaded from it runs with this process's privileges in the kernel, on
// every interface it is attached to. So the file must be a regular file
// owned by root or euid and writable by its owner only; and every
// directory on its path, both as given and with its symbolic links
// resolved, must be owned by root or euid and writable by its owner only,
// or sticky (like /tmp, where nobody removes or renames another's file).
//
// The file's checks are made on the open descriptor, which the read then
// reads: nothing can be swapped in between. The directories' cannot be,
// but they need not: a directory only root or euid can write stays so
// until root or euid changes it.
func readObject(path string, euid int) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO would block until someone wrote to it;
	// it is refused below as not a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening XDP program object %q: %w: check program.object", path, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat XDP program object %q: %w", path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() {
		return nil, &UnsafeObjectError{Path: path, Reason: fmt.Sprintf("it is not a regular file (%s)", fi.Mode().Type())}
	}
	if reason := writableByOthers("it", st, euid); reason != "" {
		return nil, &UnsafeObjectError{Path: path, Reason: reason}
	}
	if err := checkDirectories(path, st, euid); err != nil {
		return nil, err
	}
	obj, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading XDP program object %q: %w", path, err)
	}
	return obj, nil
}

// checkDirectories checks every directory on path, the way to the file
// whose descriptor's stat is st: those of the path as given, where a
// symbolic link could be replaced, and those of the path resolved, where
// the file itself could be.
func checkDirectories(path string, st *syscall.Stat_t, euid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("resolving XDP program object %q: %w", path, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("resolving XDP program object %q: %w", path, err)
	}
	var at syscall.Stat_t
	if err := syscall.Stat(resolved, &at); err != nil || at.Dev != st.Dev || at.Ino != st.Ino {
		return &UnsafeObjectError{Path: path, Reason: "it was replaced while it was being opened"}
	}
	for _, p := range []string{abs, resolved} {
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			var ds syscall.Stat_t
			if err := syscall.Stat(dir, &ds); err != nil {
				return fmt.Errorf("checking directory %q of XDP program object %q: %w", dir, path, err)
			}
			if reason := writableByOthers(fmt.Sprintf("directory %q", dir), &ds, euid); reason != "" {
				return &UnsafeObjectError{Path: path, Reason: reason}
			}
			if dir == "/" {
				break
			}
		}
	}
	return nil
}

// writableByOthers says how someone other than root and euid could write
// what, whose stat is st, or returns "" when nobody could. A sticky
// directory writable by others is safe for what its owners put in it.
func writableByOthers(what string, st *syscall.Stat_t, euid int) string {
	if st.Uid != 0 && int(st.Uid) != euid {
		if euid == 0 {
			return fmt.Sprintf("%s is owned by uid %d, not root", what, st.Uid)
		}
		return fmt.Sprintf("%s is owned by uid %d, neither root nor uid %d, which this process runs as", what, st.Uid, euid)
	}
	mode := st.Mode & 0o7777
	var unsticky string
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if mode&syscall.S_ISVTX != 0 {
			return ""
		}
		unsticky = ", without the sticky bit"
	}
	switch {
	case mode&0o002 != 0:
		return fmt.Sprintf("%s is writable by every user (mode %04o%s)", what, mode, unsticky)
	case mode&0o020 != 0:
		return fmt.Sprintf("%s is writable by its group, gid %d (mode %04o%s)", what, st.Gid, mode, unsticky)
	}
	return ""
}

func isCounterMap(m *ebpf.MapSpec) bool {
	for _, t := range counterMapTypes {
		if m.Type == t {
			return m.KeySize == 4 && m.ValueSize == 8
		}
	}
	return false
}

func describePrograms(spec *ebpf.CollectionSpec) string {
	var names []string
	for name, p := range spec.Programs {
		names = append(names, fmt.Sprintf("%s (%s)", name, p.Type))
	}
	return listOrNone(names)
}

func describeMaps(spec *ebpf.CollectionSpec) string {
	var names []string
	for name, m := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // .rodata, .bss: the compiler's, not the user's
		}
		names = append(names, fmt.Sprintf("%s (%s, %d-byte keys, %d-byte values)", name, m.Type, m.KeySize, m.ValueSize))
	}
	return listOrNone(names)
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// CustomProgram is a user's XDP program with its maps, loaded into the
// kernel but attached to nothing.
type CustomProgram struct {
	coll *ebpf.Collection
	prog *ebpf.Program
	m    *ebpf.Map
	cpus int // values per key: the possible CPUs for a per-CPU map, else 1
	// frags: loaded frags-aware, from SEC("xdp.frags").
	frags bool
	// Buffers of one batch, reused by every read.
	keys   []uint32
	values []uint64
}

// customReadBatch is how many keys one batch lookup reads.
const customReadBatch = 256

// CustomObject is a user's object, read and checked (CheckCustom) once and
// kept in memory: every load and attachment starts from this copy, so a
// file changed on disk after the check never changes what is attached.
type CustomObject struct {
	spec *ebpf.CollectionSpec
	s    CustomSpec
}

// OpenCustom reads and checks the object that s names, without the kernel.
func OpenCustom(s CustomSpec) (*CustomObject, error) {
	spec, err := CheckCustom(s)
	if err != nil {
		return nil, err
	}
	return &CustomObject{spec: spec, s: s}, nil
}

// LoadCustom opens the object (OpenCustom) and loads it.
func LoadCustom(s CustomSpec) (*CustomProgram, error) {
	o, err := OpenCustom(s)
	if err != nil {
		return nil, err
	}
	return o.Load()
}

// Load loads a fresh copy of the program and its maps. A verifier rejection
// comes with the last lines of the verifier's log.
func (o *CustomObject) Load() (*CustomProgram, error) {
	s := o.s
	if err := removeMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}
	coll, err := ebpf.NewCollection(o.spec.Copy())
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) && len(ve.Log) > 0 {
			tail := fmt.Sprintf("%-12v", ve) // the log's last 12 lines
			return nil, fmt.Errorf("the kernel's verifier rejected program %q from %q: %w\nlast lines of the verifier log:\n%s",
				s.Function, s.Object, err, tail)
		}
		return nil, fmt.Errorf("load program %q from %q: %w", s.Function, s.Object, err)
	}
	p := &CustomProgram{coll: coll, prog: coll.Programs[s.Function], m: coll.Maps[s.Map], cpus: 1,
		frags: o.spec.Programs[s.Function].Flags&unix.BPF_F_XDP_HAS_FRAGS != 0}
	if p.m.Type() == ebpf.PerCPUArray || p.m.Type() == ebpf.PerCPUHash {
		if p.cpus, err = ebpf.PossibleCPU(); err != nil {
			coll.Close()
			return nil, fmt.Errorf("counting possible CPUs: %w", err)
		}
	}
	p.keys, p.values = make([]uint32, customReadBatch), make([]uint64, customReadBatch*p.cpus)
	return p, nil
}

// Attach loads a fresh copy of the program, with maps of its own, and
// attaches it to the interface named iface, as Attach does the built-in
// counter.
//
// It refuses, before loading anything, an interface whose XDP slot another
// program holds: a link never replaces a program. ModeTC is not for XDP
// programs; ModeAuto tries native XDP, then generic.
func (o *CustomObject) Attach(iface string, mode Mode) (*CustomAttachment, error) {
	if mode == ModeTC {
		return nil, fmt.Errorf("attach program %q to %q: attach mode tc is for the built-in counter only", o.s.Function, iface)
	}
	ifc, err := lookup(&netlink.Handle{}, iface) // a socket for the one request
	if err != nil {
		return nil, err
	}
	if err := checkSlotFree(ifc); err != nil {
		return nil, err
	}
	p, err := o.Load()
	if err != nil {
		return nil, err
	}
	l, got, err := attachXDPLink(p.prog, ifc, mode, p.frags)
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return &CustomAttachment{name: iface, ifindex: ifc.Attrs().Index, mode: got, link: l, program: p}, nil
}

// Program is the loaded XDP program.
func (p *CustomProgram) Program() *ebpf.Program { return p.prog }

// Frags tells whether the program was loaded frags-aware (SEC("xdp.frags")).
func (p *CustomProgram) Frags() bool { return p.frags }

// Read replaces dst's contents with the counter map's: every key and its
// value, per-CPU values summed. An array's keys are all there, zeros
// included; a hash's only once the program stored them. It reads in batches
// of customReadBatch keys, one syscall each, and key by key where the kernel has
// no batch lookup for the map.
func (p *CustomProgram) Read(dst map[uint32]uint64) error {
	clear(dst)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := p.m.BatchLookup(&cursor, p.keys, p.values, nil)
		p.sum(dst, n)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			// No batch lookups (before 5.6 for arrays, 5.6 for hashes), or
			// a hash bucket larger than a batch (ENOSPC).
			clear(dst)
			return p.readEach(dst)
		}
	}
}

func (p *CustomProgram) sum(dst map[uint32]uint64, n int) {
	for i, k := range p.keys[:n] {
		var v uint64
		for _, c := range p.values[i*p.cpus : (i+1)*p.cpus] {
			v += c
		}
		dst[k] = v
	}
}

func (p *CustomProgram) readEach(dst map[uint32]uint64) error {
	var key uint32
	it := p.m.Iterate()
	if p.m.Type() == ebpf.PerCPUArray || p.m.Type() == ebpf.PerCPUHash {
		var perCPU []uint64 // the iterator may give a slice of its own
		for it.Next(&key, &perCPU) {
			var v uint64
			for _, c := range perCPU {
				v += c
			}
			dst[key] = v
		}
		return it.Err()
	}
	var value uint64
	for it.Next(&key, &value) {
		dst[key] = value
	}
	return it.Err()
}

// Close frees the program and its maps. It is safe to call more than once.
func (p *CustomProgram) Close() error {
	if p.coll != nil {
		p.coll.Close()
		p.coll = nil
	}
	return nil
}

// CustomAttachment is a user's program attached to one interface through a
// bpf_link, with a counter map of its own: every attachment loads the
// object afresh, so interfaces never mix their counts. The link belongs to
// this process: if the process dies, even by SIGKILL, the kernel detaches
// the program and frees everything with it.
type CustomAttachment struct {
	name    string
	ifindex int
	mode    Mode
	link    link.Link
	program *CustomProgram
}

// AttachCustom opens the object that s names (OpenCustom) and attaches it.
func AttachCustom(iface string, mode Mode, s CustomSpec) (*CustomAttachment, error) {
	o, err := OpenCustom(s)
	if err != nil {
		return nil, err
	}
	return o.Attach(iface, mode)
}

// Read replaces dst's contents with the interface's counters, as
// CustomProgram.Read does.
func (a *CustomAttachment) Read(dst map[uint32]uint64) error {
	if err := a.program.Read(dst); err != nil {
		return fmt.Errorf("read map of the XDP program on %q: %w", a.name, err)
	}
	return nil
}

// Interface is the name of the interface the program is attached to.
func (a *CustomAttachment) Interface() string { return a.name }

// Ifindex is the index the interface had when the program was attached.
func (a *CustomAttachment) Ifindex() int { return a.ifindex }

// Mode is the mode the program runs in: ModeNative or ModeGeneric.
func (a *CustomAttachment) Mode() Mode { return a.mode }

// Attached reports whether the program still runs on the interface: it
// stops when the interface is deleted and when someone detaches the link
// from outside (bpftool link detach). An interface moved to another
// network namespace keeps the program, until Detach. One syscall.
func (a *CustomAttachment) Attached() (bool, error) {
	if a.link == nil {
		return false, nil
	}
	info, err := a.link.Info()
	if err != nil {
		return false, fmt.Errorf("query XDP link of %q: %w", a.name, err)
	}
	return info.XDP().Ifindex != 0, nil
}

// Detach detaches the program and keeps its map readable, so that the last
// counts can be read after the program stopped counting. It is safe to
// call more than once.
func (a *CustomAttachment) Detach() error {
	if a.link == nil {
		return nil
	}
	err := a.link.Close()
	a.link = nil
	if err != nil {
		return fmt.Errorf("detach XDP from %q: %w", a.name, err)
	}
	return nil
}

// Close detaches the program and frees it and its maps. It is safe to call
// more than once.
func (a *CustomAttachment) Close() error {
	return errors.Join(a.Detach(), a.program.Close())
}
