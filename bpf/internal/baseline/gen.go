//go:build linux

// Package baseline holds the XDP programs that benchmarks measure the counter
// against: an empty program (the floor) and the seed design (a hash map keyed
// by ethertype, incremented atomically).
package baseline

//go:generate go tool bpf2go -tags linux baseline baseline.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror

// Objects are the loaded baseline programs and the seed's map.
type Objects = baselineObjects

// Load loads both baseline programs into the kernel.
func Load() (*Objects, error) {
	var objs baselineObjects
	if err := loadBaselineObjects(&objs, nil); err != nil {
		return nil, err
	}
	return &objs, nil
}
