package energy

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestLedgerIntegratesAverages(t *testing.T) {
	l := NewLedger([]string{"pi"}, time.UTC, time.Minute)
	for i := 0; i <= 360; i++ { // one hour of 10 s readings at 3 W
		l.Add(0, t0.Add(time.Duration(i)*10*time.Second), Reading{Power: 3 * physic.Watt}, true)
	}
	if got := Wh(l.Channels[0].Total); math.Abs(got-3) > 1e-9 {
		t.Errorf("energy = %v Wh, want 3", got)
	}
}

func TestLedgerGapIsUnmeasured(t *testing.T) {
	l := NewLedger([]string{"pi"}, time.UTC, 15*time.Second)
	l.Add(0, t0, Reading{Power: physic.Watt}, true)
	l.Add(0, t0.Add(time.Hour), Reading{Power: physic.Watt}, true)
	if got := l.Channels[0].Total; got != 15e6 {
		t.Errorf("total = %d µJ, want 15 J (one max gap)", got)
	}
	if u := l.Channels[0].Unmeasured; u != time.Hour-15*time.Second {
		t.Errorf("unmeasured = %v", u)
	}
	l.Add(0, t0.Add(time.Hour+10*time.Second), Reading{}, false)
	if u := l.Channels[0].Unmeasured; u != time.Hour-5*time.Second {
		t.Errorf("unmeasured after failed read = %v", u)
	}
}

func TestLedgerAccumulator(t *testing.T) {
	l := NewLedger([]string{"ina228"}, time.UTC, time.Minute)
	l.Add(0, t0, Reading{Accumulated: 100 * physic.Joule, HasAccumulator: true}, true)
	l.Add(0, t0.Add(10*time.Second), Reading{Accumulated: 130 * physic.Joule, HasAccumulator: true, Power: 999 * physic.Watt}, true)
	l.Add(0, t0.Add(20*time.Second), Reading{Accumulated: 5 * physic.Joule, HasAccumulator: true}, true) // reset
	if got := l.Channels[0].Total; got != 35e6 {
		t.Errorf("total = %d µJ, want 35 J from the accumulator", got)
	}
}

func TestNegativePowerNeverDecreases(t *testing.T) {
	l := NewLedger([]string{"x"}, time.UTC, time.Minute)
	l.Add(0, t0, Reading{Power: physic.Watt}, true)
	l.Add(0, t0.Add(10*time.Second), Reading{Power: physic.Watt}, true)
	before := l.Channels[0].Total
	l.Add(0, t0.Add(20*time.Second), Reading{Power: -5 * physic.Watt}, true)
	if l.Channels[0].Total < before {
		t.Fatal("counter decreased")
	}
}

func TestTodayRollsAtLocalMidnight(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	l := NewLedger([]string{"x"}, paris, time.Hour)
	start := time.Date(2026, 11, 26, 23, 0, 0, 0, paris)
	l.Add(0, start, Reading{Power: physic.Watt}, true)
	l.Add(0, start.Add(30*time.Minute), Reading{Power: physic.Watt}, true)
	l.Add(0, start.Add(90*time.Minute), Reading{Power: physic.Watt}, true)
	if got := l.Channels[0].Today; got != 3600e6 {
		t.Errorf("today = %d µJ, want the hour after midnight only", got)
	}
	if got := l.Channels[0].Total; got != 5400e6 {
		t.Errorf("total = %d", got)
	}
}

