package usbdisk

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func BenchmarkParseMountinfo(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 40; i++ {
		sb.WriteString(sampleMountinfo)
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseMountinfo(strings.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// The monitor is fed every poll interval for every disk: it must stay
// far below a millisecond for a handful of disks.
func BenchmarkIdleObserve(b *testing.B) {
	var disks []IdleDisk
	var stats []DiskStat
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("sd%c", 'a'+i)
		disks = append(disks, IdleDisk{Name: name, Partitions: []string{name + "1", name + "2"}, IdleAfter: time.Hour})
		stats = append(stats, DiskStat{Name: name, Reads: 1}, DiskStat{Name: name + "1", Reads: 1}, DiskStat{Name: name + "2"})
	}
	m, err := NewIdleMonitor(IdleOpts{Disks: disks, PollInterval: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, 0)
	for b.Loop() {
		now = now.Add(time.Minute)
		m.Observe(now, stats)
	}
}
