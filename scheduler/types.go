package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Depth is how deeply the server sleeps. Deeper values sleep more.
type Depth int

const (
	// Awake: the Pi and its disks are up.
	Awake Depth = iota
	// DisksAsleep: the Pi stays up, its USB disks are put to sleep.
	DisksAsleep
	// SystemHalted: the Pi halts and is woken by its RTC at the window's end.
	SystemHalted
)

var depthNames = [...]string{Awake: "awake", DisksAsleep: "disks", SystemHalted: "system"}

// String returns "awake", "disks" or "system".
func (d Depth) String() string {
	if d >= 0 && int(d) < len(depthNames) {
		return depthNames[d]
	}
	return "Depth(" + strconv.Itoa(int(d)) + ")"
}

// ParseDepth parses the String form of a Depth.
func ParseDepth(s string) (Depth, error) {
	for d, n := range depthNames {
		if s == n {
			return Depth(d), nil
		}
	}
	return 0, fmt.Errorf("scheduler: depth %q is not one of awake, disks, system", s)
}

// MarshalText implements encoding.TextMarshaler.
func (d Depth) MarshalText() ([]byte, error) {
	if d < 0 || int(d) >= len(depthNames) {
		return nil, fmt.Errorf("scheduler: cannot marshal unknown depth %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Depth) UnmarshalText(b []byte) error {
	v, err := ParseDepth(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Depth) valid() bool { return d >= Awake && d <= SystemHalted }

// TimeOfDay is a wall-clock time in the policy's time zone, to the minute.
type TimeOfDay struct {
	Hour, Minute int
}

// ParseTimeOfDay parses "HH:MM" (24-hour clock, "00:00" to "23:59").
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) >= 1 && len(h) <= 2 && len(m) == 2 {
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		t := TimeOfDay{hh, mm}
		if err1 == nil && err2 == nil && t.valid() && h[0] != '+' && h[0] != '-' && m[0] != '+' && m[0] != '-' {
			return t, nil
		}
	}
	return TimeOfDay{}, fmt.Errorf("scheduler: %q is not a time of day (HH:MM)", s)
}

// String returns "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// MarshalText implements encoding.TextMarshaler.
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := ParseTimeOfDay(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

func (t TimeOfDay) valid() bool {
	return t.Hour >= 0 && t.Hour < 24 && t.Minute >= 0 && t.Minute < 60
}

func (t TimeOfDay) minutes() int { return t.Hour*60 + t.Minute }

// Date is a civil date (no time, no zone): the day a window starts, the days
// an exception covers.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("scheduler: %q is not a date (YYYY-MM-DD): %w", s, err)
	}
	return DateOf(t), nil
}

// String returns "YYYY-MM-DD".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// valid reports whether d names a real day (time.Date would normalise
// 2026-02-30 into March).
func (d Date) valid() bool { return DateOf(d.utc()) == d }

// AddDays returns the date n days after d (before, if n is negative).
func (d Date) AddDays(n int) Date { return DateOf(d.utc().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.utc().Before(e.utc()) }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.utc().Weekday() }

// Weekdays is a set of days of the week: bit n is time.Weekday(n). The empty
// set means every day.
type Weekdays uint8

// EveryDay holds all seven days.
const EveryDay Weekdays = 1<<7 - 1

// DaysOf returns the set of the given days.
func DaysOf(days ...time.Weekday) Weekdays {
	var w Weekdays
	for _, d := range days {
		if d >= time.Sunday && d <= time.Saturday {
			w |= 1 << d
		}
	}
	return w
}

// Has reports whether d is in the set; every day is in the empty set.
func (w Weekdays) Has(d time.Weekday) bool { return w&EveryDay == 0 || w&(1<<d) != 0 }

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// String lists the days Monday first, like "mon,tue,sat", or "every day".
func (w Weekdays) String() string {
	if w&EveryDay == 0 || w&EveryDay == EveryDay {
		return "every day"
	}
	var names []string
	for i := 1; i <= 7; i++ {
		d := time.Weekday(i % 7)
		if w&(1<<d) != 0 {
			names = append(names, dayNames[d])
		}
	}
	return strings.Join(names, ",")
}

// ParseWeekdays parses a comma-separated list of day names or ranges, Monday
// first: "mon-fri", "sat,sun", "fri-mon", "every day" (also "all", "daily").
// Names are the first three letters of the English day, any case, or the full
// name.
func ParseWeekdays(s string) (Weekdays, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "every day", "everyday", "all", "daily":
		return EveryDay, nil
	}
	var w Weekdays
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := parseDay(from)
		if err != nil {
			return 0, err
		}
		b := a
		if isRange {
			if b, err = parseDay(to); err != nil {
				return 0, err
			}
		}
		// Walk from a to b in Monday-first order, wrapping past Sunday.
		for d := a; ; d = (d + 1) % 7 {
			w |= 1 << d
			if d == b {
				break
			}
		}
	}
	return w, nil
}

func parseDay(s string) (time.Weekday, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if s == n || (len(s) > 3 && strings.ToLower(time.Weekday(i).String()) == s) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("scheduler: %q is not a day of the week", s)
}

// MarshalText implements encoding.TextMarshaler.
func (w Weekdays) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (w *Weekdays) UnmarshalText(b []byte) error {
	v, err := ParseWeekdays(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}
