// Package usbdisktest builds the sysfs, /dev and /proc files the kernel
// shows for USB disks, hubs and ports, under a temporary root, so code that
// takes a Root can be tested without hardware. Links are relative, as the
// kernel and udev make them.
package usbdisktest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Host controller device paths of the Raspberry Pi boards, as the kernel
// shows them.
const (
	Pi4Controller  = "/sys/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0"
	Pi5Controller0 = "/sys/devices/platform/axi/1000120000.pcie/1f00200000.usb/xhci-hcd.0"
	Pi5Controller1 = "/sys/devices/platform/axi/1000120000.pcie/1f00300000.usb/xhci-hcd.1"
	MMCHost        = "/sys/devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:0001"
)

// Tree is a fake root. Methods fail the test on any file error.
type Tree struct {
	tb          testing.TB
	Root        string
	controllers map[int]string // bus → controller path
	hosts       int
	mountID     int
}

// New makes an empty tree in a temporary directory.
func New(tb testing.TB) *Tree {
	tb.Helper()
	t := &Tree{tb: tb, Root: tb.TempDir(), controllers: map[int]string{}, mountID: 20}
	t.mkdir("/proc/self")
	t.write("/proc/self/mountinfo", "")
	t.write("/proc/diskstats", "")
	t.mkdir("/sys/class/block")
	t.mkdir("/sys/bus/usb/devices")
	t.mkdir("/dev/disk/by-uuid")
	t.mkdir("/dev/disk/by-label")
	return t
}

// Path is Root + p.
func (t *Tree) Path(p string) string { return filepath.Join(t.Root, p) }

func (t *Tree) mkdir(p string) {
	t.tb.Helper()
	if err := os.MkdirAll(t.Path(p), 0o755); err != nil {
		t.tb.Fatal(err)
	}
}

func (t *Tree) write(p, content string) {
	t.tb.Helper()
	t.mkdir(filepath.Dir(p))
	if err := os.WriteFile(t.Path(p), []byte(content), 0o644); err != nil {
		t.tb.Fatal(err)
	}
}

// Write writes a file under the root, creating its directory.
func (t *Tree) Write(p, content string) { t.tb.Helper(); t.write(p, content) }

