package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// wallTime returns the instant at which the wall clock of loc reads tod on
// date d. A reading skipped by a forward change (the spring-forward gap)
// resolves to the change itself, the first instant after the gap; a reading
// that happens twice (fall back) resolves to its first occurrence. So every
// window starts and ends exactly once per day it is scheduled.
func wallTime(d Date, tod TimeOfDay, loc *time.Location) time.Time {
	naive := time.Date(d.Year, d.Month, d.Day, tod.Hour, tod.Minute, 0, 0, time.UTC)
	// UTC offsets lie within ±16h: collect every offset, and every change of
	// offset, that loc uses around naive.
	lo, hi := naive.Add(-17*time.Hour), naive.Add(17*time.Hour)
	type change struct {
		at            time.Time
		before, after int
	}
	var offsets []int
	var changes []change
	t := lo.In(loc)
	for range 64 {
		_, off := t.Zone()
		offsets = append(offsets, off)
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(hi) || !end.After(t) {
			break
		}
		_, next := end.In(loc).Zone()
		changes = append(changes, change{end, off, next})
		t = end.In(loc)
	}
	var first time.Time
	for _, off := range offsets {
		c := naive.Add(-time.Duration(off) * time.Second).In(loc)
		if sameWall(c, naive) && (first.IsZero() || c.Before(first)) {
			first = c
		}
	}
	if !first.IsZero() {
		return first
	}
	for _, c := range changes {
		gapStart := c.at.Add(time.Duration(c.before) * time.Second)
		gapEnd := c.at.Add(time.Duration(c.after) * time.Second)
		if !naive.Before(gapStart) && naive.Before(gapEnd) {
			return c.at.In(loc)
		}
	}
	return time.Date(d.Year, d.Month, d.Day, tod.Hour, tod.Minute, 0, 0, loc)
}

func sameWall(t, naive time.Time) bool {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Equal(naive)
}

// occurrence is one window on one date.
type occurrence struct {
	start, end time.Time
	depth      Depth
	window     string
	exception  string
}

// windowsOn returns the windows that start on d and the exception that
// chose them, if any.
func (p *Policy) windowsOn(d Date, regularOnly bool) ([]Window, *Exception) {
	if !regularOnly {
		for i := range p.Exceptions {
			if e := &p.Exceptions[i]; e.covers(d) {
				return e.Windows, e
			}
		}
	}
	return p.Windows, nil
}

func (p *Policy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// occurrences appends the windows that start on d.
func (p *Policy) occurrences(occ []occurrence, d Date, regularOnly bool) []occurrence {
	loc := p.location()
	ws, exc := p.windowsOn(d, regularOnly)
	for _, w := range ws {
		if !w.Days.Has(d.Weekday()) || !w.Sleep.valid() || !w.Wake.valid() || w.Sleep == w.Wake || !w.Depth.valid() || w.Depth == Awake {
			continue
		}
		end := d
		if w.Wake.minutes() < w.Sleep.minutes() {
			end = d.AddDays(1)
		}
		o := occurrence{
			start:  wallTime(d, w.Sleep, loc),
			end:    wallTime(end, w.Wake, loc),
			depth:  w.Depth,
			window: w.Name,
		}
		if exc != nil {
			o.exception = exc.Name
		}
		// A window that lies wholly inside a spring-forward gap has no
		// length that day.
		if o.end.After(o.start) {
			occ = append(occ, o)
		}
	}
	return occ
}

// period is a continuous sleep: windows that overlap or touch merge into
// one. Inside it the depth only increases (the deepest window started so far
// wins) and it ends at the latest end of its windows.
type period struct {
	start, end time.Time
	steps      []step // steps[0].at == start, depths strictly increasing
	endWindow  string // the window whose end ends the period
}

type step struct {
	at        time.Time
	depth     Depth
	window    string
	exception string
}

// stepAt returns the step in force at t, which must lie in the period.
func (pe *period) stepAt(t time.Time) step {
	s := pe.steps[0]
	for _, x := range pe.steps[1:] {
		if x.at.After(t) {
			break
		}
		s = x
	}
	return s
}

func (pe *period) contains(t time.Time) bool { return !t.Before(pe.start) && t.Before(pe.end) }

// periods returns, in order, the sleep periods that end after from and start
// before to.
func (p *Policy) periods(from, to time.Time, regularOnly bool) []period {
	loc := p.location()
	// Scan far enough on both sides that every period meeting [from, to)
	// is whole.
	d0 := DateOf(from.In(loc)).AddDays(-scanBackDays)
	d1 := DateOf(to.In(loc)).AddDays(scanBackDays)
	var occ []occurrence
	for d := d0; !d1.Before(d); d = d.AddDays(1) {
		occ = p.occurrences(occ, d, regularOnly)
	}
	slices.SortStableFunc(occ, func(a, b occurrence) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(b.depth, a.depth) // deeper first
	})
	var out []period
	var cur *period
	for _, o := range occ {
		if cur != nil && !o.start.After(cur.end) && cur.end.Sub(cur.start) < maxPeriod {
			if o.end.After(cur.end) {
				cur.end, cur.endWindow = o.end, o.window
			}
			if last := cur.steps[len(cur.steps)-1]; o.depth > last.depth {
				cur.steps = append(cur.steps, step{o.start, o.depth, o.window, o.exception})
			}
			continue
		}
		if cur != nil && !o.start.After(cur.end) {
			// Only an invalid policy chains windows past maxPeriod: cut
			// here so the loop stays bounded and periods stay disjoint.
			o.start = cur.end
			if !o.end.After(o.start) {
				continue
			}
		}
		out = append(out, period{
			start: o.start, end: o.end, endWindow: o.window,
			steps: []step{{o.start, o.depth, o.window, o.exception}},
		})
		cur = &out[len(out)-1]
	}
	// Keep the periods that intersect [from, to).
	i := 0
	for _, pe := range out {
		if pe.end.After(from) && pe.start.Before(to) {
			out[i] = pe
			i++
		}
	}
	return out[:i]
}

