//go:build linux

package bpf

import "fmt"

// LoadWithoutFrags loads the counter as on kernels before 5.18: without
// BPF_F_XDP_HAS_FRAGS, reading headers at variable offsets in place. Tests
// run both variants on this kernel, so the older kernels' path is tested too.
func LoadWithoutFrags() (*Instance, error) {
	if err := removeMemlock(); err != nil {
		return nil, err
	}
	objs, err := loadWithFrags(false)
	if err != nil {
		return nil, fmt.Errorf("load XDP counter without frags: %w", err)
	}
	return newInstance(objs, false)
}

// ReadEach reads key by key, as Read does where the kernel has no batch
// lookup for the map, so that path is tested on this kernel too.
func (p *CustomProgram) ReadEach(dst map[uint32]uint64) error {
	clear(dst)
	return p.readEach(dst)
}

// AttachWithoutFrags attaches the counter loaded as on kernels before 5.18.
func AttachWithoutFrags(iface string, mode Mode) (*Attachment, error) {
	b, c, err := bind(iface, mode, LoadWithoutFrags)
	if err != nil {
		return nil, err
	}
	return &Attachment{binding: b, counter: c}, nil
}
