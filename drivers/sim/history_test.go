package sim_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// twinSteps feeds the same pseudo-random steps (every 1-20 s, a new voltage
// and current, now and then the same value twice) to a trace that forgets
// and one that keeps everything, calling check after each step.
func twinSteps(t *testing.T, n int, keep time.Duration, check func(now time.Time, short, full *sim.Trace)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	short, full := sim.NewTrace(t0, 5, 0.4), sim.NewTrace(t0, 5, 0.4)
	now := t0
	for k := 0; k < n; k++ {
		now = now.Add(time.Duration(1+rng.IntN(20000)) * time.Millisecond)
		v, i := 4.8+0.4*rng.Float64(), 2*rng.Float64()
		if rng.IntN(10) == 0 {
			v, i = 5, 0.4
		}
		for _, tr := range []*sim.Trace{short, full} {
			if err := tr.Set(now, v, i); err != nil {
				t.Fatal(err)
			}
		}
		short.Forget(now.Add(-keep))
		check(now, short, full)
	}
}

// TestTraceForgetMatchesTwin: integrals inside the horizon are those of a
// trace that forgets nothing, bit for bit (the same steps are summed), across
// and after every fold; the cumulative integral from the origin matches the
// full trace's to rounding; spans that start before the horizon read NaN.
func TestTraceForgetMatchesTwin(t *testing.T) {
	keep := 10 * time.Minute
	rng := rand.New(rand.NewPCG(3, 5))
	checks := 0
	twinSteps(t, 20000, keep, func(now time.Time, short, full *sim.Trace) {
		h := short.Horizon()
		if now.Sub(t0) > keep && !h.Equal(now.Add(-keep)) {
			t.Fatalf("at %s the horizon is %s, want %s", now, h, now.Add(-keep))
		}
		// Spans inside the horizon, some starting exactly at it (where the
		// last fold cut a step in two), some ending after the last step.
		spans := [][2]time.Time{
			{h, now},
			{h, h.Add(time.Millisecond)},
			{h, now.Add(time.Minute)},
		}
		for range 3 {
			a := h.Add(time.Duration(rng.Int64N(int64(now.Sub(h)) + 1)))
			b := a.Add(time.Duration(rng.Int64N(int64(keep))))
			spans = append(spans, [2]time.Time{a, b})
		}
		for _, s := range spans {
			sv, si, svi := short.Integrals(s[0], s[1])
			fv, fi, fvi := full.Integrals(s[0], s[1])
			if sv != fv || si != fi || svi != fvi {
				t.Fatalf("at %s, over [%s, %s): forgetting trace %v %v %v, full trace %v %v %v",
					now, s[0], s[1], sv, si, svi, fv, fi, fvi)
			}
			if a, b := short.At(s[0]); [2]float64{a, b} != func() [2]float64 { v, i := full.At(s[0]); return [2]float64{v, i} }() {
				t.Fatalf("At(%s) = %v %v differs from the full trace's", s[0], a, b)
			}
			checks++
		}
		for _, at := range []time.Time{now, h, now.Add(-time.Duration(rng.Int64N(int64(now.Sub(h)) + 1)))} {
			cv, ci, cvi := short.Cumulative(at)
			fv, fi, fvi := full.Integrals(t0, at)
			if !near(cv, fv, 1e-12) || !near(ci, fi, 1e-12) || !near(cvi, fvi, 1e-12) {
				t.Fatalf("Cumulative(%s) = %v %v %v, the full trace integrates %v %v %v", at, cv, ci, cvi, fv, fi, fvi)
			}
		}
		if h.After(t0) {
			if _, _, e := short.Integrals(h.Add(-time.Nanosecond), now); !math.IsNaN(e) {
				t.Fatalf("a span from before the horizon %s reads %v, not NaN", h, e)
			}
			if v, _ := short.At(h.Add(-time.Second)); !math.IsNaN(v) {
				t.Fatalf("At before the horizon reads %v, not NaN", v)
			}
			if _, _, e := short.Cumulative(h.Add(-time.Second)); !math.IsNaN(e) {
				t.Fatalf("Cumulative before the horizon reads %v, not NaN", e)
			}
		}
	})
	if checks == 0 {
		t.Fatal("nothing checked")
	}
}

