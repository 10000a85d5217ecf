package usbdisk

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/veille/veille/drivers/usbdisk/usbdisktest"
)

func TestFindByUUIDOnPi4(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.SDRoot()
	tr.Disk("2-1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: "3f1c-aa"}, usbdisktest.Part{Name: "sda2", UUID: "77e2d1c0-1111-4a4a-9c9c-0123456789ab"})
	tr.Disk("1-1.3", "sdb", 16, usbdisktest.Part{Name: "sdb1", Label: "My Backup"})

	f := Finder{Root: tr.Root}
	d, err := f.ByUUID("77e2d1c0-1111-4a4a-9c9c-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	if d.Partition != "sda2" || d.Name != "sda" || d.DevNo != "8:2" {
		t.Errorf("partition %s disk %s dev %s, want sda2 sda 8:2", d.Partition, d.Name, d.DevNo)
	}
	if d.Dev != filepath.Join(tr.Root, "dev/sda") || d.PartDev != filepath.Join(tr.Root, "dev/sda2") {
		t.Errorf("nodes %s %s", d.Dev, d.PartDev)
	}
	if !reflect.DeepEqual(d.Partitions, []string{"sda1", "sda2"}) {
		t.Errorf("partitions %v", d.Partitions)
	}
	if d.Model != "WD Elements 25A2" {
		t.Errorf("model %q", d.Model)
	}
	if d.USB == nil {
		t.Fatal("no USB path")
	}
	if d.USB.Device != "2-1" || d.USB.Interface != "2-1:1.0" || d.USB.Port.Hub != "usb2" || d.USB.Port.Number != 1 {
		t.Errorf("USB path %+v", d.USB)
	}
	if d.USB.Controller != usbdisktest.Pi4Controller {
		t.Errorf("controller %q", d.USB.Controller)
	}
	if want := filepath.Join(tr.Root, "sys/bus/usb/devices/2-0:1.0/usb2-port1/disable"); d.USB.Port.DisableFile() != want {
		t.Errorf("disable file %s, want %s", d.USB.Port.DisableFile(), want)
	}
	if d.String() != "sda2 (UUID 77e2d1c0-1111-4a4a-9c9c-0123456789ab)" {
		t.Errorf("String() = %q", d.String())
	}

	// A label with a space is found through udev's escaped link name, and
	// a disk behind the internal hub hangs off hub 1-1.
	b, err := f.ByLabel("My Backup")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "sdb" || b.USB.Device != "1-1.3" || b.USB.Port.Hub != "1-1" || b.USB.Port.Number != 3 || b.USB.Port.Location() != "1-1.3" {
		t.Errorf("label disk %+v usb %+v", b, b.USB)
	}
	if want := filepath.Join(tr.Root, "sys/bus/usb/devices/1-1:1.0/1-1-port3/disable"); b.USB.Port.DisableFile() != want {
		t.Errorf("disable file %s, want %s", b.USB.Port.DisableFile(), want)
	}

	// UUIDs typed in another case are found.
	if d, err := f.ByUUID("3F1C-AA"); err != nil || d.Partition != "sda1" {
		t.Errorf("ByUUID(upper case) = %v, %v", d, err)
	}
	// An SD card is not on USB.
	if d, err := f.ByLabel("rootfs"); err != nil || d.USB != nil || d.Name != "mmcblk0" {
		t.Errorf("rootfs: %+v, %v", d, err)
	}
}

func TestFindWholeDiskFilesystem(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Pi5()
	tr.Disk("4-1", "sdc", 32, usbdisktest.Part{Name: "sdc", UUID: "whole"})
	d, err := Finder{Root: tr.Root}.ByUUID("whole")
	if err != nil {
		t.Fatal(err)
	}
	if d.Partition != "sdc" || d.Name != "sdc" || len(d.Partitions) != 0 || d.USB.Port.Location() != "4-1" {
		t.Errorf("whole-disk filesystem: %+v", d)
	}
}

func TestFindNotFound(t *testing.T) {
	tr := usbdisktest.New(t)
	f := Finder{Root: tr.Root}
	for _, fn := range []func() (*Disk, error){
		func() (*Disk, error) { return f.ByUUID("nope") },
		func() (*Disk, error) { return f.ByLabel("nope") },
	} {
		if _, err := fn(); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	}
	if _, err := f.ByUUID("../sda"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("path in UUID: err = %v, want a validation error", err)
	}
	if _, err := f.ByUUID(""); err == nil {
		t.Error("empty UUID accepted")
	}
}

func TestEncodeDevnodeName(t *testing.T) {
	for in, want := range map[string]string{
		"My Backup": `My\x20Backup`,
		"a/b":       `a\x2fb`,
		"Médias":    "Médias",
		"x_y-z.1":   "x_y-z.1",
		"bad\xff":   `bad\xff`,
	} {
		if got := encodeDevnodeName(in); got != want {
			t.Errorf("encodeDevnodeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPortNames(t *testing.T) {
	for loc, hub := range map[string]string{"2-1": "usb2", "1-1.3": "1-1", "3-2.4.1": "3-2.4"} {
		p, err := PortFromLocation("/", loc)
		if err != nil {
			t.Fatal(err)
		}
		if p.Hub != hub || p.Location() != loc {
			t.Errorf("%s: hub %s location %s", loc, p.Hub, p.Location())
		}
	}
	for _, bad := range []string{"usb2", "2", "2-", "a-1"} {
		if _, err := PortFromLocation("/", bad); err == nil {
			t.Errorf("%q accepted as a location", bad)
		}
	}
	for name, want := range map[string]string{"usb2-port1": "2-1", "1-1-port3": "1-1.3"} {
		p, err := portFromDirName("/", name)
		if err != nil || p.Location() != want {
			t.Errorf("portFromDirName(%q) = %v, %v; want %s", name, p, err, want)
		}
	}
	for _, bad := range []string{"port1", "usb2-portx", "usb2-port0", "x-port1"} {
		if _, err := portFromDirName("/", bad); err == nil {
			t.Errorf("portFromDirName(%q) accepted", bad)
		}
	}
}
