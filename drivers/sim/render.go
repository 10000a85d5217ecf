package sim

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// node is one entry of the rendered tree.
type node struct {
	kind  byte // 'd' directory, 'f' file, 'l' symlink
	data  string
	input bool // a file veille writes and the world reads back
}

// tree is the whole set of files the world shows, root-relative.
type tree map[string]node

func (t tree) dir(p string) {
	for p != "/" && p != "." {
		if n, ok := t[p]; ok && n.kind == 'd' {
			return
		}
		t[p] = node{kind: 'd'}
		p = path.Dir(p)
	}
}

func (t tree) file(p, data string) {
	t.dir(path.Dir(p))
	t[p] = node{kind: 'f', data: data}
}

func (t tree) input(p, data string) {
	t.dir(path.Dir(p))
	t[p] = node{kind: 'f', data: data, input: true}
}

// link makes p a symlink to target (root-relative), relative as sysfs makes
// them: up to the target's parent, then down to it, so that a link to an
// ancestor ends with the ancestor's name (…/hwmon3/device → ../../../1-0040).
func (t tree) link(p, target string) {
	t.dir(path.Dir(p))
	rel, err := filepath.Rel(path.Dir(p), path.Dir(target))
	if err != nil {
		t[p] = node{kind: 'l', data: target}
		return
	}
	t[p] = node{kind: 'l', data: path.Join(rel, path.Base(target))}
}

// abslink makes p a symlink to an absolute target (/proc/<pid>/fd links).
func (t tree) abslink(p, target string) {
	t.dir(path.Dir(p))
	t[p] = node{kind: 'l', data: target}
}

// render writes the world's files. Only what changed since the last render
// is written: a file by writing a temporary file and renaming it over, so a
// reader never sees half of one; what disappeared (a disk whose port went
// off) is removed. full rewrites everything.
func (w *World) render(full bool) error {
	t := tree{}
	w.renderStatic(t)
	w.renderUSB(t)
	w.renderBlock(t)
	w.renderProc(t)
	w.renderDynamic(t)
	w.dirty = false
	return w.apply(t, full)
}

func (w *World) apply(t tree, full bool) error {
	tmp := filepath.Join(w.root, ".sim")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("sim: render: %w", err)
	}
	var gone []string
	for p := range w.prev {
		if _, ok := t[p]; !ok {
			gone = append(gone, p)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return len(gone[i]) > len(gone[j]) })
	for _, p := range gone {
		if w.prev[p].kind == 'd' {
			_ = os.RemoveAll(w.Path(p))
		} else {
			_ = os.Remove(w.Path(p))
		}
		delete(w.inputs, p)
	}
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = fmt.Errorf("sim: render: %w", err)
		}
	}
	for _, p := range paths {
		n := t[p]
		old, had := w.prev[p]
		switch n.kind {
		case 'd':
			if !had || full || old.kind != 'd' {
				if had && old.kind != 'd' {
					_ = os.Remove(w.Path(p))
				}
				keep(os.MkdirAll(w.Path(p), 0o755))
			}
		case 'f':
			if n.input {
				last, known := w.inputs[p]
				data := n.data
				if known {
					want, same := w.inputContent(p, last)
					if same && !full {
						continue
					}
					data = want
				}
				// Written in place: veille holds these paths open to write.
				keep(os.WriteFile(w.Path(p), []byte(data), 0o644))
				w.inputs[p] = data
				if !known {
					w.watch.add(w.Path(p), p)
				}
				continue
			}
			if had && !full && old == n {
				continue
			}
			keep(w.replace(tmp, p, func(name string) error { return os.WriteFile(name, []byte(n.data), 0o444) }))
		case 'l':
			if had && !full && old == n {
				continue
			}
			keep(w.replace(tmp, p, func(name string) error { return os.Symlink(n.data, name) }))
		}
	}
	w.prev = t
	return first
}

// replace creates an entry with mk under the temporary directory and renames
// it onto p.
func (w *World) replace(tmp, p string, mk func(name string) error) error {
	w.tmpN++
	name := filepath.Join(tmp, fmt.Sprintf("t%d", w.tmpN))
	if err := mk(name); err != nil {
		return err
	}
	dst := w.Path(p)
	if err := os.Rename(name, dst); err != nil {
		// A directory where a file now goes (or the reverse): clear it.
		_ = os.RemoveAll(dst)
		if err := os.Rename(name, dst); err != nil {
			_ = os.Remove(name)
			return err
		}
	}
	return nil
}

