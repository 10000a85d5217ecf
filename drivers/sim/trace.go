package sim

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Signal is what one sensing input of a chip sees: the bus voltage at its
// VBUS pin and the current through its shunt. The emulated chips only ever
// ask for exact integrals over a time span, so an ADC result is the true mean
// of the signal over its averaging window, never a point sample.
type Signal interface {
	// Integrals returns ∫V dt (V·s), ∫I dt (A·s) and ∫V·I dt (J) over
	// [t0, t1). It returns zeros when t1 is not after t0.
	Integrals(t0, t1 time.Time) (v, i, vi float64)
}

// Trace is a piecewise-constant Signal: bus voltage and current hold their
// value from one step to the next, so every integral is exact. Before its
// first step a Trace reads 0 V and 0 A.
//
// A Trace may forget its past (Forget): the steps before a horizon are
// folded into a running base, so that memory stays bounded over a long run
// while integrals from the trace's origin (Cumulative) stay exact. Spans
// that start before the horizon can no longer be integrated: Integrals and
// At read NaN there.
//
// A Trace is not safe for concurrent use. Inside a World the world's lock
// guards the rails' traces; a test that drives chips directly sets all the
// steps it needs (future ones included) before the reads start.
type Trace struct {
	origin time.Time
	at     []int64 // ns since origin, strictly increasing
	v, i   []float64

	// from is the horizon (ns since origin, 0 until the first Forget): the
	// trace knows the signal from here on; base holds ∫V dt, ∫I dt and
	// ∫V·I dt over [origin, from). The steps before the one in force at
	// from are dead: Forget removes them once they are a quarter as many
	// as the live ones.
	from                 int64
	baseV, baseI, baseVI float64
}

// NewTrace returns a trace that reads v volts and i amperes from start on.
func NewTrace(start time.Time, v, i float64) *Trace {
	return &Trace{origin: start, at: []int64{0}, v: []float64{v}, i: []float64{i}}
}

// Set makes the trace read v volts and i amperes from at on. Steps are
// appended in time order: at must not be before the last step (a step at the
// same instant replaces it), nor before the horizon.
func (tr *Trace) Set(at time.Time, v, i float64) error {
	ns := int64(at.Sub(tr.origin))
	if ns < tr.at[len(tr.at)-1] {
		return fmt.Errorf("sim trace: step at %s is before the last step at %s",
			at.Format(time.RFC3339Nano), tr.origin.Add(time.Duration(tr.at[len(tr.at)-1])).Format(time.RFC3339Nano))
	}
	if ns < tr.from {
		return fmt.Errorf("sim trace: step at %s is before the trace's horizon %s (what came before is forgotten)",
			at.Format(time.RFC3339Nano), tr.Horizon().Format(time.RFC3339Nano))
	}
	tr.set(ns, v, i)
	return nil
}

// set appends a step at ns (since origin); ns must not be before the last
// one. A step before the horizon (which the world never sets: it forgets
// only what is older than its present) takes effect at the horizon.
func (tr *Trace) set(ns int64, v, i float64) {
	ns = max(ns, tr.from)
	n := len(tr.at) - 1
	if tr.v[n] == v && tr.i[n] == i {
		return
	}
	if tr.at[n] == ns {
		tr.v[n], tr.i[n] = v, i
		// Merging with the step before keeps the trace minimal.
		if n > 0 && tr.v[n-1] == v && tr.i[n-1] == i {
			tr.at, tr.v, tr.i = tr.at[:n], tr.v[:n], tr.i[:n]
		}
		return
	}
	tr.at = append(tr.at, ns)
	tr.v = append(tr.v, v)
	tr.i = append(tr.i, i)
}

// At returns the bus voltage and current at t; NaN before the horizon.
func (tr *Trace) At(t time.Time) (v, i float64) {
	ns := int64(t.Sub(tr.origin))
	if ns < 0 {
		return 0, 0
	}
	if ns < tr.from {
		return math.NaN(), math.NaN()
	}
	k := tr.index(ns)
	return tr.v[k], tr.i[k]
}