// periodsUntilNext returns the periods that end after from, up to and
// including the first one that starts after after (searching up to a year
// and a month ahead, since exceptions can keep the server awake for weeks).
func (p *Policy) periodsUntilNext(from, after time.Time) []period {
	limit := from.Add(400 * 24 * time.Hour)
	if after.After(limit) {
		after = limit
	}
	to := after.Add(8 * 24 * time.Hour)
	for {
		ps := p.periods(from, to, false)
		if n := len(ps); n > 0 && ps[n-1].start.After(after) || !to.Before(limit) {
			return ps
		}
		to = to.Add(31 * 24 * time.Hour)
	}
}

// Preview returns the next n transitions of p strictly after from, ignoring
// activity, holds and timers: what the plan alone would do. It returns nil if
// p is not valid. Preview ignores Enabled, so a disabled plan can be shown.
func Preview(p *Policy, from time.Time, n int) []Transition {
	if n <= 0 || p == nil || p.Validate() != nil {
		return nil
	}
	from = from.Round(0)
	loc := p.location()
	var out []Transition
	limit := from.Add(400 * 24 * time.Hour)
	cursor := from
	for len(out) < n && cursor.Before(limit) {
		ps := p.periodsUntilNext(cursor, cursor)
		if len(ps) == 0 {
			break
		}
		for _, pe := range ps {
			for _, s := range pe.steps {
				if s.at.After(cursor) {
					out = append(out, Transition{At: s.at.In(loc), State: s.depth, Window: s.window, Reason: stepReason(&pe, s, s.at)})
				}
			}
			if pe.end.After(cursor) {
				out = append(out, Transition{At: pe.end.In(loc), State: Awake, Window: pe.endWindow, Reason: fmt.Sprintf("window %s ends", pe.endWindow)})
			}
			cursor = pe.end
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// stepReason describes the sleep a step starts, as seen at now.
func stepReason(pe *period, s step, now time.Time) string {
	name := "window " + s.window
	if s.exception != "" {
		name += " (exception " + s.exception + ")"
	}
	switch s.depth {
	case SystemHalted:
		return fmt.Sprintf("%s: system halt until %s", name, clock(pe.end, now))
	default:
		return fmt.Sprintf("%s: disks asleep until %s", name, clock(pe.end, now))
	}
}

// clock formats t for a reason read at now: "07:00" on the same day,
// "Tue 07:00" within a week, the full date further away. Times that a fall
// back makes ambiguous carry the zone abbreviation.
func clock(t, now time.Time) string {
	t = t.In(now.Location())
	s := t.Format("15:04")
	if _, off := t.Add(-time.Hour).Zone(); off != offsetOf(t) {
		s += t.Format(" MST")
	} else if _, off := t.Add(time.Hour).Zone(); off != offsetOf(t) {
		s += t.Format(" MST")
	}
	switch d := DateOf(t); {
	case d == DateOf(now):
		return s
	case t.Sub(now) < 6*24*time.Hour && now.Sub(t) < 6*24*time.Hour:
		return t.Format("Mon ") + s
	default:
		return d.String() + " " + s
	}
}

func offsetOf(t time.Time) int {
	_, off := t.Zone()
	return off
}