func TestKeeperNeverBackwardsAfterCrash(t *testing.T) {
	dir := t.TempDir()
	names := []string{"pi", "disk"}
	k, err := Open(&Store{Dir: dir}, names, time.UTC, time.Minute, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var published, today [2]uint64
	for i := 0; i < 500; i++ {
		now = now.Add(10 * time.Second)
		k.Ledger.Add(0, now, Reading{Power: 3 * physic.Watt}, true)
		k.Ledger.Add(1, now, Reading{Power: 20 * physic.Watt}, true)
		if err := k.Maybe(now); err != nil {
			t.Fatal(err)
		}
		for c := range published {
			p := k.Published(c)
			if p < published[c] {
				t.Fatalf("published counter went backwards")
			}
			published[c] = p
			d := k.PublishedToday(c)
			if d < today[c] {
				t.Fatalf("published energy of the day went backwards")
			}
			today[c] = d
		}
	}
	// Crash: no Close. A new keeper must resume at or above what was published.
	k2, err := Open(&Store{Dir: dir}, names, time.UTC, time.Minute, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for c := range published {
		if k2.Published(c) < published[c] {
			t.Errorf("channel %d resumed at %d < published %d", c, k2.Published(c), published[c])
		}
		if k2.PublishedToday(c) < today[c] {
			t.Errorf("channel %d: the day's energy resumed at %d < published %d", c, k2.PublishedToday(c), today[c])
		}
	}
	// A clean stop resumes exactly, even right after a checkpoint reserved.
	k2.Ledger.Add(0, now, Reading{Power: 3 * physic.Watt}, true)
	if err := k2.Maybe(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	exact := k2.Ledger.Channels[0].Total
	if err := k2.Close(now); err != nil {
		t.Fatal(err)
	}
	k3, _ := Open(&Store{Dir: dir}, names, time.UTC, time.Minute, 15*time.Minute)
	if k3.Ledger.Channels[0].Total != exact {
		t.Errorf("clean restart: %d, want %d", k3.Ledger.Channels[0].Total, exact)
	}
}

func TestStoreFallsBackToPrevious(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	if err := s.Save(State{Version: 1, Epoch: "e1", Channels: map[string]uint64{"pi": 10}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(State{Version: 1, Epoch: "e1", Channels: map[string]uint64{"pi": 20}}); err != nil {
		t.Fatal(err)
	}
	// Tear the current file.
	p := filepath.Join(dir, fileName)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
	st, err := s.Load()
	if err == nil {
		t.Error("a torn file should be reported")
	}
	if st.Channels["pi"] != 10 || st.Epoch != "e1" {
		t.Errorf("fell back to %+v, want the previous generation", st)
	}
	// Both gone: new epoch, from zero, said loudly.
	os.WriteFile(filepath.Join(dir, fileName+".prev"), []byte("{}"), 0o644)
	st, err = s.Load()
	if err == nil || st.Epoch == "e1" || st.Channels["pi"] != 0 {
		t.Errorf("st=%+v err=%v", st, err)
	}
}

func TestKeeperENOSPCFreezesPublished(t *testing.T) {
	dir := t.TempDir()
	full := false
	store := &Store{Dir: dir, WriteFile: func(name string, data []byte) error {
		if full {
			return syscall.ENOSPC
		}
		return writeSynced(name, data)
	}}
	k, _ := Open(store, []string{"pi"}, time.UTC, time.Minute, time.Minute)
	now := t0
	k.Ledger.Add(0, now, Reading{Power: 100 * physic.Watt}, true)
	k.Maybe(now)
	full = true
	for i := 0; i < 200; i++ {
		now = now.Add(10 * time.Second)
		k.Ledger.Add(0, now, Reading{Power: 100 * physic.Watt}, true)
		k.Maybe(now)
	}
	if !errors.Is(k.Err(), syscall.ENOSPC) {
		t.Fatalf("Err = %v, want ENOSPC", k.Err())
	}
	if k.Published(0) >= k.Ledger.Channels[0].Total {
		t.Error("published should stay at the persisted ceiling while nothing can be saved")
	}
	// The day's count is held back as much, and a restart resumes it at or
	// above what was published.
	today := k.PublishedToday(0)
	if today >= k.Ledger.Channels[0].Today {
		t.Error("the day's published energy should stay at the persisted ceiling while nothing can be saved")
	}
	k2, _ := Open(&Store{Dir: dir}, []string{"pi"}, time.UTC, time.Minute, time.Minute)
	if got := k2.PublishedToday(0); got < today {
		t.Errorf("after a restart the day's energy is %d µJ, below the %d published", got, today)
	}
	full = false
	now = now.Add(time.Minute)
	k.Ledger.Add(0, now, Reading{Power: 100 * physic.Watt}, true)
	if err := k.Maybe(now); err != nil || k.Err() != nil {
		t.Fatalf("recovery: %v", err)
	}
	if k.Published(0) != k.Ledger.Channels[0].Total {
		t.Error("published should catch up once saved")
	}
}

func TestSavings(t *testing.T) {
	var s Savings
	s.Tau = time.Hour
	for i := 0; i < 100; i++ {
		s.Observe(10, time.Minute, false)
	}
	s.Observe(4, time.Hour, true) // disks asleep: 6 W less for an hour
	if got := Wh(s.Saved); math.Abs(got-6) > 1e-6 {
		t.Errorf("saved %v Wh, want 6", got)
	}
	s.Halted(2*time.Hour, 0.015)
	if got := Wh(s.Saved); math.Abs(got-(6+2*(10-0.015))) > 1e-6 {
		t.Errorf("saved %v Wh after halt", got)
	}
	if g := CO2e(uint64(1000*MicroJoulesPerWh), 56); math.Abs(g-56) > 1e-9 {
		t.Errorf("CO2e of 1 kWh at 56 g/kWh = %v", g)
	}
}

func BenchmarkLedgerAdd(b *testing.B) {
	l := NewLedger([]string{"pi", "disk", "usb"}, time.UTC, time.Minute)
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(10 * time.Second)
		for c := 0; c < 3; c++ {
			l.Add(c, now, Reading{Power: 3 * physic.Watt}, true)
		}
	}
}

// BenchmarkCheckpoint is one checkpoint of three channels' counters: the
// JSON, the temporary file and its fsync, the check of the generation kept
// as .prev, the rename and the directory's fsync. The agent does it every
// checkpoint_interval (15 min by default), not per sample.
func BenchmarkCheckpoint(b *testing.B) {
	k, warn := Open(&Store{Dir: b.TempDir()}, []string{"pi", "disk", "usb"}, time.UTC, time.Minute, 15*time.Minute)
	if warn != nil {
		b.Fatal(warn)
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(15 * time.Minute)
		for c := range 3 {
			k.Ledger.Add(c, now, Reading{Power: 3 * physic.Watt}, true)
		}
		if err := k.Maybe(now); err != nil {
			b.Fatal(err)
		}
	}
	if k.Writes() < uint64(b.N) {
		b.Fatalf("%d checkpoints for %d ticks of 15 min", k.Writes(), b.N)
	}
}
