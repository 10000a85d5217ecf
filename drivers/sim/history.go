package sim

import (
	"fmt"
	"time"
)

// The world's memory of its load model (Opts.History). Every rail keeps its
// steps in a Trace; with a History the world folds the steps older than
// History into each trace's running base, in batches of History/8 of
// simulated time, so a month-long run holds a few days of steps instead of
// all of them (a CPU burst every 10 s is two steps).
//
// What reads the past:
//   - ExactEnergy(t0, t1) and RailAt(t): callers' spans, refused with an
//     error before the rail's horizon; CumulativeEnergy(t) from the base.
//   - RailPower: the present.
//   - The emulated chips, through Signal.Integrals: an ADC result is the
//     mean over the last completed averaging window (a continuous chip's is
//     at most one period old, but a triggered chip's one window starts at
//     its trigger and a calibration write recomputes it), and the INA228's
//     ENERGY and CHARGE integrate everything since the last time they were
//     brought up to date. Before each fold the world brings the INA228
//     accumulators up to the present (they add up completed conversions, so
//     doing it earlier changes nothing but float rounding) and asks every
//     chip the earliest instant it may still read (settle); a rail never
//     forgets past what a chip on it may still ask. A chip left in
//     triggered mode and never triggered again keeps its rails' history
//     from its trigger on.

// settler is a chip that reads its rails' past: settle brings what it can
// up to now and returns the earliest instant it may still ask its signals
// about.
type settler interface {
	settle(now time.Time) time.Time
}

var (
	_ settler = (*INA219)(nil)
	_ settler = (*INA226)(nil)
	_ settler = (*INA260)(nil)
	_ settler = (*INA3221)(nil)
	_ settler = (*INA228)(nil)
)

// forget folds every rail's steps older than the horizon (History before
// the present, or what a chip on the rail still needs) into its base, once
// the present has moved History/8 past the last fold.
func (w *World) forget() {
	if w.history <= 0 || w.closed {
		return
	}
	cut := w.t.Add(-w.history)
	if cut.Sub(w.forgot) < w.history/8 {
		return
	}
	w.forgot = cut
	need := map[*rail]time.Time{}
	for _, s := range w.sensors {
		c, ok := s.dev.(settler)
		if !ok || !(s.o.ExternalSupply || w.board.state != BoardHalted) {
			// Unpowered chips read nothing until the boot powers them on
			// again, which restarts their conversions.
			continue
		}
		t := c.settle(w.t)
		for _, name := range s.rails() {
			if r := w.railBy[name]; r != nil {
				if n, ok := need[r]; !ok || t.Before(n) {
					need[r] = t
				}
			}
		}
	}
	for _, r := range w.rails {
		to := cut
		if n, ok := need[r]; ok && n.Before(to) {
			to = n
		}
		r.trace.Forget(to)
	}
}

// rails names the rails a sensor's chip sees.
func (s *sensor) rails() []string {
	if s.o.Rail != "" {
		return []string{s.o.Rail}
	}
	var out []string
	for _, c := range s.o.Channels {
		if c.Rail != "" {
			out = append(out, c.Rail)
		}
	}
	return out
}

// horizon is the earliest time the world can answer for on r.
func (w *World) horizon(r *rail) time.Time { return r.trace.Horizon() }

// remembers returns an error naming the rail, the time and the horizon when
// t is before what the world still knows of r.
func (w *World) remembers(r *rail, what string, t time.Time) error {
	if r.trace.from == 0 || !t.Before(w.horizon(r)) {
		return nil
	}
	return fmt.Errorf("sim: %s on %s at %s: before the rail's horizon %s (the world keeps %s of history, Opts.History; CumulativeEnergy covers what it forgot)",
		what, r.o.Name, t.Format(time.RFC3339Nano), w.horizon(r).Format(time.RFC3339Nano), w.history)
}

// need returns the earliest instant a chip whose conversions q runs may
// still read, at now: the start of a continuous chip's last completed
// window (a calibration write recomputes it), a triggered chip's trigger
// (its one window), nothing for a chip powered down (it holds its result;
// a restart starts after now).
func (q *sequencer) need(now time.Time) time.Time {
	switch q.mode {
	case seqContinuous:
		if s, _, ok := q.window(now); ok {
			return s
		}
		return minTime(q.t0, now)
	case seqTriggered:
		return minTime(q.t0, now)
	}
	return now
}

func (c *ina22x) settle(now time.Time) time.Time  { return c.seq.need(now) }
func (c *INA219) settle(now time.Time) time.Time  { return c.seq.need(now) }
func (c *INA3221) settle(now time.Time) time.Time { return c.seq.need(now) }

// settle brings ENERGY and CHARGE up to the last completed conversion: the
// chip adds conversions up as they complete, and every write that changes
// what they count (configuration, calibration) brings them up to date
// first, so an earlier call only splits the same sum.
func (c *INA228) settle(now time.Time) time.Time {
	c.accumulate(now)
	t := c.seq.need(now)
	if _, bus, shunt, _ := c.modeBits(); bus && shunt && c.seq.mode != seqOff {
		t = minTime(t, maxTime(c.accFrom, c.seq.t0))
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
