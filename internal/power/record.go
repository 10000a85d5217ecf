package power

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	sleepRecordFile = "sleep.json"        // the whole system went down
	disksRecordFile = "disks-asleep.json" // the disks sleep, the system is up
)

// writeAtomic replaces path with data so that a crash leaves either the old
// or the new content: temp file, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

// removeDurable removes path (absent is fine) and syncs its directory.
func removeDurable(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// bootID identifies this boot (<root>/proc/sys/kernel/random/boot_id), to
// tell a record of this boot from one written before a halt.
func bootID(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// SleepRecord is written just before the system powers off.
type SleepRecord struct {
	Kind   string    `json:"kind"` // "sleep", "shutdown", "reboot"
	At     time.Time `json:"at"`
	WakeAt time.Time `json:"wake_at,omitzero"` // the armed alarm
	BootID string    `json:"boot_id,omitempty"`
}

// WakeReport says why and when the system came back.
type WakeReport struct {
	Record SleepRecord
	Now    time.Time
	// Reason: "rtc alarm" (woke at or after the alarm time), "button or
	// power" (earlier, or no alarm: the button, a power cut, a person),
	// "reboot" (a requested reboot), "unknown" (the clock reads earlier
	// than the record: not yet set after boot).
	Reason string
	Slept  time.Duration // 0 when unknown
}

func (w WakeReport) String() string {
	if w.Slept == 0 {
		return fmt.Sprintf("woke after %s (%s)", w.Record.Kind, w.Reason)
	}
	return fmt.Sprintf("woke after %s of %s (%s)", w.Record.Kind, w.Slept.Round(time.Second), w.Reason)
}

// alarmSlack is how early before the alarm time a wake still counts as the
// alarm's: RTCs and boot clocks are a few seconds apart.
const alarmSlack = 2 * time.Minute

// TakeWakeReport reads the sleep record left in stateDir before the last
// power-off, removes it, and says why the system woke and how long it
// slept. It returns nil when there is no record, or when the record was
// written in this same boot (the power-off did not happen). Call it once
// the clock is trustworthy (synchronised, or an RTC): on a Pi 4 without
// RTC the clock starts from the last saved time.
func TakeWakeReport(root, stateDir string, now time.Time) (*WakeReport, error) {
	path := filepath.Join(stateDir, sleepRecordFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wake report: %w", err)
	}
	var rec SleepRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		_ = removeDurable(path)
		return nil, fmt.Errorf("wake report: %s: %w", path, err)
	}
	if err := removeDurable(path); err != nil {
		return nil, fmt.Errorf("wake report: %w", err)
	}
	if rec.BootID != "" && rec.BootID == bootID(root) {
		return nil, nil
	}
	w := &WakeReport{Record: rec, Now: now}
	switch {
	case now.Before(rec.At):
		w.Reason = "unknown"
		return w, nil
	case rec.Kind == "reboot":
		w.Reason = "reboot"
	case !rec.WakeAt.IsZero() && !now.Before(rec.WakeAt.Add(-alarmSlack)):
		w.Reason = "rtc alarm"
	default:
		w.Reason = "button or power"
	}
	w.Slept = now.Sub(rec.At)
	return w, nil
}

// disksRecord is what a standalone disks-asleep sequence did, so the disks
// can be woken by a later request, even after the agent restarted.
type disksRecord struct {
	BootID string       `json:"boot_id,omitempty"`
	At     time.Time    `json:"at"`
	Disks  []diskRecord `json:"disks"`
	Cuts   []cutRecord  `json:"cuts,omitempty"`
}

type diskRecord struct {
	Name     string        `json:"name"`
	UUID     string        `json:"uuid,omitempty"`
	Label    string        `json:"label,omitempty"`
	Kernel   string        `json:"kernel"` // "sda" when it went to sleep
	Mounts   []mountRecord `json:"mounts,omitempty"`
	Units    []string      `json:"units,omitempty"` // stopped, in stop order
	SpunDown bool          `json:"spun_down,omitempty"`
}

type mountRecord struct {
	Root    string `json:"root"` // path inside the filesystem ("/" for the filesystem itself)
	Target  string `json:"target"`
	FSType  string `json:"fstype"`
	Options string `json:"options"`
}

type cutRecord struct {
	Port  string   `json:"port"`  // as asked: "2-1"
	Ports []string `json:"ports"` // every port written
	Disks []string `json:"disks"` // the disks' names (config)
}

func (c *Controller) loadDisksRecord() (*disksRecord, error) {
	path := filepath.Join(c.o.StateDir, disksRecordFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var rec disksRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if rec.BootID != "" && rec.BootID != bootID(c.o.Root) {
		// Written before a reboot: the boot mounted the disks and powered
		// the ports again.
		c.o.Log.Info("forgetting disks-asleep record of an earlier boot", "path", path)
		return nil, removeDurable(path)
	}
	return &rec, nil
}

func (c *Controller) saveDisksRecord(rec *disksRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(c.o.StateDir, disksRecordFile), b)
}
