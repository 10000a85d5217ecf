package usbdisk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Layout says which hub ports switch power together.
type Layout struct {
	// Board is the device-tree model ("Raspberry Pi 5 Model B Rev 1.0"), or "".
	Board string
	// OnboardHubs are the hubs whose ports are all switched together as one
	// group: on a Pi 4 the VL805's internal USB 2 hub and its USB 3 root hub
	// ("1-1", "usb2"), on a Pi 5 the four RP1 root hubs. Empty elsewhere.
	OnboardHubs []string
	// GangedHubs are external hubs that switch all their ports together
	// (configured by the user; most hubs that switch at all are per-port).
	GangedHubs []string
}

const onboardWhy = "Raspberry Pi 4/5 onboard ports are switched together; use a hub with per-port power switching"

// Onboard USB controllers of the Pis whose ports are ganged, by the
// platform device that carries them in the device tree, and the VIA Labs
// VL805 internal hub that the Pi 4's USB 2 ports hang off.
var gangedBoards = []struct {
	modelPrefix, controller string
	internalHub             bool // USB 2 goes through the VL805's own hub
}{
	{"Raspberry Pi 4", "/fd500000.pcie/", true},
	{"Raspberry Pi 400", "/fd500000.pcie/", true},
	{"Raspberry Pi 5", "/1000120000.pcie/", false},
	{"Raspberry Pi 500", "/1000120000.pcie/", false},
}

const vl805Vendor = "2109"

// DetectLayout reads the board model and lists the onboard hubs of a Pi 4
// or Pi 5 from <root>/sys. gangedHubs are external hubs the user says
// switch all their ports together; they are kept as given.
func DetectLayout(root string, gangedHubs []string) (Layout, error) {
	l := Layout{GangedHubs: slices.Clone(gangedHubs)}
	for _, p := range []string{"sys/firmware/devicetree/base/model", "proc/device-tree/model"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err == nil {
			l.Board = strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
			break
		}
	}
	controller, internalHub := "", false
	for _, g := range gangedBoards {
		if strings.HasPrefix(l.Board, g.modelPrefix) && !strings.Contains(l.Board, "Compute Module") {
			controller, internalHub = g.controller, g.internalHub
		}
	}
	if controller == "" {
		return l, nil
	}
	dir := filepath.Join(root, "sys/bus/usb/devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return l, fmt.Errorf("detect usb power layout on %s: %w", l.Board, err)
	}
	for _, e := range entries {
		hub := e.Name()
		if !rootHubRe.MatchString(hub) {
			continue
		}
		target, err := resolveLink(filepath.Join(dir, hub))
		if err != nil || !strings.Contains(target, controller) {
			continue
		}
		// On a Pi 4 the USB 2 root hub has a single port, which feeds the
		// VL805's own 4-port hub: the user's ports are that hub's. (A VIA
		// hub on a USB 3 root port is an external hub.)
		internal := ""
		if internalHub && attr(root, hub, "maxchild") == "1" {
			c := strings.TrimPrefix(hub, "usb") + "-1"
			if attr(root, c, "idVendor") == vl805Vendor && attr(root, c, "bDeviceClass") == "09" {
				internal = c
			}
		}
		if internal != "" {
			l.OnboardHubs = append(l.OnboardHubs, internal)
		} else {
			l.OnboardHubs = append(l.OnboardHubs, hub)
		}
	}
	sort.Strings(l.OnboardHubs)
	return l, nil
}

func attr(root, dev, name string) string {
	v, _ := readTrim(filepath.Join(root, "sys/bus/usb/devices", dev, name))
	return v
}

// gang returns the ports switched together with p (p included) and why.
func (l Layout) gang(p Port) ([]Port, string, error) {
	hubs := []string{p.Hub}
	why := ""
	switch {
	case slices.Contains(l.OnboardHubs, p.Hub):
		hubs, why = l.OnboardHubs, onboardWhy
	case slices.Contains(l.GangedHubs, p.Hub):
		why = fmt.Sprintf("hub %s switches all its ports together (configured as ganged)", p.Hub)
	default:
		return []Port{p}, "", nil
	}
	var ports []Port
	for _, h := range hubs {
		hp, err := hubPorts(p.Root, h)
		if err != nil {
			return nil, "", err
		}
		ports = append(ports, hp...)
	}
	if !slices.ContainsFunc(ports, p.same) {
		ports = append(ports, p)
	}
	return ports, why, nil
}

