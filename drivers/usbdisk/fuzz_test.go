package usbdisk

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeSense feeds DecodeSense what a USB bridge may answer: sense data
// of any length and format. It must not panic, and a sense it accepts must
// describe itself and keep the bytes it came from.
func FuzzDecodeSense(f *testing.F) {
	f.Add(byte(0x1b), []byte{0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x02, 0, 0, 0, 0})                         // NOT READY, initializing command required
	f.Add(byte(0x85), []byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 14, 0x09, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x50}) // ATA pass-through information
	f.Add(byte(0x1b), []byte{0x72, 0x05, 0x24, 0x00})                                                                    // ILLEGAL REQUEST, invalid field in CDB
	f.Add(byte(0x1b), []byte{0xf0, 0, 0x06})
	f.Add(byte(0), []byte{0x70})
	f.Add(byte(0), []byte{})
	f.Fuzz(func(t *testing.T, opcode byte, b []byte) {
		e, ok := DecodeSense("/dev/sda", opcode, b)
		if !ok {
			if e != nil {
				t.Fatalf("not ok, but a sense error %v", e)
			}
			return
		}
		if e == nil || e.Opcode != opcode || string(e.Raw) != string(b) {
			t.Fatalf("sense %+v does not keep opcode %#x and bytes %x", e, opcode, b)
		}
		if msg := e.Error(); !strings.HasPrefix(msg, "/dev/sda: ") {
			t.Fatalf("message %q does not name the device", msg)
		}
		_ = e.Recovered()
	})
}

// FuzzPortFromLocation feeds port locations as the disks record and the
// messages name them ("2-1", "1-1.3"). An accepted one must name the same
// port again through its Location, and its sysfs files must stay under the
// root: the port's disable file is written to cut a disk's power.
func FuzzPortFromLocation(f *testing.F) {
	for _, s := range []string{"2-1", "1-1.3", "1-1.2.4", "usb1", "1-", "-1", "1-1.", "1-1..2", "../../etc", "1-1/../../x", "99999999999999999999-1", "1-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		root := "/fuzzroot"
		p, err := PortFromLocation(root, loc)
		if err != nil {
			return
		}
		q, err := PortFromLocation(root, p.Location())
		if err != nil || !q.same(p) {
			t.Fatalf("%q → %+v, whose location %q gives %+v, %v", loc, p, p.Location(), q, err)
		}
		base := filepath.Join(root, "sys/bus/usb/devices") + "/"
		if d := p.DisableFile(); !strings.HasPrefix(d, base) || strings.Contains(strings.TrimPrefix(d, base), "..") {
			t.Fatalf("%q: disable file %s is not under %s", loc, d, base)
		}
	})
}

// FuzzParseUSBPath feeds block device sysfs paths (what the kernel's links
// resolve to). It must not panic; a USB disk it finds must sit on a port.
func FuzzParseUSBPath(f *testing.F) {
	for _, s := range []string{
		"/sys/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sda",
		"/sys/devices/platform/axi/1000120000.pcie/1f00300000.usb/xhci-hcd.1/usb4/4-1/4-1.2/4-1.2:1.0/host1/target1:0:0/1:0:0:0/block/sdb",
		"/sys/devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:0001/block/mmcblk0",
		"2-1/2-1:1.0", "/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		u, err := parseUSBPath("/fuzzroot", path)
		if err != nil || u == nil {
			return
		}
		if u.Port.Number < 0 || u.Device == "" || !strings.Contains(path, u.Device+"/"+u.Interface) {
			t.Fatalf("%q → %+v", path, u)
		}
	})
}
