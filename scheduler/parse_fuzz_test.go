package scheduler

import "testing"

// The configuration's times, dates and day lists come from a person's
// file: what the parsers accept must print back to something they read as
// the same value.

func FuzzParseTimeOfDay(f *testing.F) {
	for _, s := range []string{"23:30", "0:00", "06:30", "24:00", "23:60", "+1:00", "1:-0", "१२:००", " 1:00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTimeOfDay(s)
		if err != nil {
			return
		}
		if !v.valid() {
			t.Fatalf("%q → %+v, not a time of day", s, v)
		}
		if w, err := ParseTimeOfDay(v.String()); err != nil || w != v {
			t.Fatalf("%q → %v → %v, %v", s, v, w, err)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-12-24", "2026-02-29", "0000-01-01", "9999-12-31", "2026-1-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		if e, err := ParseDate(d.String()); err != nil || e != d {
			t.Fatalf("%q → %v → %v, %v", s, d, e, err)
		}
	})
}

func FuzzParseWeekdays(f *testing.F) {
	for _, s := range []string{"mon-fri", "sat,sun", "fri-mon", "daily", "Monday", "mon,", "-", "sun-sun", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWeekdays(s)
		if err != nil {
			return
		}
		if w == 0 || w&^EveryDay != 0 {
			t.Fatalf("%q → %b", s, w)
		}
		if v, err := ParseWeekdays(w.String()); err != nil || v != w {
			t.Fatalf("%q → %v (%b) → %b, %v", s, w, w, v, err)
		}
	})
}