func TestTraceForgetEdges(t *testing.T) {
	tr := sim.NewTrace(t0, 5, 1)
	tr.Forget(t0.Add(-time.Hour)) // before the origin: nothing to forget
	if !tr.Horizon().Equal(t0) {
		t.Fatalf("horizon %s after forgetting before the origin", tr.Horizon())
	}
	if _, _, e := tr.Integrals(t0.Add(-time.Minute), t0.Add(time.Minute)); e != 5*60 {
		t.Fatalf("before the origin a trace reads zero until it forgets: got %v J, want 300", e)
	}
	// Past the last step: the step in force is kept.
	tr.Forget(t0.Add(time.Hour))
	if v, i := tr.At(t0.Add(2 * time.Hour)); v != 5 || i != 1 {
		t.Fatalf("after forgetting past the last step: %v V %v A", v, i)
	}
	if _, _, e := tr.Cumulative(t0.Add(2 * time.Hour)); e != 5*7200 {
		t.Fatalf("Cumulative over two hours: %v J, want 36000", e)
	}
	// Forgetting backwards changes nothing.
	tr.Forget(t0.Add(time.Minute))
	if !tr.Horizon().Equal(t0.Add(time.Hour)) {
		t.Fatalf("the horizon went back to %s", tr.Horizon())
	}
	err := tr.Set(t0.Add(30*time.Minute), 5, 2)
	if err == nil || !strings.Contains(err.Error(), "horizon") {
		t.Fatalf("a step before the horizon: %v", err)
	}
	if _, _, e := tr.Integrals(t0.Add(-2*time.Hour), t0.Add(-time.Hour)); e != 0 {
		t.Fatalf("a span before the origin reads %v, want 0", e)
	}
	if _, _, e := tr.Cumulative(t0.Add(-time.Hour)); e != 0 {
		t.Fatalf("Cumulative before the origin reads %v, want 0", e)
	}
}