// renderStatic: the board's identity and the files that do not move.
func (w *World) renderStatic(t tree) {
	b := w.board.o
	dt := "/sys/firmware/devicetree/base"
	t.file(dt+"/model", b.Model+"\x00")
	var compat string
	for _, c := range b.Compatible {
		compat += c + "\x00"
	}
	t.file(dt+"/compatible", compat)
	t.link("/proc/device-tree", dt)
	if n := w.busNumber(); n >= 0 {
		t.file(fmt.Sprintf("/dev/i2c-%d", n), "")
	}
	t.file("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
	tz := "/sys/devices/virtual/thermal/thermal_zone0"
	t.file(tz+"/type", "cpu-thermal\n")
	t.link("/sys/class/thermal/thermal_zone0", tz)
	if !b.NoRTC {
		rtc := rtcDir
		t.file(rtc+"/name", "rpi-rtc soc:rpi_rtc\n")
		t.file(rtc+"/hctosys", "1\n")
		t.file(rtc+"/max_user_freq", "64\n")
		t.input(rtc+"/wakealarm", "")
		t.link("/sys/class/rtc/rtc0", rtc)
	}
	for _, n := range []struct{ name, dev, mac string }{
		{"lo", "/sys/devices/virtual/net/lo", "00:00:00:00:00:00"},
		{"eth0", "/sys/devices/platform/axi/1000120000.pcie/1f00100000.ethernet/net/eth0", "d8:3a:dd:12:34:56"},
	} {
		t.file(n.dev+"/address", n.mac+"\n")
		t.file(n.dev+"/operstate", map[bool]string{true: "unknown\n", false: "up\n"}[n.name == "lo"])
		t.link("/sys/class/net/"+n.name, n.dev)
	}
	t.dir("/proc/self")
}

// busNumber is N of the I2C bus name "I2CN", or -1.
func (w *World) busNumber() int {
	var n int
	if _, err := fmt.Sscanf(w.bus.name, "I2C%d", &n); err != nil {
		return -1
	}
	return n
}

// renderUSB: hubs, their ports and the USB devices that are up.
func (w *World) renderUSB(t tree) {
	for _, h := range w.hubs {
		if !h.root() && !w.linkUp(h.o.Name) {
			continue
		}
		if h.root() && w.board.state == BoardHalted {
			continue
		}
		vendor, product, class := "1d6b", "xHCI Host Controller", "09"
		if !h.root() {
			vendor, product = h.o.VendorID, "USB Hub"
			if vendor == "" {
				vendor = "05e3"
			}
		}
		w.usbDeviceAttrs(t, h.dev, h, vendor, product, class)
		t.file(h.dev+"/maxchild", fmt.Sprintf("%d\n", len(h.ports)))
		t.link("/sys/bus/usb/devices/"+h.o.Name, h.dev)
		iface := h.dev + "/" + h.iface
		t.file(iface+"/bInterfaceClass", "09\n")
		t.link("/sys/bus/usb/devices/"+h.iface, iface)
		for _, p := range h.ports {
			pd := p.dir()
			t.input(pd+"/disable", map[bool]string{true: "1\n", false: "0\n"}[p.disabled])
			t.file(pd+"/connect_type", "hotplug\n")
			t.file(pd+"/over_current_count", "0\n")
			t.file(pd+"/quirks", "0x0\n")
			if h.peer != nil && p.n <= len(h.peer.ports) && (h.peer.root() || w.linkUp(h.peer.o.Name)) {
				t.link(pd+"/peer", h.peer.ports[p.n-1].dir())
			}
		}
	}
	for _, d := range w.disks {
		if !d.present {
			continue
		}
		dev := d.devDir()
		w.usbDeviceAttrs(t, dev, nil, "1058", d.o.Vendor+" "+d.o.Model, "00")
		t.file(dev+"/serial", d.o.Serial+"\n")
		t.link("/sys/bus/usb/devices/"+d.o.Location, dev)
		iface := dev + "/" + d.o.Location + ":1.0"
		t.file(iface+"/bInterfaceClass", "08\n")
		t.link("/sys/bus/usb/devices/"+d.o.Location+":1.0", iface)
	}
}

func (w *World) usbDeviceAttrs(t tree, dev string, h *hub, vendor, product, class string) {
	t.file(dev+"/idVendor", vendor+"\n")
	t.file(dev+"/idProduct", "0003\n")
	t.file(dev+"/bDeviceClass", class+"\n")
	t.file(dev+"/bConfigurationValue", "1\n")
	t.file(dev+"/product", product+"\n")
	// Of two twin hubs the USB 2 one is on the lower bus ("1-1" for "2-1").
	speed := "5000"
	if h != nil && h.peer != nil && h.o.Name < h.peer.o.Name {
		speed = "480"
	}
	t.file(dev+"/speed", speed+"\n")
	bus := 0
	if h != nil {
		bus = h.bus
	}
	if bus > 0 {
		t.file(dev+"/busnum", fmt.Sprintf("%d\n", bus))
	}
}

// devDir is the disk's USB device directory.
func (d *disk) devDir() string { return d.port.hub.dev + "/" + d.o.Location }

// blockDir is the disk's block device directory.
func (d *disk) blockDir() string {
	return fmt.Sprintf("%s/%s:1.0/host%d/target%d:0:0/%d:0:0:0/block/%s",
		d.devDir(), d.o.Location, d.host, d.host, d.host, d.o.Name)
}

func (d *disk) sectors() int64 { return d.o.Size / 512 }

// partGeometry returns the start and size in sectors of partition n (1-based).
func (d *disk) partGeometry(n int) (start, size int64) {
	usable := d.sectors() - 2048
	each := usable / int64(len(d.parts))
	return 2048 + int64(n-1)*each, each
}

// renderBlock: the SD card and the present disks as block devices, their
// /dev nodes (empty files) and udev links.
func (w *World) renderBlock(t tree) {
	mmc := Pi5MMCHost + "/block/mmcblk0"
	t.file(mmc+"/dev", "179:0\n")
	t.file(mmc+"/size", "62521344\n")
	t.file(mmc+"/removable", "0\n")
	t.file(mmc+"/ro", "0\n")
	t.file(mmc+"/queue/rotational", "0\n")
	t.link("/sys/block/mmcblk0", mmc)
	t.link("/sys/class/block/mmcblk0", mmc)
	t.file("/dev/mmcblk0", "")
	for i, p := range []struct{ label, uuid, start, size string }{
		{"bootfs", "4EF5-6F55", "16384", "1048576"},
		{"rootfs", "b2a1c7d4-3e2f-4a8b-9c1d-0e6f5a4b3c2d", "1064960", "61456384"},
	} {
		name := fmt.Sprintf("mmcblk0p%d", i+1)
		pd := mmc + "/" + name
		t.file(pd+"/dev", fmt.Sprintf("179:%d\n", i+1))
		t.file(pd+"/partition", fmt.Sprintf("%d\n", i+1))
		t.file(pd+"/start", p.start+"\n")
		t.file(pd+"/size", p.size+"\n")
		t.link("/sys/class/block/"+name, pd)
		t.file("/dev/"+name, "")
		t.link("/dev/disk/by-label/"+p.label, "/dev/"+name)
		t.link("/dev/disk/by-uuid/"+p.uuid, "/dev/"+name)
	}
	for _, d := range w.disks {
		if !d.present {
			continue
		}
		bd := d.blockDir()
		sd := path.Dir(path.Dir(bd)) // the SCSI device
		t.file(sd+"/vendor", fmt.Sprintf("%-8s\n", d.o.Vendor))
		t.file(sd+"/model", fmt.Sprintf("%-16s\n", d.o.Model))
		t.file(sd+"/rev", "1021\n")
		t.file(sd+"/state", "running\n")
		t.file(bd+"/dev", fmt.Sprintf("%d:%d\n", d.major(), d.minor()))
		t.file(bd+"/size", fmt.Sprintf("%d\n", d.sectors()))
		t.file(bd+"/removable", "0\n")
		t.file(bd+"/ro", "0\n")
		t.file(bd+"/queue/rotational", "1\n")
		t.link(bd+"/device", sd)
		t.link("/sys/block/"+d.o.Name, bd)
		t.link("/sys/class/block/"+d.o.Name, bd)
		t.file("/dev/"+d.o.Name, "")
		for _, p := range d.parts {
			pd := bd + "/" + p.name
			start, size := d.partGeometry(p.n)
			t.file(pd+"/dev", fmt.Sprintf("%d:%d\n", d.major(), p.minor))
			t.file(pd+"/partition", fmt.Sprintf("%d\n", p.n))
			t.file(pd+"/start", fmt.Sprintf("%d\n", start))
			t.file(pd+"/size", fmt.Sprintf("%d\n", size))
			t.file(pd+"/ro", "0\n")
			t.link("/sys/class/block/"+p.name, pd)
			t.file("/dev/"+p.name, "")
			if p.o.UUID != "" {
				t.link("/dev/disk/by-uuid/"+p.o.UUID, "/dev/"+p.name)
			}
			if p.o.Label != "" {
				t.link("/dev/disk/by-label/"+encodeLabel(p.o.Label), "/dev/"+p.name)
			}
		}
	}
}
