package bpf

// CustomSpec names a user's XDP program and the counter map to export, in a
// compiled BPF ELF object.
type CustomSpec struct {
	Object   string // path of the object file
	Function string // the XDP program in it to attach
	Map      string // the map of counters to export
}
