package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Duration is a time.Duration written as "90s", "15m", "2h30m" or "7d". It is
// a struct so that a bare number (which unit?) is a type error, not 10 ns.
type Duration struct{ d time.Duration }

// Dur returns d as a Duration.
func Dur(d time.Duration) Duration { return Duration{d} }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return d.d }

// UnmarshalText parses Go durations plus a "d" (24 h) unit.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return &valueError{raw: string(b), msg: err.Error()}
	}
	d.d = v
	return nil
}

// MarshalText writes the shortest readable form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(formatDuration(d.d)), nil }

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.Atoi(t[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration (like 90s, 15m, 2h30m or 7d)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		t = t[i+1:]
		if t == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(t)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a duration (like 90s, 15m, 2h30m or 7d)", s)
	}
	return days + v, nil
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	day := 24 * time.Hour
	if d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// TimeOfDay is a wall-clock time "HH:MM" in the schedule's time zone.
type TimeOfDay struct{ Hour, Minute int }

// UnmarshalText parses "HH:MM" (24-hour clock).
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	s := string(b)
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return badValue(b, "%q is not a time of day (HH:MM)", s)
	}
	*t = TimeOfDay{hh, mm}
	return nil
}

// MarshalText writes "HH:MM".
func (t TimeOfDay) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%02d:%02d", t.Hour, t.Minute)), nil
}

// Minutes since midnight.
func (t TimeOfDay) Minutes() int { return t.Hour*60 + t.Minute }

// Date is a calendar day "YYYY-MM-DD".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// UnmarshalText parses "YYYY-MM-DD".
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse("2006-01-02", string(b))
	if err != nil {
		return badValue(b, "%q is not a date (YYYY-MM-DD)", b)
	}
	*d = Date{t.Year(), t.Month(), t.Day()}
	return nil
}

// MarshalText writes "YYYY-MM-DD".
func (d Date) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)), nil
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d.Year == 0 }

// Before reports whether d is strictly before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// Resistance is a shunt resistance such as "100mΩ", "0.1 ohm" or "2mOhm".
type Resistance struct{ v physic.ElectricResistance }

// ResistanceOf wraps a physic value.
func ResistanceOf(v physic.ElectricResistance) Resistance { return Resistance{v} }

// V returns the physic value.
func (x Resistance) V() physic.ElectricResistance { return x.v }

// UnmarshalText parses with periph's physic units (spaces are ignored).
func (r *Resistance) UnmarshalText(b []byte) error {
	var v physic.ElectricResistance
	if err := v.Set(strings.ReplaceAll(string(b), " ", "")); err != nil {
		return badValue(b, "%q is not a resistance (like \"100mΩ\" or \"0.1 ohm\"): %v", b, err)
	}
	if v <= 0 {
		return badValue(b, "%q: a shunt resistance must be above zero", b)
	}
	r.v = v
	return nil
}

// MarshalText writes periph's form.
func (r Resistance) MarshalText() ([]byte, error) {
	return []byte(r.v.String()), nil
}

// Current is an electric current such as "3.2A" or "800mA".
type Current struct{ v physic.ElectricCurrent }

// CurrentOf wraps a physic value.
func CurrentOf(v physic.ElectricCurrent) Current { return Current{v} }

// V returns the physic value.
func (x Current) V() physic.ElectricCurrent { return x.v }

// UnmarshalText parses with periph's physic units.
func (c *Current) UnmarshalText(b []byte) error {
	var v physic.ElectricCurrent
	if err := v.Set(strings.ReplaceAll(string(b), " ", "")); err != nil {
		return badValue(b, "%q is not a current (like \"3.2A\" or \"800mA\"): %v", b, err)
	}
	if v <= 0 {
		return badValue(b, "%q: a maximum current must be above zero", b)
	}
	c.v = v
	return nil
}

// MarshalText writes periph's form.
func (c Current) MarshalText() ([]byte, error) {
	return []byte(c.v.String()), nil
}

// Voltage is an electric potential such as "32V" or "163.84mV".
type Voltage struct{ v physic.ElectricPotential }

// VoltageOf wraps a physic value.
func VoltageOf(v physic.ElectricPotential) Voltage { return Voltage{v} }

// V returns the physic value.
func (x Voltage) V() physic.ElectricPotential { return x.v }

// UnmarshalText parses with periph's physic units.
func (v *Voltage) UnmarshalText(b []byte) error {
	var p physic.ElectricPotential
	if err := p.Set(strings.ReplaceAll(string(b), " ", "")); err != nil {
		return badValue(b, "%q is not a voltage (like \"32V\" or \"40mV\"): %v", b, err)
	}
	v.v = p
	return nil
}

// MarshalText writes periph's form.
func (v Voltage) MarshalText() ([]byte, error) {
	return []byte(v.v.String()), nil
}

// ByteSize is a size such as "16MiB", "512kB" or "1000000".
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1}, {"", 1},
}

func parseSize(s string) (int64, bool) {
	t := strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if !strings.HasSuffix(t, u.suffix) {
			continue
		}
		num := strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || f*float64(u.mult) > 1<<62 {
			return 0, false
		}
		return int64(f * float64(u.mult)), true
	}
	return 0, false
}

// UnmarshalText parses a size with an optional unit.
func (z *ByteSize) UnmarshalText(b []byte) error {
	v, ok := parseSize(string(b))
	if !ok {
		return badValue(b, "%q is not a size (like \"16MiB\" or \"500kB\")", b)
	}
	*z = ByteSize(v)
	return nil
}

// MarshalText writes the size in the largest exact binary unit.
func (z ByteSize) MarshalText() ([]byte, error) {
	v := int64(z)
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.m && v%u.m == 0 {
			return []byte(strconv.FormatInt(v/u.m, 10) + u.s), nil
		}
	}
	return []byte(strconv.FormatInt(v, 10) + "B"), nil
}

// ByteRate is a throughput such as "100kB/s" or "2MB/s" (0 disables).
type ByteRate int64

// UnmarshalText parses a size per second.
func (r *ByteRate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, ok := strings.CutSuffix(s, "/s")
	if !ok && s != "0" {
		return badValue(b, "%q is not a rate (like \"100kB/s\" or \"2MB/s\")", b)
	}
	v, ok := parseSize(num)
	if !ok {
		return badValue(b, "%q is not a rate (like \"100kB/s\" or \"2MB/s\")", b)
	}
	*r = ByteRate(v)
	return nil
}

// MarshalText writes the rate.
func (r ByteRate) MarshalText() ([]byte, error) {
	if r == 0 {
		return []byte("0"), nil
	}
	switch {
	case r%1000000 == 0:
		return []byte(strconv.FormatInt(int64(r)/1000000, 10) + "MB/s"), nil
	case r%1000 == 0:
		return []byte(strconv.FormatInt(int64(r)/1000, 10) + "kB/s"), nil
	}
	return []byte(strconv.FormatInt(int64(r), 10) + "B/s"), nil
}

// valueError is a bad value; it carries the raw text so that the key and
// line can be found even when the TOML decoder does not report a position.
type valueError struct{ raw, msg string }

func (e *valueError) Error() string { return e.msg }

func badValue(b []byte, format string, args ...any) error {
	return &valueError{raw: string(b), msg: fmt.Sprintf(format, args...)}
}
