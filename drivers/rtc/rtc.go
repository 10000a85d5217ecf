// Package rtc arms and clears the wake alarm of a Linux real-time clock through
// sysfs: <root>/sys/class/rtc/<name>/wakealarm.
//
// Kernel semantics (Documentation/ABI/testing/sysfs-class-rtc and
// drivers/rtc/sysfs.c, wakealarm_show/wakealarm_store):
//
//   - Reading prints the armed alarm in seconds since the epoch, or nothing when
//     no alarm is enabled.
//   - Writing a future time while an alarm is enabled fails with EBUSY, so an
//     alarm is replaced by writing 0 first (a time in the past disables it).
//   - Writing a time that is not in the future silently disables the alarm:
//     only reading it back tells whether it was armed.
//   - The alarm is one shot; something that sets the RTC time (hwclock,
//     timesyncd) may clear it on some chips, so it is re-armed before every
//     halt.
//   - The file exists only when the RTC's device can wake the system and its
//     driver can set alarms (rtc_does_wakealarm), so its presence is the
//     capability test.
//
// The kernel counts the alarm in the RTC's own time base; Linux keeps RTCs in
// UTC, which is what epoch seconds mean here. An RTC kept in local time (a dual
// boot habit) would wake the machine off by the UTC offset.
package rtc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// WakeAlarm is the wake alarm of one RTC.
type WakeAlarm struct {
	// Root is prepended to every kernel path; "" means "/". Tests and the
	// simulated world point it at a temporary tree.
	Root string
	// Name is the RTC's name under /sys/class/rtc; "" means "rtc0".
	Name string
	// WriteFile writes the sysfs attribute; nil means os.WriteFile. It is the
	// lowest layer, so a test can make "the kernel" answer EBUSY or EINVAL.
	WriteFile func(name string, data []byte, perm fs.FileMode) error
}

// Path is the wakealarm attribute's path.
func (w *WakeAlarm) Path() string {
	root := w.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, "sys", "class", "rtc", w.name(), "wakealarm")
}

func (w *WakeAlarm) String() string { return w.name() + " wake alarm" }

func (w *WakeAlarm) name() string {
	if w.Name == "" {
		return "rtc0"
	}
	return w.Name
}

func (w *WakeAlarm) write(data string) error {
	write := w.WriteFile
	if write == nil {
		write = os.WriteFile
	}
	// sysfs attributes exist already; the mode only matters to a fake tree.
	return write(w.Path(), []byte(data), 0o644)
}

// Capable reports whether this RTC can wake the system: the kernel creates
// the wakealarm attribute only then.
func (w *WakeAlarm) Capable() (bool, error) {
	_, err := os.Stat(w.Path())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("%s: %w", w, err)
	}
}

// Read returns the armed alarm, or ok == false when none is armed (the
// attribute reads empty).
func (w *WakeAlarm) Read() (t time.Time, ok bool, err error) {
	b, err := os.ReadFile(w.Path())
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: read: %w", w, err)
	}
	t, ok, err = ParseWakeAlarm(b)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %s: %w", w, w.Path(), err)
	}
	return t, ok, nil
}

// ParseWakeAlarm parses the content of a wakealarm attribute: decimal epoch
// seconds and a newline, or nothing when no alarm is armed.
func ParseWakeAlarm(b []byte) (t time.Time, ok bool, err error) {
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return time.Time{}, false, nil
	}
	sec, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, false, fmt.Errorf("wakealarm %q is not epoch seconds", s)
	}
	return time.Unix(sec, 0), true, nil
}

// Clear disables the alarm. Writing 0 (a time in the past) is how the kernel
// disables it; an already clear alarm stays clear.
func (w *WakeAlarm) Clear() error {
	if err := w.write("0"); err != nil {
		return fmt.Errorf("%s: clear (write 0): %w", w, err)
	}
	if t, ok, err := w.Read(); err != nil {
		return fmt.Errorf("clear: %w", err)
	} else if ok {
		return fmt.Errorf("%s: clear: still armed for %s after writing 0", w, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// Set arms the alarm to wake the system at t (whole seconds; the fraction is
// dropped). It clears any armed alarm first, because the kernel refuses to
// replace one (EBUSY), then reads the alarm back: a time the RTC considers
// past is accepted by the kernel but leaves the alarm disabled, and only the
// read-back shows it.
func (w *WakeAlarm) Set(t time.Time) error {
	sec := t.Unix()
	if sec <= 0 {
		return fmt.Errorf("%s: set: %s is not after the epoch", w, t.UTC().Format(time.RFC3339))
	}
	when := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	if err := w.write("0"); err != nil {
		return fmt.Errorf("%s: set %s: clear the previous alarm (write 0): %w", w, when, err)
	}
	if err := w.write(strconv.FormatInt(sec, 10)); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%s: set %s: the RTC still has an alarm armed after writing 0 "+
				"(the kernel answers EBUSY while one is enabled; something else may have re-armed it): %w", w, when, err)
		}
		return fmt.Errorf("%s: set %s: %w", w, when, err)
	}
	got, ok, err := w.Read()
	if err != nil {
		return fmt.Errorf("set %s: verify: %w", when, err)
	}
	if !ok {
		return fmt.Errorf("%s: set %s: the alarm reads back disabled; the RTC's clock is probably at or after that time", w, when)
	}
	if got.Unix() != sec {
		return fmt.Errorf("%s: set %s: the alarm reads back %s", w, when, got.UTC().Format(time.RFC3339))
	}
	return nil
}
