package usbdisk

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func snap(sda1, sda uint64) []DiskStat {
	return []DiskStat{
		{Name: "sda", Reads: sda, Writes: sda},
		{Name: "sda1", Reads: sda1, Writes: sda1},
		{Name: "sdb", Reads: 1},
	}
}

func newMonitor(t *testing.T) *IdleMonitor {
	t.Helper()
	m, err := NewIdleMonitor(IdleOpts{
		Disks:        []IdleDisk{{Name: "sda", Partitions: []string{"sda1"}, IdleAfter: 10 * time.Minute}},
		PollInterval: time.Minute,
		MinInterval:  time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run feeds one snapshot a minute from start for n minutes and returns the
// minutes (from start) at which a spin-down was asked for.
func run(m *IdleMonitor, start time.Time, from, n int, counter func(min int) (part, whole uint64)) []int {
	var asked []int
	for i := from; i < from+n; i++ {
		now := start.Add(time.Duration(i) * time.Minute)
		p, w := counter(i)
		obs := m.Observe(now, snap(p, w))
		for range obs.SpinDown {
			asked = append(asked, i)
			m.Done("sda", now, nil)
		}
	}
	return asked
}

func TestIdleSpinDownAfterIdleTime(t *testing.T) {
	start := time.Date(2026, 1, 10, 23, 0, 0, 0, time.UTC)
	m := newMonitor(t)
	// I/O on the partition until minute 5, then none.
	got := run(m, start, 0, 30, func(min int) (uint64, uint64) {
		if min <= 5 {
			return uint64(min), uint64(min)
		}
		return 5, uint64(min) // the whole-disk counter keeps moving (smartctl): ignored
	})
	if !reflect.DeepEqual(got, []int{15}) {
		t.Errorf("spin-downs at minutes %v, want [15]", got)
	}
	if !m.SpunDown("sda") {
		t.Error("not spun down after Done")
	}
}

func TestIdleWholeDiskWhenNoPartitionCounters(t *testing.T) {
	m, _ := NewIdleMonitor(IdleOpts{Disks: []IdleDisk{{Name: "sdb", Partitions: []string{"sdb1"}, IdleAfter: 2 * time.Minute}}, PollInterval: time.Minute})
	start := time.Unix(0, 0)
	var asked []time.Duration
	for i := 0; i < 6; i++ {
		obs := m.Observe(start.Add(time.Duration(i)*time.Minute), []DiskStat{{Name: "sdb", Reads: 1}})
		for _, r := range obs.SpinDown {
			asked = append(asked, r.IdleFor)
		}
	}
	// Idle since the first snapshot; asked once at 2 min, then (no Done,
	// no MinInterval) again each poll until the caller reports.
	if len(asked) == 0 || asked[0] != 2*time.Minute {
		t.Errorf("asked %v", asked)
	}
}

func TestIdleMinIntervalAndWake(t *testing.T) {
	start := time.Date(2026, 1, 10, 23, 0, 0, 0, time.UTC)
	m := newMonitor(t)
	run(m, start, 0, 11, func(int) (uint64, uint64) { return 1, 1 }) // spun down at 10
	// Woken by I/O at minute 20, idle again from 21.
	var woke []string
	for i := 11; i <= 21; i++ {
		p := uint64(1)
		if i >= 20 {
			p = 2
		}
		obs := m.Observe(start.Add(time.Duration(i)*time.Minute), snap(p, p))
		woke = append(woke, obs.Woke...)
		if len(obs.SpinDown) > 0 {
			t.Fatalf("spin-down at %d", i)
		}
	}
	if !reflect.DeepEqual(woke, []string{"sda"}) || m.SpunDown("sda") {
		t.Errorf("woke %v, spun down %v", woke, m.SpunDown("sda"))
	}
	// Idle for 10 min at minute 30, but the last spin-down was at 10:
	// the next may come at 70 at the earliest.
	got := run(m, start, 22, 60, func(int) (uint64, uint64) { return 2, 2 })
	if !reflect.DeepEqual(got, []int{70}) {
		t.Errorf("second spin-down at %v, want [70]", got)
	}
}

func TestIdleFailedSpinDownWaitsMinInterval(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	m := newMonitor(t)
	var asked []int
	for i := 0; i < 80; i++ {
		now := start.Add(time.Duration(i) * time.Minute)
		for range m.Observe(now, snap(1, 1)).SpinDown {
			asked = append(asked, i)
			m.Done("sda", now, errors.New("no answer"))
		}
	}
	if !reflect.DeepEqual(asked, []int{10, 70}) {
		t.Errorf("attempts at %v, want [10 70]", asked)
	}
}

func TestIdleSkewResetsState(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	m := newMonitor(t)
	run(m, start, 0, 11, func(int) (uint64, uint64) { return 1, 1 }) // spun down at 10
	if !m.SpunDown("sda") {
		t.Fatal("not spun down")
	}
	// Suspended for 5 hours: no I/O seen, but the disk spun up on resume.
	obs := m.Observe(start.Add(5*time.Hour), snap(1, 1))
	if obs.Skew != 5*time.Hour-10*time.Minute || m.SpunDown("sda") || len(obs.SpinDown) != 0 {
		t.Fatalf("after suspend: %+v, spun down %v", obs, m.SpunDown("sda"))
	}
	// Idle time counts again from the resume.
	got := run(m, start.Add(5*time.Hour), 1, 12, func(int) (uint64, uint64) { return 1, 1 })
	if !reflect.DeepEqual(got, []int{10}) {
		t.Errorf("spin-down %v minutes after resume, want [10]", got)
	}
	// A clock stepped backwards is a skew too.
	if obs := m.Observe(start, snap(1, 1)); obs.Skew >= 0 {
		t.Errorf("backwards step: skew %v", obs.Skew)
	}
	if m.SkewThreshold() != 3*time.Minute {
		t.Errorf("skew threshold %v", m.SkewThreshold())
	}
}

func TestIdleMissingDiskAndDisabled(t *testing.T) {
	m, err := NewIdleMonitor(IdleOpts{Disks: []IdleDisk{{Name: "sdc"}, {Name: "sdd", IdleAfter: time.Minute}}, PollInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 0)
	for i := 0; i < 10; i++ {
		obs := m.Observe(start.Add(time.Duration(i)*time.Minute), []DiskStat{{Name: "sdc"}})
		if len(obs.SpinDown) != 0 {
			t.Fatalf("spin-down of %v (sdc has no idle time, sdd is absent)", obs.SpinDown)
		}
	}
}

func TestNewIdleMonitorErrors(t *testing.T) {
	for _, o := range []IdleOpts{
		{},
		{PollInterval: time.Minute, MinInterval: -1},
		{PollInterval: time.Minute, Disks: []IdleDisk{{}}},
		{PollInterval: time.Minute, Disks: []IdleDisk{{Name: "sda", IdleAfter: -1}}},
		{PollInterval: time.Minute, Disks: []IdleDisk{{Name: "sda"}, {Name: "sda"}}},
	} {
		if _, err := NewIdleMonitor(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
