package usbdisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// ErrNotFound means no block device carries the filesystem asked for (yet:
// a disk that was just powered on takes a few seconds to appear).
var ErrNotFound = errors.New("no such filesystem")

// Disk is a filesystem on a block device, found by UUID or label, with the
// whole disk that holds it and, for USB disks, the port that feeds it.
type Disk struct {
	UUID, Label string // how it was asked for (one of them)

	Partition string // kernel name of the block device holding the filesystem: "sda1" (or "sda")
	Name      string // kernel name of the whole disk: "sda"
	DevNo     string // "major:minor" of Partition, as in mountinfo
	Dev       string // Root + "/dev/" + Name: the node CDBs go to
	PartDev   string // Root + "/dev/" + Partition: the node to check and mount

	// Partitions lists every partition of the whole disk ("sda1", "sda2"),
	// including Partition when it is one.
	Partitions []string
	// SysPath is the whole disk's device directory, relative to Root:
	// "/sys/devices/…/block/sda".
	SysPath string
	Model   string // vendor and model from sysfs, for messages

	// USB is where the disk hangs on the USB tree; nil if not a USB disk.
	USB *USBPath
}

// String names the disk for messages: "sda1 (UUID 1234-ABCD)".
func (d *Disk) String() string {
	switch {
	case d.UUID != "":
		return fmt.Sprintf("%s (UUID %s)", d.Partition, d.UUID)
	case d.Label != "":
		return fmt.Sprintf("%s (label %q)", d.Partition, d.Label)
	}
	return d.Partition
}

// Finder resolves filesystems to disks under Root.
type Finder struct {
	Root string // "/" on a Pi
}

func (f Finder) path(p string) string { return filepath.Join(f.Root, p) }

// ByUUID finds the filesystem with this UUID through /dev/disk/by-uuid.
// The lookup is exact first, then ignores case (vfat UUIDs are shown
// upper-case by udev and often typed lower-case).
func (f Finder) ByUUID(uuid string) (*Disk, error) {
	if uuid == "" {
		return nil, errors.New("find disk: empty UUID")
	}
	dir := f.path("dev/disk/by-uuid")
	part, err := f.lookupLink(dir, uuid, true)
	if err != nil {
		return nil, fmt.Errorf("find disk with UUID %s: %w", uuid, err)
	}
	d, err := f.describe(part)
	if err != nil {
		return nil, fmt.Errorf("find disk with UUID %s: %w", uuid, err)
	}
	d.UUID = uuid
	return d, nil
}

// ByLabel finds the filesystem with this label through /dev/disk/by-label,
// where udev escapes unsafe characters ("My Disk" is "My\x20Disk").
func (f Finder) ByLabel(label string) (*Disk, error) {
	if label == "" {
		return nil, errors.New("find disk: empty label")
	}
	dir := f.path("dev/disk/by-label")
	part, err := f.lookupLink(dir, encodeDevnodeName(label), false)
	if errors.Is(err, ErrNotFound) && encodeDevnodeName(label) != label {
		part, err = f.lookupLink(dir, label, false)
	}
	if err != nil {
		return nil, fmt.Errorf("find disk with label %q: %w", label, err)
	}
	d, err := f.describe(part)
	if err != nil {
		return nil, fmt.Errorf("find disk with label %q: %w", label, err)
	}
	d.Label = label
	return d, nil
}

// lookupLink reads dir/name, a udev symlink such as "../../sda1", and
// returns the kernel name it points to.
func (f Finder) lookupLink(dir, name string, foldCase bool) (string, error) {
	if strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return "", fmt.Errorf("%q is not a valid name", name)
	}
	target, err := os.Readlink(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) && foldCase {
		entries, rerr := os.ReadDir(dir)
		if rerr == nil {
			for _, e := range entries {
				if strings.EqualFold(e.Name(), name) {
					target, err = os.Readlink(filepath.Join(dir, e.Name()))
					break
				}
			}
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, name), ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

// describe fills a Disk from the kernel name of a block device.
func (f Finder) describe(part string) (*Disk, error) {
	link := f.path("sys/class/block/" + part)
	devPath, err := resolveLink(link)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("block device %s: %w", part, ErrNotFound)
		}
		return nil, fmt.Errorf("block device %s: %w", part, err)
	}
	d := &Disk{Partition: part, Name: part}
	d.DevNo, err = readTrim(filepath.Join(devPath, "dev"))
	if err != nil {
		return nil, fmt.Errorf("block device %s: %w", part, err)
	}
	diskPath := devPath
	if _, err := os.Stat(filepath.Join(devPath, "partition")); err == nil {
		diskPath = filepath.Dir(devPath)
		d.Name = filepath.Base(diskPath)
	}
	d.Dev = f.path("dev/" + d.Name)
	d.PartDev = f.path("dev/" + d.Partition)
	d.SysPath = "/" + strings.TrimPrefix(strings.TrimPrefix(diskPath, filepath.Clean(f.Root)), "/")
	d.Partitions = partitionsIn(diskPath)
	d.Model = modelOf(diskPath)
	d.USB, err = parseUSBPath(f.Root, d.SysPath)
	if err != nil {
		return nil, fmt.Errorf("block device %s: %w", part, err)
	}
	return d, nil
}

// Refresh finds the disk again by the UUID or label it was found with; its
// kernel name may have changed (sda → sdb) after a power cycle.
func (f Finder) Refresh(d *Disk) (*Disk, error) {
	if d.UUID != "" {
		return f.ByUUID(d.UUID)
	}
	return f.ByLabel(d.Label)
}

func partitionsIn(diskPath string) []string {
	entries, err := os.ReadDir(diskPath)
	if err != nil {
		return nil
	}
	var parts []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(diskPath, e.Name(), "partition")); err == nil {
			parts = append(parts, e.Name())
		}
	}
	sort.Strings(parts)
	return parts
}

func modelOf(diskPath string) string {
	vendor, _ := readTrim(filepath.Join(diskPath, "device/vendor"))
	model, _ := readTrim(filepath.Join(diskPath, "device/model"))
	return strings.TrimSpace(vendor + " " + model)
}

// resolveLink follows one sysfs symlink (relative, as sysfs makes them)
// without leaving the root: the target is joined to the link's directory.
func resolveLink(link string) (string, error) {
	target, err := os.Readlink(link)
	if err != nil {
		return "", err
	}
	if filepath.IsAbs(target) {
		return "", fmt.Errorf("%s: absolute link %q (sysfs links are relative)", link, target)
	}
	return filepath.Join(filepath.Dir(link), target), nil
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// encodeDevnodeName escapes a label the way udev names its by-label links:
// bytes outside [A-Za-z0-9#+-.:=@_] that are not part of valid multi-byte
// UTF-8 become \xHH.
func encodeDevnodeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				b.WriteString(s[i : i+size])
				i += size
				continue
			}
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
		i++
	}
	return b.String()
}
