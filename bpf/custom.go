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

// checkCustom reads the object and checks everything that can be checked
// without the kernel: the file is an ELF object, it has the function, the
// function is an XDP program for an interface, and the map exists with a
// supported shape. It returns the object's spec trimmed to that one
// program.
func checkCustom(s CustomSpec) (*ebpf.CollectionSpec, error) {
	// Read whole, once: the checks and the spec see the same bytes.
	obj, err := readObject(s.Object, os.Geteuid())
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(obj, []byte("\x7fELF")) {
		return nil, fmt.Errorf("XDP program object %q is %w", s.Object, ErrNotELF)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(obj))
	if err != nil {
		return nil, fmt.Errorf("reading XDP program object %q: %w: %w", s.Object, ErrInvalidObject, err)
	}
	if err := checkSpec(spec, s); err != nil {
		return nil, err
	}
	spec.Programs = map[string]*ebpf.ProgramSpec{s.Function: spec.Programs[s.Function]}
	return spec, nil
}

// checkSpec checks that the object whose spec is spec has the function,
// as an XDP program for an interface, and the map, with a shape that
// customProgram.read reads.
func checkSpec(spec *ebpf.CollectionSpec, s CustomSpec) error {
	prog, ok := spec.Programs[s.Function]
	if !ok {
		return fmt.Errorf("XDP program object %q has no program %q; its programs: %s",
			s.Object, s.Function, describePrograms(spec))
	}
	if prog.AttachType == ebpf.AttachXDPDevMap || prog.AttachType == ebpf.AttachXDPCPUMap {
		// The kernel runs these on frames redirected into a map's entry,
		// and refuses them on an interface with a bare EINVAL.
		return fmt.Errorf("program %q in %q is %w (SEC(%q)); its programs: %s",
			s.Function, s.Object, ErrMapEntryProgram, prog.SectionName, describePrograms(spec))
	}
	if prog.Type != ebpf.XDP {
		return fmt.Errorf("program %q in %q is a %s program, %w; its programs: %s",
			s.Function, s.Object, prog.Type, ErrNotXDP, describePrograms(spec))
	}

	m, ok := spec.Maps[s.Map]
	if !ok {
		return fmt.Errorf("XDP program object %q has no map %q; its maps: %s", s.Object, s.Map, describeMaps(spec))
	}
	if !isCounterMap(m) {
		return fmt.Errorf("map %q in %q is a %s with %d-byte keys and %d-byte values, %w",
			s.Map, s.Object, m.Type, m.KeySize, m.ValueSize, ErrNotCounterMap)
	}
	return nil
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
		return nil, &ObjectOpenError{Path: path, Err: err}
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

// customProgram is a user's XDP program with its maps, loaded into the
// kernel but attached to nothing.
type customProgram struct {
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

// CustomObject is a user's object, read and checked (OpenCustom) once and
// kept in memory: every attachment starts from this copy, so a file
// changed on disk after the check never changes what is attached.
type CustomObject struct {
	spec *ebpf.CollectionSpec
	s    CustomSpec
}

// OpenCustom reads the object that s names and checks everything that can
// be checked without the kernel: the file is an ELF object, it has the
// function, the function is an XDP program for an interface, and the map
// exists with a supported shape.
func OpenCustom(s CustomSpec) (*CustomObject, error) {
	spec, err := checkCustom(s)
	if err != nil {
		return nil, err
	}
	return &CustomObject{spec: spec, s: s}, nil
}

// load loads a fresh copy of the program and its maps. A verifier rejection
// comes with the last lines of the verifier's log.
func (o *CustomObject) load() (*customProgram, error) {
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
	p := &customProgram{coll: coll, prog: coll.Programs[s.Function], m: coll.Maps[s.Map], cpus: 1,
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
		return nil, fmt.Errorf("attach program %q to %q: %w", o.s.Function, iface, ErrXDPAtTC)
	}
	ifc, err := lookup(&netlink.Handle{}, iface) // a socket for the one request
	if err != nil {
		return nil, err
	}
	if err := checkSlotFree(ifc); err != nil {
		return nil, err
	}
	p, err := o.load()
	if err != nil {
		return nil, err
	}
	l, got, err := attachXDPLink(p.prog, ifc, mode, p.frags)
	if err != nil {
		return nil, errors.Join(err, p.close())
	}
	return &CustomAttachment{name: iface, ifindex: ifc.Attrs().Index, mode: got, link: l, program: p}, nil
}

// read replaces dst's contents with the counter map's: every key and its
// value, per-CPU values summed. An array's keys are all there, zeros
// included; a hash's only once the program stored them. It reads in batches
// of customReadBatch keys, one syscall each, and key by key where the kernel has
// no batch lookup for the map.
func (p *customProgram) read(dst map[uint32]uint64) error {
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

func (p *customProgram) sum(dst map[uint32]uint64, n int) {
	for i, k := range p.keys[:n] {
		var v uint64
		for _, c := range p.values[i*p.cpus : (i+1)*p.cpus] {
			v += c
		}
		dst[k] = v
	}
}

func (p *customProgram) readEach(dst map[uint32]uint64) error {
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

// close frees the program and its maps. It is safe to call more than once.
func (p *customProgram) close() error {
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
	program *customProgram
}

// Read replaces dst's contents with the counter map's: every key and its
// value, per-CPU values summed. An array's keys are all there, zeros
// included; a hash's only once the program stored them.
func (a *CustomAttachment) Read(dst map[uint32]uint64) error {
	if err := a.program.read(dst); err != nil {
		return fmt.Errorf("read map of the XDP program on %q: %w", a.name, err)
	}
	return nil
}

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
	return errors.Join(a.Detach(), a.program.close())
}
