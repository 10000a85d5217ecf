package usbdisk

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// IdleDisk is a disk the IdleMonitor watches.
type IdleDisk struct {
	Name string // whole disk, "sda"
	// Partitions are preferred as the activity source when they appear in
	// the snapshot: on newer kernels monitoring tools reading a disk's
	// SMART or power state bump the whole-disk counters without any
	// filesystem I/O (hd-idle's observation).
	Partitions []string
	// IdleAfter is how long the disk must see no I/O before it is spun
	// down; zero disables idle spin-down for this disk.
	IdleAfter time.Duration
}

// IdleOpts configures an IdleMonitor.
type IdleOpts struct {
	Disks []IdleDisk
	// PollInterval is how often Observe is called. A gap of more than
	// three intervals between two observations means the system was
	// suspended or the clock jumped (hd-idle's skew rule): every disk is
	// then assumed spinning and idle time starts again.
	PollInterval time.Duration
	// MinInterval is the least time between two spin-downs of one disk,
	// so a disk that is woken again and again is not cycled to death.
	// Zero means no minimum.
	MinInterval time.Duration
}

// IdleMonitor decides when disks have been idle long enough to spin down,
// from successive /proc/diskstats snapshots. It does no I/O and reads no
// clock: the caller feeds snapshots and times, spins disks down and says
// how that went. It is not safe for concurrent use.
type IdleMonitor struct {
	opts  IdleOpts
	last  time.Time
	disks map[string]*idleState
}

type idleState struct {
	cfg         IdleDisk
	seen        bool
	counter     ioCounter
	lastIO      time.Time
	spunDown    bool
	lastAttempt time.Time
}

type ioCounter struct{ reads, writes, sectorsRead, sectorsWritten uint64 }

// IdleReport is one disk's state in an Observation.
type IdleReport struct {
	Disk    string
	IdleFor time.Duration
}

// Observation is what one snapshot changed.
type Observation struct {
	// SpinDown lists disks idle for at least their IdleAfter, past their
	// MinInterval, and believed spinning: spin them down and call Done.
	SpinDown []IdleReport
	// Woke lists disks that were spun down and saw I/O again.
	Woke []string
	// Skew is the gap since the previous observation when it was long
	// enough (or negative) to mean a suspend or a clock step; the
	// monitor then forgot idle times and spin states.
	Skew time.Duration
}

// NewIdleMonitor checks opts and returns a monitor with no history.
func NewIdleMonitor(opts IdleOpts) (*IdleMonitor, error) {
	if opts.PollInterval <= 0 {
		return nil, errors.New("idle monitor: poll interval must be positive")
	}
	if opts.MinInterval < 0 {
		return nil, errors.New("idle monitor: negative minimum interval between spin-downs")
	}
	m := &IdleMonitor{opts: opts, disks: map[string]*idleState{}}
	for _, d := range opts.Disks {
		if d.Name == "" {
			return nil, errors.New("idle monitor: disk without a name")
		}
		if d.IdleAfter < 0 {
			return nil, fmt.Errorf("idle monitor: %s: negative idle time", d.Name)
		}
		if _, dup := m.disks[d.Name]; dup {
			return nil, fmt.Errorf("idle monitor: %s listed twice", d.Name)
		}
		m.disks[d.Name] = &idleState{cfg: d}
	}
	return m, nil
}

// SkewThreshold is the gap between observations that counts as a suspend.
func (m *IdleMonitor) SkewThreshold() time.Duration { return 3 * m.opts.PollInterval }

// Observe feeds the snapshot taken at now.
func (m *IdleMonitor) Observe(now time.Time, stats []DiskStat) Observation {
	var obs Observation
	if !m.last.IsZero() {
		gap := now.Sub(m.last)
		if gap > m.SkewThreshold() || gap < 0 {
			obs.Skew = gap
			for _, s := range m.disks {
				s.lastIO, s.spunDown = now, false
				if now.Before(s.lastAttempt) {
					s.lastAttempt = time.Time{}
				}
			}
		}
	}
	m.last = now
	names := make([]string, 0, len(m.disks))
	for n := range m.disks {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		s := m.disks[name]
		c, ok := activity(stats, s.cfg)
		if !ok {
			continue // not present (unplugged, or its port is off)
		}
		if !s.seen {
			s.seen, s.counter, s.lastIO = true, c, now
			continue
		}
		if c != s.counter {
			s.counter, s.lastIO = c, now
			if s.spunDown {
				s.spunDown = false
				obs.Woke = append(obs.Woke, name)
			}
			continue
		}
		if s.spunDown || s.cfg.IdleAfter == 0 {
			continue
		}
		idle := now.Sub(s.lastIO)
		if idle < s.cfg.IdleAfter {
			continue
		}
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < m.opts.MinInterval {
			continue
		}
		s.lastAttempt = now
		obs.SpinDown = append(obs.SpinDown, IdleReport{Disk: name, IdleFor: idle})
	}
	return obs
}

// Done records the outcome of a spin-down the monitor asked for. A failed
// attempt is retried no sooner than MinInterval later.
func (m *IdleMonitor) Done(disk string, at time.Time, err error) {
	s, ok := m.disks[disk]
	if !ok {
		return
	}
	s.lastAttempt = at
	if err == nil {
		s.spunDown = true
	}
}

// SpunDown reports whether the monitor believes the disk is spun down.
func (m *IdleMonitor) SpunDown(disk string) bool {
	s, ok := m.disks[disk]
	return ok && s.spunDown
}

// activity sums the partitions' counters when any is in the snapshot, the
// whole disk's otherwise.
func activity(stats []DiskStat, d IdleDisk) (ioCounter, bool) {
	var c, whole ioCounter
	parts, disk := false, false
	for _, st := range stats {
		add := func(x *ioCounter) {
			x.reads += st.Reads
			x.writes += st.Writes
			x.sectorsRead += st.SectorsRead
			x.sectorsWritten += st.SectorsWritten
		}
		switch {
		case st.Name == d.Name:
			add(&whole)
			disk = true
		case slices.Contains(d.Partitions, st.Name):
			add(&c)
			parts = true
		}
	}
	if parts {
		return c, true
	}
	return whole, disk
}