// PortCut is a checked plan to switch off a port and everything that is
// switched with it.
type PortCut struct {
	Port  Port     // the port asked for
	Ports []Port   // every port the cut writes, Port and its gang and their USB 2/3 peers
	Why   string   // why more than Port is switched, or ""
	Disks []string // whole disks that lose power, all in the sequence
}

// CutRefusedError says why a port may not be switched off.
type CutRefusedError struct {
	Port   string // "2-1"
	Device string // "sdb", or "USB device 1-2 (ConBee II)"
	Reason string // "mounted at /, the root filesystem"
	Why    string // the gang, or how to fix it
}

func (e *CutRefusedError) Error() string {
	s := fmt.Sprintf("port %s also powers %s (%s)", e.Port, e.Device, e.Reason)
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// CheckPortCut checks that switching off port p cannot hurt anything but
// the disks in sequence (whole-disk kernel names, e.g. "sda"): every block
// device and every other USB device that loses power with p must be a disk
// of the sequence, and none of their filesystems may still be mounted or
// used as swap. The root and boot filesystems are named as such.
func CheckPortCut(l Layout, p Port, sequence []string) (*PortCut, error) {
	return checkPortCut(l, p, sequence, false)
}

// PlanPortCut makes the same checks as CheckPortCut before the disks of the
// sequence are unmounted: their own mounts are allowed, since the sequence
// unmounts them before the cut. Dry runs use it.
func PlanPortCut(l Layout, p Port, sequence []string) (*PortCut, error) {
	return checkPortCut(l, p, sequence, true)
}

func checkPortCut(l Layout, p Port, sequence []string, planned bool) (*PortCut, error) {
	root := p.Root
	if _, err := os.Stat(p.DisableFile()); err != nil {
		return nil, fmt.Errorf("usb port %s: cannot switch power: %w (needs Linux 6.0 or later and a hub that exposes it)", p, err)
	}
	gang, why, err := l.gang(p)
	if err != nil {
		return nil, fmt.Errorf("usb port %s: %w", p, err)
	}
	cut := &PortCut{Port: p, Why: why}
	for _, q := range gang {
		cut.addPort(q)
		peer, ok, err := q.Peer()
		if err != nil {
			return nil, err
		}
		if ok {
			cut.addPort(peer)
		}
	}
	sortPorts(cut.Ports)
	fix := why
	if fix == "" {
		fix = "it is behind the same port"
	}

	disks, err := scanDisks(root)
	if err != nil {
		return nil, fmt.Errorf("usb port %s: %w", p, err)
	}
	mounts, err := ReadMounts(root)
	if err != nil {
		return nil, fmt.Errorf("usb port %s: %w", p, err)
	}
	swaps := readSwaps(root)
	fed := map[string]bool{} // USB devices that carry an affected disk
	for _, d := range disks {
		if d.usb == "" || !cut.under(d.usb) {
			continue
		}
		fed[d.usb] = true
		inSeq := slices.Contains(sequence, d.name)
		if use := d.inUse(mounts, swaps); use != "" && !(planned && inSeq) {
			if inSeq {
				return nil, &CutRefusedError{Port: p.Location(), Device: d.name, Reason: use, Why: "unmount it first"}
			}
			return nil, &CutRefusedError{Port: p.Location(), Device: d.name, Reason: use, Why: fix}
		}
		if !inSeq {
			return nil, &CutRefusedError{Port: p.Location(), Device: d.name, Reason: "not in the sequence", Why: fix}
		}
		cut.Disks = append(cut.Disks, d.name)
	}
	others, err := usbDevices(root)
	if err != nil {
		return nil, fmt.Errorf("usb port %s: %w", p, err)
	}
	for _, o := range others {
		if !cut.under(o) || fed[o] || attr(root, o, "bDeviceClass") == "09" || carries(fed, o) {
			continue
		}
		name := "USB device " + o
		if prod := attr(root, o, "product"); prod != "" {
			name += " (" + prod + ")"
		}
		return nil, &CutRefusedError{Port: p.Location(), Device: name, Reason: "not a disk of the sequence", Why: fix}
	}
	sort.Strings(cut.Disks)
	return cut, nil
}

// carries reports whether a USB device is above a device that carries an
// affected disk (a hub inside an enclosure, say).
func carries(fed map[string]bool, loc string) bool {
	for f := range fed {
		if strings.HasPrefix(f, loc+".") {
			return true
		}
	}
	return false
}

func (c *PortCut) addPort(p Port) {
	if !slices.ContainsFunc(c.Ports, p.same) {
		c.Ports = append(c.Ports, p)
	}
}

func (c *PortCut) under(loc string) bool {
	for _, p := range c.Ports {
		if p.under(loc) {
			return true
		}
	}
	return false
}

// Apply switches every port of the cut off, in order. If one fails, the
// ports already switched off are switched on again and the error is
// returned.
func (c *PortCut) Apply() error {
	for i, p := range c.Ports {
		if err := p.SetPower(false); err != nil {
			for j := i - 1; j >= 0; j-- {
				if rerr := c.Ports[j].SetPower(true); rerr != nil {
					err = errors.Join(err, fmt.Errorf("undo: %w", rerr))
				}
			}
			return fmt.Errorf("cut power of port %s: %w", c.Port, err)
		}
	}
	return nil
}

// Restore switches every port of the cut on again, in reverse order, and
// reports every port that failed.
func (c *PortCut) Restore() error {
	var errs []error
	for i := len(c.Ports) - 1; i >= 0; i-- {
		if err := c.Ports[i].SetPower(true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore power of port %s: %w", c.Port, err)
	}
	return nil
}

// blockDisk is a whole disk found by scanning sysfs.
type blockDisk struct {
	name  string
	devNo string
	parts map[string]string // partition name → devNo
	usb   string            // USB device location, or ""
}

// scanDisks lists the whole disks in <root>/sys/class/block.
func scanDisks(root string) ([]blockDisk, error) {
	dir := filepath.Join(root, "sys/class/block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var disks []blockDisk
	for _, e := range entries {
		devPath, err := resolveLink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(devPath, "partition")); err == nil {
			continue
		}
		d := blockDisk{name: e.Name(), parts: map[string]string{}}
		d.devNo, _ = readTrim(filepath.Join(devPath, "dev"))
		for _, p := range partitionsIn(devPath) {
			d.parts[p], _ = readTrim(filepath.Join(devPath, p, "dev"))
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(devPath, filepath.Clean(root)), "/")
		if u, err := parseUSBPath(root, rel); err == nil && u != nil {
			d.usb = u.Device
		}
		disks = append(disks, d)
	}
	return disks, nil
}

// inUse says how the disk or one of its partitions is in use, or "".
func (d blockDisk) inUse(mounts []Mount, swaps []string) string {
	names := map[string]string{d.devNo: d.name}
	for p, n := range d.parts {
		names[n] = p
	}
	for _, m := range mounts {
		which, ok := names[m.DevNo()]
		if !ok {
			// Filesystems with anonymous device numbers (btrfs) still name their source.
			src := strings.TrimPrefix(m.Source, "/dev/")
			if src == d.name || d.parts[src] != "" {
				which, ok = src, true
			}
		}
		if !ok {
			continue
		}
		what := ""
		switch m.MountPoint {
		case "/":
			what = ", the root filesystem"
		case "/boot", "/boot/firmware", "/boot/efi":
			what = ", the boot filesystem"
		}
		if which == d.name {
			return fmt.Sprintf("mounted at %s%s", m.MountPoint, what)
		}
		return fmt.Sprintf("%s mounted at %s%s", which, m.MountPoint, what)
	}
	for _, s := range swaps {
		s = strings.TrimPrefix(s, "/dev/")
		if s == d.name {
			return "used as swap"
		}
		if _, ok := d.parts[s]; ok {
			return s + " used as swap"
		}
	}
	return ""
}

// readSwaps lists the swap devices in <root>/proc/swaps (none if absent).
func readSwaps(root string) []string {
	f, err := os.Open(filepath.Join(root, "proc/swaps"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && strings.HasPrefix(fields[0], "/") {
			out = append(out, fields[0])
		}
	}
	return out
}

// usbDevices lists USB device locations in <root>/sys/bus/usb/devices.
func usbDevices(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "sys/bus/usb/devices"))
	if err != nil {
		return nil, fmt.Errorf("list usb devices: %w", err)
	}
	var out []string
	for _, e := range entries {
		if usbDeviceRe.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func sortPorts(ports []Port) {
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Hub != ports[j].Hub {
			return ports[i].Hub < ports[j].Hub
		}
		return ports[i].Number < ports[j].Number
	})
}
