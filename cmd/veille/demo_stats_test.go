package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// TestStatsRunningTotals: the --stats exact figures come from running totals
// that need no more of the world's past than its history: the energy while
// up (cumulative energy less the start and the nights off) and a night off
// longer than the history (from the cumulative energy recorded as the Pi
// halted) match a world that forgets nothing.
func TestStatsRunningTotals(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 21, 0, 0, 0, time.UTC)
	fcS, fcF := clock.NewFake(t0), clock.NewFake(t0)
	mk := func(fc *clock.Fake, h time.Duration) *sim.World {
		o := sim.DefaultOpts(fc.Now)
		o.After = fc.After
		o.History = h
		w, err := sim.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	short, full := mk(fcS, time.Hour), mk(fcF, 0)
	advance := func(d time.Duration) {
		for end := fcS.Now().Add(d); fcS.Now().Before(end); {
			fcS.Advance(time.Minute)
			fcF.Advance(time.Minute)
			short.Now()
			full.Now()
		}
	}
	rails := []string{"pi", "sda"}
	s := &statsWriter{w: short, up: map[string]*upEnergy{}}
	for _, r := range rails {
		s.up[r] = &upEnergy{}
	}
	advance(2 * time.Hour)
	start := fcS.Now()
	for _, r := range rails {
		var err error
		if s.up[r].atStart, err = short.CumulativeEnergy(r, start); err != nil {
			t.Fatal(err)
		}
	}
	advance(time.Hour)
	off := [2]time.Time{fcS.Now(), {}}
	s.halted(off[0])
	advance(5 * time.Hour) // five times the history
	off[1] = fcS.Now()
	advance(30 * time.Minute)
	upTo := fcS.Now().Add(-10 * time.Second)

	if _, err := short.ExactEnergy("pi", off[0], off[1]); err == nil {
		t.Fatal("the world still remembers the start of the night: the test checks nothing")
	}
	for _, r := range rails {
		e, err := s.offEnergy(r, off)
		if err != nil {
			t.Fatalf("%s off: %v", r, err)
		}
		want, err := full.ExactEnergy(r, off[0], off[1])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e-want) > 1e-9*math.Abs(want) || want <= 0 {
			t.Errorf("%s off %s–%s: %v J, the world that forgets nothing %v J", r, off[0], off[1], e, want)
		}
		s.up[r].off += e
		got, err := s.up[r].wh(short, r, upTo)
		if err != nil {
			t.Fatal(err)
		}
		all, _ := full.ExactEnergy(r, start, upTo)
		if w := (all - want) / 3600; math.Abs(got-w) > 1e-9*w {
			t.Errorf("%s up from %s to %s: %v Wh, the world that forgets nothing %v Wh", r, start, upTo, got, w)
		}
	}
	s.forgetHalts(off[0])
	if len(s.halts) != 0 {
		t.Errorf("%d halt marks kept after the night was subtracted", len(s.halts))
	}
	// Without the mark, the night is beyond the world's memory: an error
	// that says so.
	if _, err := s.offEnergy("pi", off); err == nil || !strings.Contains(err.Error(), "horizon") {
		t.Errorf("a night off beyond the history without its mark: %v", err)
	}
}
