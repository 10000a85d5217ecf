package scheduler

import (
	"errors"
	"fmt"
	"time"
)

// Window is a weekly sleep window. It starts on each of Days at Sleep and ends
// at the next Wake: on the same day when Wake is later than Sleep, on the next
// day otherwise (a window that crosses midnight belongs to the day it starts).
type Window struct {
	Name  string
	Days  Weekdays // days the window starts on; empty means every day
	Sleep TimeOfDay
	Wake  TimeOfDay
	Depth Depth // DisksAsleep or SystemHalted
}

// Exception changes the plan on the dates From to To (inclusive; To may be
// left zero for a single day). Either Awake is set, and no window starts on
// those dates, or Windows replace the regular windows that would start on
// those dates (a replacement window's Days, when set, filter the covered dates).
type Exception struct {
	Name     string
	From, To Date
	Awake    bool
	Windows  []Window
}

func (e *Exception) last() Date {
	if e.To.IsZero() {
		return e.From
	}
	return e.To
}

func (e *Exception) covers(d Date) bool { return !d.Before(e.From) && !e.last().Before(d) }

// Policy is the sleep policy. Build it with DefaultPolicy and fill in the
// windows; check it with Validate.
type Policy struct {
	// Enabled false keeps the server awake; Preview still shows the plan.
	Enabled bool
	// Location is the time zone windows and exception dates are read in.
	Location   *time.Location
	Windows    []Window
	Exceptions []Exception

	// MinAwake is the least time the server stays awake after any wake
	// (boot, RTC wake, end of a disks window, manual wake) or clock jump,
	// before it may sleep again. Zero disables it.
	MinAwake time.Duration
	// RetryEvery is how long sleep is postponed when an activity check is
	// active at sleep time.
	RetryEvery time.Duration
	// GiveUpAfter is how long after a window starts activity may postpone
	// it; past this the window is given up and the server stays awake until
	// it ends.
	GiveUpAfter time.Duration
	// WakeBeforeTimers is how long before a watched systemd timer that falls
	// inside a sleep window the server wakes for it. Zero disables it.
	WakeBeforeTimers time.Duration
	// ClockJump is the largest change of the wall clock between two calls of
	// Decide, forward or back, that is not a clock jump.
	ClockJump time.Duration
}

// DefaultPolicy returns an enabled policy in the local time zone with no
// windows and the recommended delays.
func DefaultPolicy() Policy {
	return Policy{
		Enabled:          true,
		Location:         time.Local,
		MinAwake:         30 * time.Minute,
		RetryEvery:       5 * time.Minute,
		GiveUpAfter:      2 * time.Hour,
		WakeBeforeTimers: 10 * time.Minute,
		ClockJump:        15 * time.Minute,
	}
}

// maxPeriod bounds one continuous sleep. A plan whose windows chain into a
// longer sleep leaves the server no time awake and is refused by Validate.
const maxPeriod = 8 * 24 * time.Hour

// scanBackDays is how far before an instant the plan is searched for the
// start of a sleep period that contains it, and after it for its end: a
// period is at most maxPeriod long and a window at most a day.
const scanBackDays = 10

// Validate reports every problem of p, each naming the window or exception.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("scheduler: "+format, a...)) }
	if p.Location == nil {
		bad("policy has no time zone")
	}
	if p.MinAwake < 0 {
		bad("min awake %v is negative", p.MinAwake)
	}
	if p.RetryEvery <= 0 {
		bad("retry interval %v must be positive", p.RetryEvery)
	}
	if p.GiveUpAfter <= 0 {
		bad("give-up delay %v must be positive", p.GiveUpAfter)
	}
	if p.WakeBeforeTimers < 0 {
		bad("wake-before-timers %v is negative", p.WakeBeforeTimers)
	}
	if p.ClockJump <= 0 {
		bad("clock jump threshold %v must be positive", p.ClockJump)
	}
	names := map[string]bool{}
	for i := range p.Windows {
		w := &p.Windows[i]
		if err := w.validate(fmt.Sprintf("window %d", i+1)); err != nil {
			errs = append(errs, err)
		}
		if w.Name != "" && names[w.Name] {
			bad("window name %q is used twice", w.Name)
		}
		names[w.Name] = true
	}
	for i := range p.Exceptions {
		e := &p.Exceptions[i]
		where := fmt.Sprintf("exception %d", i+1)
		if e.Name != "" {
			where = fmt.Sprintf("exception %q", e.Name)
		}
		switch {
		case !e.From.valid():
			bad("%s: from %v is not a date", where, e.From)
		case !e.To.IsZero() && !e.To.valid():
			bad("%s: to %v is not a date", where, e.To)
		case e.last().Before(e.From):
			bad("%s: ends on %v before it starts on %v", where, e.last(), e.From)
		}
		if e.Awake == (len(e.Windows) > 0) {
			bad("%s: must either keep the server awake or give replacement windows, not both or neither", where)
		}
		for j := range e.Windows {
			if err := e.Windows[j].validate(fmt.Sprintf("%s window %d", where, j+1)); err != nil {
				errs = append(errs, err)
			}
		}
		for j := range i {
			o := &p.Exceptions[j]
			if !e.last().Before(o.From) && !o.last().Before(e.From) {
				bad("%s overlaps exception %d (%v to %v)", where, j+1, o.From, o.last())
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The windows must leave the server time awake: look at two weeks of the
	// regular plan and at every exception with a margin on both sides.
	check := func(from, to Date, regularOnly bool) {
		loc := p.Location
		a := time.Date(from.Year, from.Month, from.Day, 0, 0, 0, 0, loc)
		b := time.Date(to.Year, to.Month, to.Day, 0, 0, 0, 0, loc)
		for _, pe := range p.periods(a, b, regularOnly) {
			if pe.end.Sub(pe.start) >= maxPeriod {
				bad("windows leave no time awake from %s", pe.start.Format(time.DateTime+" MST"))
				return
			}
		}
	}
	ref := Date{2024, time.January, 1}
	check(ref, ref.AddDays(21), true)
	for i := range p.Exceptions {
		e := &p.Exceptions[i]
		check(e.From.AddDays(-9), e.last().AddDays(9), false)
	}
	return errors.Join(errs...)
}

func (w *Window) validate(where string) error {
	var errs []error
	if w.Name == "" {
		errs = append(errs, fmt.Errorf("scheduler: %s has no name", where))
	} else {
		where = fmt.Sprintf("window %q", w.Name)
	}
	if !w.Sleep.valid() {
		errs = append(errs, fmt.Errorf("scheduler: %s: sleep %v is not a time of day", where, w.Sleep))
	}
	if !w.Wake.valid() {
		errs = append(errs, fmt.Errorf("scheduler: %s: wake %v is not a time of day", where, w.Wake))
	}
	if w.Sleep == w.Wake {
		errs = append(errs, fmt.Errorf("scheduler: %s: sleep and wake are both %v", where, w.Sleep))
	}
	if w.Depth != DisksAsleep && w.Depth != SystemHalted {
		errs = append(errs, fmt.Errorf("scheduler: %s: depth must be disks or system, not %v", where, w.Depth))
	}
	return errors.Join(errs...)
}