// Read returns the content of a file under the root, trimmed.
func (t *Tree) Read(p string) string {
	t.tb.Helper()
	b, err := os.ReadFile(t.Path(p))
	if err != nil {
		t.tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// link makes the symlink at p point to target (both root-relative
// absolute paths) with a relative link.
func (t *Tree) link(p, target string) {
	t.tb.Helper()
	t.mkdir(filepath.Dir(p))
	rel, err := filepath.Rel(filepath.Dir(p), target)
	if err != nil {
		t.tb.Fatal(err)
	}
	_ = os.Remove(t.Path(p))
	if err := os.Symlink(rel, t.Path(p)); err != nil {
		t.tb.Fatal(err)
	}
}

// Board writes the device-tree model.
func (t *Tree) Board(model string) {
	t.tb.Helper()
	t.write("/sys/firmware/devicetree/base/model", model+"\x00")
}

// RootHub adds the root hub of bus with its ports, on a controller.
func (t *Tree) RootHub(bus, ports int, controller string) {
	t.tb.Helper()
	t.controllers[bus] = controller
	hub := "usb" + strconv.Itoa(bus)
	dev := controller + "/" + hub
	t.write(dev+"/bDeviceClass", "09\n")
	t.write(dev+"/idVendor", "1d6b\n")
	t.write(dev+"/bConfigurationValue", "1\n")
	t.write(dev+"/maxchild", strconv.Itoa(ports)+"\n")
	t.link("/sys/bus/usb/devices/"+hub, dev)
	t.hubInterface(hub, dev, strconv.Itoa(bus)+"-0:1.0", ports)
}

func (t *Tree) hubInterface(hub, dev, iface string, ports int) {
	ifDir := dev + "/" + iface
	t.mkdir(ifDir)
	t.link("/sys/bus/usb/devices/"+iface, ifDir)
	for p := 1; p <= ports; p++ {
		t.write(fmt.Sprintf("%s/%s-port%d/disable", ifDir, hub, p), "0\n")
	}
}

// devDir is the sysfs directory of the USB device at loc ("1-1.3").
func (t *Tree) devDir(loc string) string {
	t.tb.Helper()
	busS, rest, ok := strings.Cut(loc, "-")
	bus, err := strconv.Atoi(busS)
	if !ok || err != nil {
		t.tb.Fatalf("bad USB location %q", loc)
	}
	ctrl, ok := t.controllers[bus]
	if !ok {
		t.tb.Fatalf("USB location %q: no root hub for bus %d", loc, bus)
	}
	p := ctrl + "/usb" + busS
	chain := busS + "-"
	for i, n := range strings.Split(rest, ".") {
		if i > 0 {
			chain += "."
		}
		chain += n
		p += "/" + chain
	}
	return p
}

func (t *Tree) usbDevice(loc, class, vendor, product string) string {
	dev := t.devDir(loc)
	t.write(dev+"/bDeviceClass", class+"\n")
	t.write(dev+"/idVendor", vendor+"\n")
	t.write(dev+"/bConfigurationValue", "1\n")
	if product != "" {
		t.write(dev+"/product", product+"\n")
	}
	t.link("/sys/bus/usb/devices/"+loc, dev)
	return dev
}

// Hub adds a hub at loc with ports. vendor is its idVendor ("2109" for the
// Pi 4's VL805 internal hub).
func (t *Tree) Hub(loc string, ports int, vendor string) {
	t.tb.Helper()
	dev := t.usbDevice(loc, "09", vendor, "USB2.0 Hub")
	t.hubInterface(loc, dev, loc+":1.0", ports)
}

// Device adds a USB device that is neither a hub nor a disk.
func (t *Tree) Device(loc, product string) {
	t.tb.Helper()
	t.usbDevice(loc, "02", "1cf1", product)
}

// Peer links two ports as USB 2/3 twins ("usb2-port1", "1-1-port1" style
// names are built from hub and port number).
func (t *Tree) Peer(hubA string, portA int, hubB string, portB int) {
	t.tb.Helper()
	a := t.portDir(hubA, portA)
	b := t.portDir(hubB, portB)
	t.link(a+"/peer", b)
	t.link(b+"/peer", a)
}

func (t *Tree) portDir(hub string, port int) string {
	iface := hub + ":1.0"
	if bus, ok := strings.CutPrefix(hub, "usb"); ok {
		iface = bus + "-0:1.0"
	}
	target, err := os.Readlink(t.Path("/sys/bus/usb/devices/" + iface))
	if err != nil {
		t.tb.Fatalf("port %s-%d: %v", hub, port, err)
	}
	dir := filepath.Join("/sys/bus/usb/devices", target)
	return fmt.Sprintf("%s/%s-port%d", dir, hub, port)
}

// Part is one partition (or the whole disk when Name is the disk's).
type Part struct {
	Name  string // "sda1"
	UUID  string
	Label string
}

// Disk adds a whole disk name ("sda", major:minor 8:16*n) with its
// partitions, on the USB device at loc; loc "" puts it on the SD card
// controller instead. It returns the disk's sysfs directory.
func (t *Tree) Disk(loc, name string, minor int, parts ...Part) string {
	t.tb.Helper()
	var dir string
	if loc == "" {
		dir = MMCHost + "/block/" + name
	} else {
		dev := t.usbDevice(loc, "00", "174c", "Disk enclosure")
		host := t.hosts
		t.hosts++
		dir = fmt.Sprintf("%s/%s:1.0/host%d/target%d:0:0/%d:0:0:0/block/%s", dev, loc, host, host, host, name)
		t.write(dir+"/device/vendor", "WD      \n")
		t.write(dir+"/device/model", "Elements 25A2   \n")
	}
	major := 8
	if loc == "" {
		major = 179
	}
	t.write(dir+"/dev", fmt.Sprintf("%d:%d\n", major, minor))
	t.link("/sys/class/block/"+name, dir)
	t.write("/dev/"+name, "")
	for i, p := range parts {
		pdir := dir
		if p.Name != name {
			pdir = dir + "/" + p.Name
			t.write(pdir+"/partition", strconv.Itoa(i+1)+"\n")
			t.write(pdir+"/dev", fmt.Sprintf("%d:%d\n", major, minor+i+1))
			t.link("/sys/class/block/"+p.Name, pdir)
			t.write("/dev/"+p.Name, "")
		}
		if p.UUID != "" {
			t.link("/dev/disk/by-uuid/"+p.UUID, "/dev/"+p.Name)
		}
		if p.Label != "" {
			t.link("/dev/disk/by-label/"+encodeLabel(p.Label), "/dev/"+p.Name)
		}
	}
	return dir
}

// Unplug removes a disk the way the kernel does when its port loses power:
// the block devices, their udev links and the USB device disappear.
func (t *Tree) Unplug(loc, name string) {
	t.tb.Helper()
	for _, dir := range []string{"/dev/disk/by-uuid", "/dev/disk/by-label"} {
		entries, _ := os.ReadDir(t.Path(dir))
		for _, e := range entries {
			target, _ := os.Readlink(filepath.Join(t.Path(dir), e.Name()))
			b := filepath.Base(target)
			if b == name || strings.HasPrefix(b, name) && len(b) > len(name) && b[len(name)] >= '0' && b[len(name)] <= '9' {
				_ = os.Remove(filepath.Join(t.Path(dir), e.Name()))
			}
		}
	}
	entries, _ := os.ReadDir(t.Path("/sys/class/block"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name) {
			_ = os.Remove(t.Path("/sys/class/block/" + e.Name()))
			_ = os.Remove(t.Path("/dev/" + e.Name()))
		}
	}
	if loc != "" {
		_ = os.RemoveAll(t.Path(t.devDir(loc)))
		_ = os.Remove(t.Path("/sys/bus/usb/devices/" + loc))
	}
}

// Mount adds a line to /proc/self/mountinfo for the block device name
// (whose dev file gives major:minor) and creates the mount point.
func (t *Tree) Mount(name, mountPoint, fstype string) {
	t.tb.Helper()
	t.MountOpts(name, mountPoint, fstype, "rw,relatime")
}

// MountOpts is Mount with per-mount options.
func (t *Tree) MountOpts(name, mountPoint, fstype, options string) {
	t.tb.Helper()
	devNo := t.Read("/sys/class/block/" + name + "/dev")
	t.mountID++
	line := fmt.Sprintf("%d 1 %s / %s %s shared:%d - %s /dev/%s rw\n",
		t.mountID, devNo, escape(mountPoint), options, t.mountID, fstype, name)
	f, err := os.OpenFile(t.Path("/proc/self/mountinfo"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.tb.Fatal(err)
	}
	t.mkdir(mountPoint)
}

// Unmount removes every mountinfo line of mountPoint.
func (t *Tree) Unmount(mountPoint string) {
	t.tb.Helper()
	var kept []string
	for _, l := range strings.SplitAfter(t.Read("/proc/self/mountinfo")+"\n", "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == escape(mountPoint) {
			continue
		}
		if strings.TrimSpace(l) != "" {
			kept = append(kept, l)
		}
	}
	t.write("/proc/self/mountinfo", strings.Join(kept, ""))
}

// Diskstats writes /proc/diskstats lines: name → {reads, writes}.
func (t *Tree) Diskstats(lines ...string) {
	t.tb.Helper()
	t.write("/proc/diskstats", strings.Join(lines, "\n")+"\n")
}

// OpenFile makes process pid (command comm) hold path open on fd. Like the
// kernel's, the link's target is the path as the process sees it
// ("/srv/media/film.mkv", "socket:[4242]"), not a file under the root.
func (t *Tree) OpenFile(pid int, comm string, fd int, path string) {
	t.tb.Helper()
	t.write(fmt.Sprintf("/proc/%d/comm", pid), comm+"\n")
	t.rawLink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), path)
}

