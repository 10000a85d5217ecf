package usbdisk

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/veille/veille/drivers/usbdisk/usbdisktest"
)

func locations(ports []Port) []string {
	var s []string
	for _, p := range ports {
		s = append(s, p.Location())
	}
	return s
}

func TestDetectLayout(t *testing.T) {
	t.Run("pi4", func(t *testing.T) {
		tr := usbdisktest.New(t)
		tr.Pi4()
		l, err := DetectLayout(tr.Root, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The USB 2 root hub only feeds the VL805's internal hub: the
		// user's ports are that hub's and the USB 3 root hub's.
		if l.Board != "Raspberry Pi 4 Model B Rev 1.4" || !reflect.DeepEqual(l.OnboardHubs, []string{"1-1", "usb2"}) {
			t.Errorf("layout %+v", l)
		}
	})
	t.Run("pi5", func(t *testing.T) {
		tr := usbdisktest.New(t)
		tr.Pi5()
		l, err := DetectLayout(tr.Root, []string{"1-2"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(l.OnboardHubs, []string{"usb1", "usb2", "usb3", "usb4"}) || !reflect.DeepEqual(l.GangedHubs, []string{"1-2"}) {
			t.Errorf("layout %+v", l)
		}
	})
	t.Run("external VIA hubs are not onboard", func(t *testing.T) {
		for _, board := range []func(*usbdisktest.Tree){(*usbdisktest.Tree).Pi4, (*usbdisktest.Tree).Pi5} {
			tr := usbdisktest.New(t)
			board(tr)
			tr.Hub("2-1", 4, "2109") // a VL817 hub on a USB 3 port
			l, err := DetectLayout(tr.Root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(l.OnboardHubs, "2-1") || !slices.Contains(l.OnboardHubs, "usb2") {
				t.Errorf("%s: onboard hubs %v", l.Board, l.OnboardHubs)
			}
		}
	})
	t.Run("pi5 with a PCIe USB card", func(t *testing.T) {
		tr := usbdisktest.New(t)
		tr.Pi5()
		tr.RootHub(5, 4, "/sys/devices/platform/axi/1000110000.pcie/pci0001:00/0001:00:00.0/0001:01:00.0")
		l, err := DetectLayout(tr.Root, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(l.OnboardHubs, []string{"usb1", "usb2", "usb3", "usb4"}) {
			t.Errorf("the card's root hub joined the onboard gang: %+v", l)
		}
	})
	t.Run("other board", func(t *testing.T) {
		tr := usbdisktest.New(t)
		tr.Board("Raspberry Pi Compute Module 4 Rev 1.0")
		tr.RootHub(1, 4, usbdisktest.Pi4Controller)
		l, err := DetectLayout(tr.Root, nil)
		if err != nil || len(l.OnboardHubs) != 0 {
			t.Errorf("CM4: %+v, %v", l, err)
		}
	})
}

func TestCheckPortCutRefusesRootDiskOnPi4(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.Disk("2-1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "data"})
	tr.Disk("2-2", "sdb", 16, usbdisktest.Part{Name: "sdb1", Label: "bootfs"}, usbdisktest.Part{Name: "sdb2", Label: "rootfs"})
	tr.Mount("sdb2", "/", "ext4")
	tr.Mount("sdb1", "/boot/firmware", "vfat")

	l, err := DetectLayout(tr.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Finder{Root: tr.Root}.ByUUID("data")
	if err != nil {
		t.Fatal(err)
	}
	_, err = CheckPortCut(l, d.USB.Port, []string{"sda"})
	var refused *CutRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	want := "port 2-1 also powers sdb (sdb2 mounted at /, the root filesystem): Raspberry Pi 4/5 onboard ports are switched together; use a hub with per-port power switching"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err, want)
	}
	if tr.Read("/sys/bus/usb/devices/2-0:1.0/usb2-port1/disable") != "0" {
		t.Error("a refused check switched a port")
	}
}

func TestCheckPortCutPi5AllDisksInSequence(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi5()
	tr.SDRoot()
	tr.Disk("2-1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "media"})
	tr.Disk("4-1", "sdb", 16, usbdisktest.Part{Name: "sdb1", UUID: "backup"})
	l, err := DetectLayout(tr.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := PortFromLocation(tr.Root, "2-1")

	// sdb is on the other controller, but the same gang.
	if _, err := CheckPortCut(l, port, []string{"sda"}); err == nil || !strings.Contains(err.Error(), "also powers sdb (not in the sequence): Raspberry Pi 4/5") {
		t.Errorf("err = %v, want sdb named", err)
	}

	cut, err := CheckPortCut(l, port, []string{"sda", "sdb"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := locations(cut.Ports), []string{"1-1", "1-2", "2-1", "3-1", "3-2", "4-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
	if !reflect.DeepEqual(cut.Disks, []string{"sda", "sdb"}) || cut.Why == "" {
		t.Errorf("cut %+v", cut)
	}
	if err := cut.Apply(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"1-0:1.0/usb1-port2", "2-0:1.0/usb2-port1", "4-0:1.0/usb4-port1"} {
		if v := tr.Read("/sys/bus/usb/devices/" + p + "/disable"); v != "1" {
			t.Errorf("%s disable = %s after Apply", p, v)
		}
	}
	if off, err := port.Disabled(); err != nil || !off {
		t.Errorf("Disabled() = %v, %v", off, err)
	}
	if err := cut.Restore(); err != nil {
		t.Fatal(err)
	}
	for _, p := range cut.Ports {
		if off, err := p.Disabled(); err != nil || off {
			t.Errorf("port %s still off after Restore (%v)", p, err)
		}
	}
}

func TestCheckPortCutRefusesOtherUSBDevice(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi5()
	tr.SDRoot()
	tr.Disk("2-1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "media"})
	tr.Device("3-2", "ConBee II")
	l, _ := DetectLayout(tr.Root, nil)
	port, _ := PortFromLocation(tr.Root, "2-1")
	_, err := CheckPortCut(l, port, []string{"sda"})
	if err == nil || !strings.HasPrefix(err.Error(), "port 2-1 also powers USB device 3-2 (ConBee II) (not a disk of the sequence)") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckPortCutExternalHub(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.SDRoot()
	tr.Hub("2-3", 4, "0bda")
	tr.Disk("2-3.1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "media"})
	tr.Disk("2-3.2", "sdb", 16, usbdisktest.Part{Name: "sdb1", UUID: "photos"})
	tr.Mount("sdb1", "/srv/photos", "ext4")
	port, _ := PortFromLocation(tr.Root, "2-3.1")

	// Per-port hub: the mounted disk on port 2 is not affected.
	l, _ := DetectLayout(tr.Root, nil)
	cut, err := CheckPortCut(l, port, []string{"sda"})
	if err != nil {
		t.Fatal(err)
	}
	if got := locations(cut.Ports); !reflect.DeepEqual(got, []string{"2-3.1"}) || cut.Why != "" {
		t.Errorf("per-port cut: %v %q", got, cut.Why)
	}

	// The same hub configured as ganged takes sdb down too.
	l, _ = DetectLayout(tr.Root, []string{"2-3"})
	_, err = CheckPortCut(l, port, []string{"sda"})
	want := "port 2-3.1 also powers sdb (sdb1 mounted at /srv/photos): hub 2-3 switches all its ports together (configured as ganged)"
	if err == nil || err.Error() != want {
		t.Errorf("err\n got %v\nwant %s", err, want)
	}
}

func TestCheckPortCutRefusesMountedSequenceDisk(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.SDRoot()
	tr.Hub("2-3", 4, "0bda")
	tr.Disk("2-3.1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "media"}, usbdisktest.Part{Name: "sda2", UUID: "other"})
	tr.Mount("sda2", "/srv/other", "ext4")
	tr.Write("/proc/swaps", "Filename Type Size Used Priority\n")
	l, _ := DetectLayout(tr.Root, nil)
	port, _ := PortFromLocation(tr.Root, "2-3.1")
	_, err := CheckPortCut(l, port, []string{"sda"})
	if err == nil || err.Error() != "port 2-3.1 also powers sda (sda2 mounted at /srv/other): unmount it first" {
		t.Errorf("err = %v", err)
	}
	// Planned before the sequence unmounts its own disks, it passes.
	if cut, err := PlanPortCut(l, port, []string{"sda"}); err != nil || !reflect.DeepEqual(cut.Disks, []string{"sda"}) {
		t.Errorf("PlanPortCut = %+v, %v", cut, err)
	}

	tr.Unmount("/srv/other")
	tr.Disk("2-3.2", "sdb", 16, usbdisktest.Part{Name: "sdb1"})
	tr.Write("/proc/swaps", "Filename Type Size Used Priority\n/dev/sdb1 partition 1048572 0 -2\n")
	l, _ = DetectLayout(tr.Root, []string{"2-3"})
	_, err = CheckPortCut(l, port, []string{"sda"})
	if err == nil || !strings.Contains(err.Error(), "also powers sdb (sdb1 used as swap)") {
		t.Errorf("swap: err = %v", err)
	}
}

func TestCheckPortCutWithoutDisableFile(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.Disk("2-1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "media"})
	port := Port{Root: tr.Root, Hub: "usb2", Number: 9}
	if _, err := CheckPortCut(Layout{}, port, []string{"sda"}); err == nil || !strings.Contains(err.Error(), "Linux 6.0") {
		t.Errorf("err = %v", err)
	}
	if err := port.SetPower(false); err == nil || !strings.Contains(err.Error(), "Linux 6.0") {
		t.Errorf("SetPower: %v", err)
	}
}

func TestPortCutApplyUndoesOnFailure(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi5()
	good, _ := PortFromLocation(tr.Root, "1-1")
	missing := Port{Root: tr.Root, Hub: "usb1", Number: 7}
	cut := &PortCut{Port: good, Ports: []Port{good, missing}}
	if err := cut.Apply(); err == nil {
		t.Fatal("Apply succeeded with a missing port")
	}
	if off, _ := good.Disabled(); off {
		t.Error("the first port stayed off after a failed Apply")
	}
}
