package usbdisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// USBPath is where a block device hangs on the USB tree.
type USBPath struct {
	Device    string // USB device location: "2-1" (bus 2, root port 1), "1-1.3" (hub 1-1, port 3)
	Interface string // the mass-storage interface: "2-1:1.0"
	Port      Port   // the hub port that feeds Device
	// Controller is the root hub's parent (the host controller) relative to
	// Root: "/sys/devices/platform/scb/fd500000.pcie/…/0000:01:00.0".
	Controller string
}

var (
	usbDeviceRe = regexp.MustCompile(`^[0-9]+-[0-9]+(\.[0-9]+)*$`)
	usbIfaceRe  = regexp.MustCompile(`^[0-9]+-[0-9]+(\.[0-9]+)*:[0-9]+\.[0-9]+$`)
	rootHubRe   = regexp.MustCompile(`^usb[0-9]+$`)
)

// parseUSBPath finds the USB device in a block device's sysfs path
// (…/usb2/2-1/2-1:1.0/host0/…/block/sda). It returns nil for a disk that is
// not on USB (an SD card, NVMe).
func parseUSBPath(root, sysPath string) (*USBPath, error) {
	parts := strings.Split(sysPath, "/")
	for i := len(parts) - 2; i >= 0; i-- {
		if !usbDeviceRe.MatchString(parts[i]) || !usbIfaceRe.MatchString(parts[i+1]) {
			continue
		}
		u := &USBPath{Device: parts[i], Interface: parts[i+1]}
		port, err := portFeeding(root, u.Device)
		if err != nil {
			return nil, err
		}
		u.Port = port
		for j := i - 1; j >= 0; j-- {
			if rootHubRe.MatchString(parts[j]) {
				u.Controller = strings.Join(parts[:j], "/")
				break
			}
		}
		return u, nil
	}
	return nil, nil
}

// Port is one downstream port of a USB hub.
type Port struct {
	Root   string // filesystem root the sysfs paths hang off
	Hub    string // kernel name of the hub device: "usb2" (root hub of bus 2) or "1-1"
	Number int    // 1-based
}

// portFeeding returns the port a USB device location is plugged into:
// "2-1" is port 1 of root hub usb2, "1-1.3" port 3 of hub 1-1.
func portFeeding(root, device string) (Port, error) {
	if !usbDeviceRe.MatchString(device) {
		return Port{}, fmt.Errorf("%q is not a USB device location", device)
	}
	if i := strings.LastIndexByte(device, '.'); i >= 0 {
		n, err := strconv.Atoi(device[i+1:])
		if err != nil {
			return Port{}, fmt.Errorf("USB device %s: %w", device, err)
		}
		return Port{Root: root, Hub: device[:i], Number: n}, nil
	}
	bus, port, _ := strings.Cut(device, "-")
	n, err := strconv.Atoi(port)
	if err != nil {
		return Port{}, fmt.Errorf("USB device %s: %w", device, err)
	}
	return Port{Root: root, Hub: "usb" + bus, Number: n}, nil
}

// PortFromLocation parses a port named by the device location it feeds
// ("2-1", "1-1.3"), as uhubctl and the messages of this package name them.
func PortFromLocation(root, location string) (Port, error) {
	return portFeeding(root, location)
}

// Location is the USB location of whatever is plugged into the port; it is
// how ports are named to people: "2-1", "1-1.3".
func (p Port) Location() string {
	if bus, ok := strings.CutPrefix(p.Hub, "usb"); ok {
		return bus + "-" + strconv.Itoa(p.Number)
	}
	return p.Hub + "." + strconv.Itoa(p.Number)
}

func (p Port) String() string { return p.Location() }

// same reports whether two values name the same port.
func (p Port) same(q Port) bool { return p.Hub == q.Hub && p.Number == q.Number }

