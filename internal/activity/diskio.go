package activity

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DiskStat is the part of a /proc/diskstats line veille uses.
type DiskStat struct {
	Major, Minor   uint32
	Name           string
	SectorsRead    uint64 // field 6; sectors are 512 bytes whatever the disk
	SectorsWritten uint64 // field 10
}

// ParseDiskstats parses /proc/diskstats: 14 fields before Linux 4.18, 18
// with the discard counters, 20 with the flush counters (5.5).
func ParseDiskstats(r io.Reader) ([]DiskStat, error) {
	var out []DiskStat
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 14 {
			return nil, fmt.Errorf("diskstats line %d: %d fields, want at least 14", n, len(f))
		}
		var nums [4]uint64
		for i, idx := range []int{0, 1, 5, 9} {
			bits := 64
			if idx < 2 {
				bits = 32
			}
			v, err := strconv.ParseUint(f[idx], 10, bits)
			if err != nil {
				return nil, fmt.Errorf("diskstats line %d field %d: %w", n, idx+1, err)
			}
			nums[i] = v
		}
		out = append(out, DiskStat{Major: uint32(nums[0]), Minor: uint32(nums[1]), Name: f[2], SectorsRead: nums[2], SectorsWritten: nums[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	return out, nil
}

// DiskIO is active while the disks read and write at least Threshold bytes
// per second together, measured between two calls of Check.
//
// Like hd-idle, it counts a disk's partitions (or, for a disk without
// partitions, the device-mapper devices that hold it: LUKS, LVM) rather than
// the whole disk, whose counters newer kernels also bump for the commands
// monitoring tools send (smartctl, hdparm -C).
type DiskIO struct {
	Root string // "" is "/"
	// Disks are kernel names ("sda", "/dev/sda" is accepted); empty means
	// every sd* and nvme* disk.
	Disks     []string
	Threshold float64 // bytes per second

	meter rateMeter
}

// Name returns "disk-io".
func (d *DiskIO) Name() string { return "disk-io" }

// Check reads /proc/diskstats.
func (d *DiskIO) Check(ctx context.Context, now time.Time) (bool, string, error) {
	root := rootDir(d.Root)
	path := filepath.Join(root, "proc", "diskstats")
	f, err := os.Open(path)
	if err != nil {
		return false, "", err
	}
	stats, err := ParseDiskstats(f)
	f.Close()
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", path, err)
	}
	sectors := make(map[string]uint64, len(stats))
	for _, s := range stats {
		sectors[s.Name] = s.SectorsRead + s.SectorsWritten
	}
	disks := d.Disks
	if len(disks) == 0 {
		for _, s := range stats {
			if wholeDisk(s.Name) {
				disks = append(disks, s.Name)
			}
		}
	}
	cur := map[string]uint64{}
	for _, disk := range disks {
		disk = strings.TrimPrefix(disk, "/dev/")
		sum, ok := uint64(0), false
		for name, v := range sectors {
			if isPartition(disk, name) {
				sum, ok = sum+v, true
			}
		}
		if !ok {
			holders, err := os.ReadDir(filepath.Join(root, "sys", "class", "block", disk, "holders"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, "", err
			}
			for _, h := range holders {
				if v, found := sectors[h.Name()]; found {
					sum, ok = sum+v, true
				}
			}
		}
		if !ok {
			sum, ok = sectors[disk]
		}
		if ok {
			cur[disk] = sum * 512
		}
	}
	r, ok := d.meter.rates(now, cur)
	if !ok {
		return false, "", nil
	}
	total, top := busiest(r)
	if total < d.Threshold || total == 0 {
		return false, "", nil
	}
	return true, fmt.Sprintf("disk I/O %s (%s %s)", formatRate(total), top, formatRate(r[top])), nil
}

// wholeDisk reports a SCSI/SATA/USB or NVMe disk name: sda, sdab, nvme0n1.
func wholeDisk(name string) bool {
	if rest, ok := strings.CutPrefix(name, "sd"); ok {
		return rest != "" && strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz") == ""
	}
	if rest, ok := strings.CutPrefix(name, "nvme"); ok {
		c, n, ok := strings.Cut(rest, "n")
		return ok && digits(c) && digits(n)
	}
	return false
}

// isPartition reports whether name is a partition of disk: sda1 of sda,
// nvme0n1p2 of nvme0n1, mmcblk0p1 of mmcblk0.
func isPartition(disk, name string) bool {
	rest, ok := strings.CutPrefix(name, disk)
	if !ok || rest == "" {
		return false
	}
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		rest, ok = strings.CutPrefix(rest, "p")
		if !ok {
			return false
		}
	}
	return digits(rest)
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
