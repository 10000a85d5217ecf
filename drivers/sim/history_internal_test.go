package sim

import (
	"testing"
	"time"

	"github.com/veille/veille/internal/clock"
)

// TestTraceMemoryBounded: a trace that forgets after every step, the worst
// caller, keeps its arrays within a few times the steps of the remembered
// span however many steps pass, and reuses them (no allocation once warm).
func TestTraceMemoryBounded(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tr := NewTrace(start, 5, 0)
	const keep = 1000 // steps a second apart
	at := start
	step := func(k int) {
		at = at.Add(time.Second)
		tr.set(int64(at.Sub(start)), 5, float64(k%2))
		tr.Forget(at.Add(-keep * time.Second))
	}
	maxLen, maxCap := 0, 0
	for k := range 200 * keep {
		step(k)
		maxLen, maxCap = max(maxLen, len(tr.at)), max(maxCap, cap(tr.at))
		if len(tr.v) != len(tr.at) || len(tr.i) != len(tr.at) {
			t.Fatalf("step %d: lengths %d %d %d", k, len(tr.at), len(tr.v), len(tr.i))
		}
	}
	if maxLen > keep+keep/4+2 || maxCap > 2*keep+8 {
		t.Errorf("200 000 steps keeping %d: len up to %d, cap up to %d", keep, maxLen, maxCap)
	}
	k := 0
	if a := testing.AllocsPerRun(10*keep, func() { step(k); k++ }); a != 0 {
		t.Errorf("a step and a fold allocate %v times once warm", a)
	}
}

// TestWorldMemoryBounded: a world keeping an hour of history holds as many
// steps after ten simulated days as after two (a CPU burst every 10 s is
// 720 steps an hour on the Pi's rail), and it did fold.
func TestWorldMemoryBounded(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	o := DefaultOpts(fc.Now)
	o.After = fc.After
	o.History = time.Hour
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pi := w.railBy["pi"].trace
	start := fc.Now()
	capAt2 := 0
	for fc.Now().Sub(start) < 10*24*time.Hour {
		fc.Advance(5 * time.Minute)
		w.Now()
		if fc.Now().Sub(start) == 48*time.Hour {
			capAt2 = cap(pi.at)
		}
	}
	if pi.from == 0 {
		t.Fatal("the world never forgot anything")
	}
	t.Logf("the Pi's rail: %d steps, arrays of %d (%d after 2 days), horizon %s", len(pi.at), cap(pi.at), capAt2, pi.Horizon())
	if n := len(pi.at); n > 4*720 {
		t.Errorf("the Pi's rail holds %d steps after 10 days with an hour of history", n)
	}
	if c := cap(pi.at); c > capAt2 {
		t.Errorf("the Pi's rail arrays grew from %d after 2 days to %d after 10", capAt2, c)
	}
}