// hubInterface is the kernel name of the hub's interface, under which the
// port directories live: "2-0:1.0" for root hub usb2, "1-1:1.0" for hub 1-1.
func hubInterface(root, hub string) string {
	cfg := "1"
	if v, err := readTrim(filepath.Join(root, "sys/bus/usb/devices", hub, "bConfigurationValue")); err == nil && v != "" {
		cfg = v
	}
	if bus, ok := strings.CutPrefix(hub, "usb"); ok {
		return bus + "-0:" + cfg + ".0"
	}
	return hub + ":" + cfg + ".0"
}

// Dir is the port's sysfs directory:
// <root>/sys/bus/usb/devices/2-0:1.0/usb2-port1 or …/1-1:1.0/1-1-port3.
func (p Port) Dir() string {
	return filepath.Join(p.Root, "sys/bus/usb/devices", hubInterface(p.Root, p.Hub),
		p.Hub+"-port"+strconv.Itoa(p.Number))
}

// DisableFile is the port's power switch (Linux 6.0+): "1" = off, "0" = on.
func (p Port) DisableFile() string { return filepath.Join(p.Dir(), "disable") }

// Disabled reads the port's disable attribute.
func (p Port) Disabled() (bool, error) {
	v, err := readTrim(p.DisableFile())
	if err != nil {
		return false, fmt.Errorf("usb port %s: read power state: %w", p, err)
	}
	switch v {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, fmt.Errorf("usb port %s: %s holds %q, want 0 or 1", p, p.DisableFile(), v)
}

// SetPower turns the port on (writes 0 to disable) or off (writes 1). On
// hubs that switch power this also switches VBUS; on others it only
// disconnects the device logically.
func (p Port) SetPower(on bool) error {
	v := "1"
	if on {
		v = "0"
	}
	f, err := os.OpenFile(p.DisableFile(), os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("usb port %s: no %s (port power switching needs Linux 6.0 or later): %w", p, p.DisableFile(), err)
		}
		return fmt.Errorf("usb port %s: %w", p, err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("usb port %s: write %s to %s: %w", p, v, p.DisableFile(), err)
	}
	return nil
}

// Peer returns the port's twin on the other speed's hub (a USB 3 port and
// the USB 2 port sharing its connector and VBUS), from the kernel's "peer"
// link. ok is false when the port has none.
func (p Port) Peer() (peer Port, ok bool, err error) {
	target, err := os.Readlink(filepath.Join(p.Dir(), "peer"))
	if errors.Is(err, os.ErrNotExist) {
		return Port{}, false, nil
	}
	if err != nil {
		return Port{}, false, fmt.Errorf("usb port %s: peer: %w", p, err)
	}
	q, err := portFromDirName(p.Root, filepath.Base(target))
	if err != nil {
		return Port{}, false, fmt.Errorf("usb port %s: peer: %w", p, err)
	}
	return q, true, nil
}

// portFromDirName parses "usb2-port1" or "1-1-port3".
func portFromDirName(root, name string) (Port, error) {
	i := strings.LastIndex(name, "-port")
	if i <= 0 {
		return Port{}, fmt.Errorf("%q is not a port directory", name)
	}
	n, err := strconv.Atoi(name[i+len("-port"):])
	if err != nil || n <= 0 {
		return Port{}, fmt.Errorf("%q is not a port directory", name)
	}
	hub := name[:i]
	if !rootHubRe.MatchString(hub) && !usbDeviceRe.MatchString(hub) {
		return Port{}, fmt.Errorf("%q is not a port directory", name)
	}
	return Port{Root: root, Hub: hub, Number: n}, nil
}

// hubPorts lists the ports of a hub from its interface directory.
func hubPorts(root, hub string) ([]Port, error) {
	dir := filepath.Join(root, "sys/bus/usb/devices", hubInterface(root, hub))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("usb hub %s: list ports: %w", hub, err)
	}
	var ports []Port
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), hub+"-port") {
			continue
		}
		if p, err := portFromDirName(root, e.Name()); err == nil && p.Hub == hub {
			ports = append(ports, p)
		}
	}
	sortPorts(ports)
	return ports, nil
}

// under reports whether the USB device at location loc is plugged into
// port p or sits somewhere below it.
func (p Port) under(loc string) bool {
	l := p.Location()
	return loc == l || strings.HasPrefix(loc, l+".")
}