// index returns the step in force at ns >= 0.
func (tr *Trace) index(ns int64) int {
	return sort.Search(len(tr.at), func(k int) bool { return tr.at[k] > ns }) - 1
}

// Integrals implements Signal. A span that starts before the horizon reads
// NaN.
func (tr *Trace) Integrals(t0, t1 time.Time) (sv, si, svi float64) {
	a, b := int64(t0.Sub(tr.origin)), int64(t1.Sub(tr.origin))
	if b > a && b > 0 && tr.from > 0 && a < tr.from {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return tr.integrals(a, b)
}

// integrals works in ns since origin; a must not be before the horizon
// (or before the origin, which reads nothing).
func (tr *Trace) integrals(a, b int64) (sv, si, svi float64) {
	if a < 0 {
		a = 0 // nothing before the first step
	}
	if b <= a {
		return 0, 0, 0
	}
	for k := tr.index(a); k < len(tr.at) && tr.at[k] < b; k++ {
		lo, hi := a, b
		if tr.at[k] > lo {
			lo = tr.at[k]
		}
		if k+1 < len(tr.at) && tr.at[k+1] < hi {
			hi = tr.at[k+1]
		}
		dt := float64(hi-lo) / 1e9
		sv += tr.v[k] * dt
		si += tr.i[k] * dt
		svi += tr.v[k] * tr.i[k] * dt
	}
	return sv, si, svi
}

// Energy returns ∫V·I dt over [t0, t1) in joules; NaN for a span that
// starts before the horizon.
func (tr *Trace) Energy(t0, t1 time.Time) float64 {
	_, _, e := tr.Integrals(t0, t1)
	return e
}

// Cumulative returns ∫V dt, ∫I dt and ∫V·I dt over [origin, t): what was
// forgotten (the running base) plus the integral of the steps kept since.
// It reads NaN for t before the horizon, zeros for t before the origin.
func (tr *Trace) Cumulative(t time.Time) (sv, si, svi float64) {
	ns := int64(t.Sub(tr.origin))
	if ns <= 0 {
		return 0, 0, 0
	}
	if ns < tr.from {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sv, si, svi = tr.integrals(tr.from, ns)
	return tr.baseV + sv, tr.baseI + si, tr.baseVI + svi
}

// Horizon is the earliest instant the trace can still integrate from: its
// origin until it first forgets, then the last instant passed to Forget.
func (tr *Trace) Horizon() time.Time { return tr.origin.Add(time.Duration(tr.from)) }

// Forget folds the signal before t into the running base and drops the
// steps no longer needed: afterwards integrals may start at t or later
// (Integrals, Energy) or at the origin (Cumulative), and t is the horizon.
// A t before the horizon changes nothing; t may be after the last step
// (the trace keeps the step in force). Dropping is amortised O(1) per step:
// the kept steps move to the front of the same arrays once the dead ones
// are a quarter as many, so the arrays hold at most 1.25 times the steps of
// the remembered span (and append's spare capacity).
func (tr *Trace) Forget(t time.Time) {
	tr.forget(int64(t.Sub(tr.origin)))
}

func (tr *Trace) forget(ns int64) {
	if ns <= tr.from {
		return
	}
	sv, si, svi := tr.integrals(tr.from, ns)
	tr.baseV += sv
	tr.baseI += si
	tr.baseVI += svi
	tr.from = ns
	k := tr.index(ns) // the step in force at the horizon is kept
	if k > 0 && 4*k >= len(tr.at)-k {
		n := copy(tr.at, tr.at[k:])
		copy(tr.v, tr.v[k:])
		copy(tr.i, tr.i[k:])
		tr.at, tr.v, tr.i = tr.at[:n], tr.v[:n], tr.i[:n]
	}
}

// Means returns the mean voltage and current over [t0, t1); zeros for an
// empty span.
func Means(s Signal, t0, t1 time.Time) (v, i float64) {
	d := t1.Sub(t0).Seconds()
	if d <= 0 {
		return 0, 0
	}
	sv, si, _ := s.Integrals(t0, t1)
	return sv / d, si / d
}
