package usbdisk

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DiskStat is one line of /proc/diskstats (Documentation/admin-guide/iostats.rst).
// Only the counters that show I/O are kept.
type DiskStat struct {
	Major, Minor   uint32
	Name           string
	Reads          uint64 // reads completed
	SectorsRead    uint64
	Writes         uint64 // writes completed
	SectorsWritten uint64
	Discards       uint64 // 4.18+, 0 before
	Flushes        uint64 // 5.5+, 0 before
}

// ParseDiskstats reads /proc/diskstats. It accepts the 14-field form, the
// 18 (4.18+) and 20 (5.5+) field forms, and the old 7-field partition form.
func ParseDiskstats(r io.Reader) ([]DiskStat, error) {
	var out []DiskStat
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		s, err := parseDiskstatLine(f)
		if err != nil {
			return nil, fmt.Errorf("diskstats line %d: %w", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	return out, nil
}

func parseDiskstatLine(f []string) (DiskStat, error) {
	var s DiskStat
	if len(f) != 7 && len(f) < 14 {
		return s, fmt.Errorf("want 7 or at least 14 fields, got %d", len(f))
	}
	ma, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return s, fmt.Errorf("major: %w", err)
	}
	mi, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return s, fmt.Errorf("minor: %w", err)
	}
	s.Major, s.Minor, s.Name = uint32(ma), uint32(mi), f[2]
	n := make([]uint64, len(f)-3)
	for i, v := range f[3:] {
		if n[i], err = strconv.ParseUint(v, 10, 64); err != nil {
			return s, fmt.Errorf("%s field %d: %w", s.Name, i+4, err)
		}
	}
	if len(f) == 7 {
		// Linux 2.6.25-era partition line: reads, sectors read, writes, sectors written.
		s.Reads, s.SectorsRead, s.Writes, s.SectorsWritten = n[0], n[1], n[2], n[3]
		return s, nil
	}
	s.Reads, s.SectorsRead, s.Writes, s.SectorsWritten = n[0], n[2], n[4], n[6]
	if len(n) >= 15 {
		s.Discards = n[11]
	}
	if len(n) >= 17 {
		s.Flushes = n[15]
	}
	return s, nil
}

// ReadDiskstats parses <root>/proc/diskstats.
func ReadDiskstats(root string) ([]DiskStat, error) {
	p := filepath.Join(root, "proc/diskstats")
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read disk stats: %w", err)
	}
	defer f.Close()
	s, err := ParseDiskstats(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}