// Cwd sets the working directory of process pid.
func (t *Tree) Cwd(pid int, comm, path string) {
	t.tb.Helper()
	t.write(fmt.Sprintf("/proc/%d/comm", pid), comm+"\n")
	t.rawLink(fmt.Sprintf("/proc/%d/cwd", pid), path)
}

// CloseFile removes what OpenFile made.
func (t *Tree) CloseFile(pid, fd int) {
	t.tb.Helper()
	if err := os.Remove(t.Path(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))); err != nil {
		t.tb.Fatal(err)
	}
}

func (t *Tree) rawLink(p, target string) {
	t.tb.Helper()
	t.mkdir(filepath.Dir(p))
	_ = os.Remove(t.Path(p))
	if err := os.Symlink(target, t.Path(p)); err != nil {
		t.tb.Fatal(err)
	}
}

// Pi4 sets up a Raspberry Pi 4: the VL805 with its USB 2 root hub (one
// port feeding the internal 4-port hub 1-1) and USB 3 root hub (4 ports),
// USB 3 ports peered with the internal hub's, and the SD card mmcblk0 with
// the root filesystem.
func (t *Tree) Pi4() {
	t.tb.Helper()
	t.Board("Raspberry Pi 4 Model B Rev 1.4")
	t.RootHub(1, 1, Pi4Controller)
	t.Hub("1-1", 4, "2109")
	t.RootHub(2, 4, Pi4Controller)
	for p := 1; p <= 4; p++ {
		t.Peer("usb2", p, "1-1", p)
	}
}

// Pi5 sets up a Raspberry Pi 5: two RP1 xHCI controllers, each with a
// USB 2 and a USB 3 root hub of 2 ports, peered.
func (t *Tree) Pi5() {
	t.tb.Helper()
	t.Board("Raspberry Pi 5 Model B Rev 1.0")
	t.RootHub(1, 2, Pi5Controller0)
	t.RootHub(2, 1, Pi5Controller0)
	t.RootHub(3, 2, Pi5Controller1)
	t.RootHub(4, 1, Pi5Controller1)
	t.Peer("usb2", 1, "usb1", 1)
	t.Peer("usb4", 1, "usb3", 1)
}

// SDRoot puts the root and boot filesystems on the SD card.
func (t *Tree) SDRoot() {
	t.tb.Helper()
	t.Disk("", "mmcblk0", 0, Part{Name: "mmcblk0p1", Label: "bootfs"}, Part{Name: "mmcblk0p2", Label: "rootfs"})
	t.Mount("mmcblk0p2", "/", "ext4")
	t.Mount("mmcblk0p1", "/boot/firmware", "vfat")
}

func escape(p string) string {
	r := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	return r.Replace(p)
}

func encodeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 || c >= 0x80 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
