//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DescribeDriver reads what attaching XDP to the interface named iface
// depends on in its driver: its name (the /sys/class/net/IFACE/device/driver
// link, or ETHTOOL_GDRVINFO for a device with no parent, such as veth or
// tun), whether LRO and hardware GRO are on (ETHTOOL_GFEATURES), and its
// MTU. Every request is one the kernel answers without privilege.
func DescribeDriver(iface string) (Driver, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Driver{}, fmt.Errorf("describe driver of %q: %w", iface, err)
	}
	defer func() { _ = unix.Close(fd) }()

	var d Driver
	if target, err := os.Readlink("/sys/class/net/" + iface + "/device/driver"); err == nil {
		d.Name = filepath.Base(target)
	} else if info, err := unix.IoctlGetEthtoolDrvinfo(fd, iface); err == nil {
		d.Name = unix.ByteSliceToString(info.Driver[:])
	}
	features, err := readFeatures(fd, iface)
	if errors.Is(err, unix.ENODEV) {
		return Driver{}, &InterfaceNotFoundError{Name: iface}
	}
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return Driver{}, fmt.Errorf("read features of %q: %w", iface, err)
	}
	d.LRO, d.GROHW = features["rx-lro"], features["rx-gro-hw"]
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return Driver{}, fmt.Errorf("describe driver of %q: %w", iface, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return Driver{}, fmt.Errorf("read MTU of %q: %w", iface, err)
	}
	d.MTU = int(ifr.Uint32())
	return d, nil
}

// The ethtool commands and string set of linux/ethtool.h that name the
// device's features and tell which are active.
const (
	ethtoolGStrings  = 0x1b
	ethtoolGSSetInfo = 0x37
	ethtoolGFeatures = 0x3a
	ethSSFeatures    = 4
	ethGStringLen    = 32
)

// readFeatures reads which of the device's features are active, by name
// ("rx-lro", "rx-gro-hw", "tx-tcp-segmentation"): the
// names and their bits from the kernel's own string set, since the bits'
// positions change between kernel versions.
func readFeatures(fd int, iface string) (map[string]bool, error) {
	// struct ethtool_sset_info with one u32 of data: the set's length.
	var info struct {
		cmd, reserved uint32
		mask          uint64
		n             uint32
	}
	info.cmd, info.mask = ethtoolGSSetInfo, 1<<ethSSFeatures
	if err := ethtool(fd, iface, unsafe.Pointer(&info)); err != nil {
		return nil, err
	}
	if info.mask == 0 || info.n == 0 || info.n > 1024 {
		return nil, fmt.Errorf("feature names: %w", unix.EOPNOTSUPP)
	}
	n := int(info.n)

	// struct ethtool_gstrings: cmd, string_set, len, then the names.
	names := make([]byte, 12+n*ethGStringLen)
	*(*[3]uint32)(unsafe.Pointer(&names[0])) = [3]uint32{ethtoolGStrings, ethSSFeatures, uint32(n)}
	if err := ethtool(fd, iface, unsafe.Pointer(&names[0])); err != nil {
		return nil, err
	}

	// struct ethtool_gfeatures: cmd, size, then a block of available,
	// requested, active and never-changed bits per 32 features.
	blocks := (n + 31) / 32
	raw := make([]uint32, 2+4*blocks)
	raw[0], raw[1] = ethtoolGFeatures, uint32(blocks)
	if err := ethtool(fd, iface, unsafe.Pointer(&raw[0])); err != nil {
		return nil, err
	}
	features := make(map[string]bool, n)
	for i := range n {
		name := unix.ByteSliceToString(names[12+i*ethGStringLen : 12+(i+1)*ethGStringLen])
		active := raw[2+4*(i/32)+2]
		features[name] = active&(1<<(i%32)) != 0
	}
	return features, nil
}

// ifreqData is struct ifreq with its ifr_data member.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ethtool runs the ethtool command that cmd points to (a struct whose
// first u32 is the command) on iface, and leaves the answer there.
func ethtool(fd int, iface string, cmd unsafe.Pointer) error {
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], iface)
	ifr.data = cmd
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ifr)
	if errno != 0 {
		return errno
	}
	return nil
}