// TestWorldHistory runs two identical worlds for 30 simulated hours, one
// keeping 6 hours of history: what ExactEnergy answers inside the horizon,
// CumulativeEnergy since the start and the registers of chips read rarely
// (an INA226 triggered once, an INA228's ENERGY accumulator) are those of
// the world that forgets nothing; spans before the horizon are errors that
// name the rail, the time and the horizon.
func TestWorldHistory(t *testing.T) {
	const history = 6 * time.Hour
	fcS, fcF := clock.NewFake(t0), clock.NewFake(t0)
	mk := func(fc *clock.Fake, h time.Duration) *sim.World {
		o := sim.DefaultOpts(fc.Now)
		o.After = fc.After
		o.History = h
		w, err := sim.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close() })
		return w
	}
	short, full := mk(fcS, history), mk(fcF, 0)
	worlds := []*sim.World{short, full}
	advance := func(d time.Duration) {
		fcS.Advance(d)
		fcF.Advance(d)
		for _, w := range worlds {
			w.Now()
		}
	}
	both := func(f func(w *sim.World) uint64) (s, f2 uint64) { return f(short), f(full) }

	// The INA226 on sda's rail (0x41): triggered once, 1024 × (8.244 +
	// 8.244) ms = 16.9 s, then left alone for a day.
	const cfg226 = 7<<9 | 7<<6 | 7<<3 | 3
	for _, w := range worlds {
		wr16(t, w.Bus(), 0x41, 0x00, cfg226)
		wr16(t, w.Bus(), 0x41, 0x05, 2048)
	}
	trig := fcS.Now()
	e0s, e0f := both(func(w *sim.World) uint64 { return rd(t, w.Bus(), 0x40, 0x09, 5) })

	for fcS.Now().Sub(t0) < 30*time.Hour {
		advance(10 * time.Minute)
	}
	now := fcS.Now()

	// The triggered chip's window and its accumulator are still read right.
	for _, reg := range []byte{0x01, 0x02, 0x03, 0x04} {
		s, f := both(func(w *sim.World) uint64 { return uint64(rd16(t, w.Bus(), 0x41, reg)) })
		if s != f {
			t.Errorf("INA226 register 0x%02x a day after its trigger: %#x, the full world's %#x", reg, s, f)
		}
	}
	for _, w := range worlds {
		wr16(t, w.Bus(), 0x41, 0x05, 1024) // a calibration write recomputes the window
	}
	if s, f := both(func(w *sim.World) uint64 { return uint64(rd16(t, w.Bus(), 0x41, 0x04)) }); s != f || s == 0 {
		t.Errorf("INA226 current after a new calibration: %#x, the full world's %#x", s, f)
	}
	e1s, e1f := both(func(w *sim.World) uint64 { return rd(t, w.Bus(), 0x40, 0x09, 5) })
	// Bringing the accumulator up to date at each fold splits the same sum:
	// at most a count apart.
	if ds, df := int64(e1s-e0s), int64(e1f-e0f); ds < df-1 || ds > df+1 || df <= 0 {
		t.Errorf("INA228 ENERGY over 30 h: %d counts, the full world's %d", ds, df)
	}

	for _, rail := range []string{"pi", "sda", "sdb"} {
		h, err := short.Horizon(rail)
		if err != nil {
			t.Fatal(err)
		}
		if rail == "sda" {
			// The triggered INA226 keeps its rail's history since its trigger.
			if h.After(trig) {
				t.Errorf("sda's horizon %s is after the INA226's trigger at %s", h, trig)
			}
		} else if h.After(now.Add(-history)) || h.Before(now.Add(-history-history/8-10*time.Minute)) {
			t.Errorf("%s's horizon %s, want between History and History + a fold (%s) before %s", rail, h, history/8, now)
		}
		for _, span := range [][2]time.Time{{h, now}, {now.Add(-history), now}, {now.Add(-time.Hour), now.Add(-time.Minute)}} {
			es, err := short.ExactEnergy(rail, span[0], span[1])
			if err != nil {
				t.Fatalf("%s over [%s, %s): %v", rail, span[0], span[1], err)
			}
			ef, err := full.ExactEnergy(rail, span[0], span[1])
			if err != nil {
				t.Fatal(err)
			}
			if es != ef {
				t.Errorf("%s over [%s, %s): %v J, the full world's %v J", rail, span[0], span[1], es, ef)
			}
		}
		for _, at := range []time.Time{now, h, now.Add(-time.Hour)} {
			cs, err := short.CumulativeEnergy(rail, at)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := full.ExactEnergy(rail, t0, at)
			if err != nil {
				t.Fatal(err)
			}
			if !near(cs, cf, 1e-12) || (cs <= 0) != !at.After(t0) {
				t.Errorf("%s cumulative to %s: %v J, the full world's %v J", rail, at, cs, cf)
			}
		}
		if rail == "sda" {
			continue
		}
		before := h.Add(-time.Second)
		_, err = short.ExactEnergy(rail, before, now)
		if err == nil {
			t.Fatalf("%s: a span from %s (before the horizon %s) is not refused", rail, before, h)
		}
		for _, want := range []string{rail, "horizon", h.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), history.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error %q does not say %q", err, want)
			}
		}
		if _, _, err := short.RailAt(rail, before); err == nil || !strings.Contains(err.Error(), "horizon") {
			t.Errorf("%s at %s, before the horizon: %v", rail, before, err)
		}
		if _, err := short.CumulativeEnergy(rail, before); err == nil {
			t.Errorf("%s cumulative to %s, before the horizon: no error", rail, before)
		}
		if _, err := full.ExactEnergy(rail, before, now); err != nil {
			t.Errorf("the world without History refuses %s: %v", rail, err)
		}
	}
	if _, err := short.CumulativeEnergy("nope", now); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("an unknown rail: %v", err)
	}
	if c, err := short.CumulativeEnergy("pi", t0.Add(-time.Hour)); err != nil || c != 0 {
		t.Errorf("cumulative energy before the start: %v, %v", c, err)
	}
}

func TestWorldHistoryNegative(t *testing.T) {
	fc := clock.NewFake(t0)
	o := sim.DefaultOpts(fc.Now)
	o.History = -time.Hour
	if w, err := sim.New(o); err == nil {
		w.Close()
		t.Fatal("a negative History is accepted")
	}
}
