package sim_test

// The real drivers of drivers/ina against the emulated chips in a world.

import (
	"errors"
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

func inaOpts(c ina.Chip, addr uint16, mod func(*ina.Opts)) *ina.Opts {
	o := ina.DefaultOpts(c)
	o.Addr = addr
	if mod != nil {
		mod(&o)
	}
	return &o
}

// railTruth is a rail's voltage and current now, in volts and amperes.
func railTruth(t *testing.T, w *sim.World, rail string, at time.Time) (float64, float64) {
	t.Helper()
	v, i, err := w.RailAt(rail, at)
	if err != nil {
		t.Fatal(err)
	}
	return float64(v) / float64(physic.Volt), float64(i) / float64(physic.Ampere)
}

func TestRealDriversReadTheWorld(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	bus := w.Bus()
	for _, tc := range []struct {
		chip        ina.Chip
		addr        uint16
		rails       []string
		opts        func(*ina.Opts)
		vTol, iTol  float64 // V, A
		detectReset bool
	}{
		{chip: ina.ChipINA228, addr: 0x40, rails: []string{"pi"}, vTol: 400e-6, iTol: 40e-6},
		{chip: ina.ChipINA226, addr: 0x41, rails: []string{"sda"}, vTol: 2.5e-3, iTol: 0.5e-3,
			opts: func(o *ina.Opts) { o.Shunt, o.MaxCurrent = 10*physic.MilliOhm, 3*physic.Ampere }},
		{chip: ina.ChipINA3221, addr: 0x42, rails: []string{"pi", "sda", "sdb"}, vTol: 16e-3, iTol: 1.6e-3,
			opts: func(o *ina.Opts) {
				o.Channels[1].Shunt, o.Channels[2].Shunt = 50*physic.MilliOhm, 50*physic.MilliOhm
			}},
		{chip: ina.ChipINA260, addr: 0x44, rails: []string{"sdb"}, vTol: 2.5e-3, iTol: 2.5e-3},
		{chip: ina.ChipINA219, addr: 0x45, rails: []string{"pi"}, vTol: 8e-3, iTol: 0.2e-3, detectReset: true},
	} {
		t.Run(string(tc.chip), func(t *testing.T) {
			detect := ina.Detect
			if tc.detectReset {
				detect = ina.DetectReset
			}
			got, err := detect(bus, tc.addr)
			if err != nil || got != tc.chip {
				t.Fatalf("detect at 0x%02x: %v %v, want %s", tc.addr, got, err, tc.chip)
			}
			d, err := ina.New(bus, tc.chip, inaOpts(tc.chip, tc.addr, tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			fc.Advance(d.UpdatePeriod())
			r := make([]ina.Reading, d.Channels())
			if err := d.Sense(r); err != nil {
				t.Fatal(err)
			}
			for k, rail := range tc.rails {
				v, i := railTruth(t, w, rail, fc.Now())
				gv, gi := float64(r[k].Bus)/1e9, float64(r[k].Current)/1e9
				if math.Abs(gv-v) > tc.vTol || math.Abs(gi-i) > tc.iTol || r[k].Overflow {
					t.Errorf("%s channel %d on %s: read %s, truth %.5f V %.6f A", tc.chip, k+1, rail, r[k], v, i)
				}
			}
			if err := d.Halt(); err != nil {
				t.Errorf("halt: %v", err)
			}
		})
	}
	if _, err := ina.Detect(bus, 0x4f); err == nil {
		t.Error("detect at an empty address: no error")
	}
}

// TestRealDriverTriggeredOnWorldClock: the driver's Sleep advances the
// world's clock, so a triggered conversion completes in world time.
func TestRealDriverTriggeredOnWorldClock(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	d, err := ina.New(w.Bus(), ina.ChipINA226, inaOpts(ina.ChipINA226, 0x41, func(o *ina.Opts) {
		o.Shunt, o.MaxCurrent = 10*physic.MilliOhm, 3*physic.Ampere
		o.Mode = ina.Triggered
		o.Averaging = 16
		o.Sleep = fc.Advance
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := make([]ina.Reading, 1)
	before := fc.Now()
	if err := d.Sense(r); err != nil {
		t.Fatal(err)
	}
	if fc.Now().Sub(before) < d.UpdatePeriod() {
		t.Errorf("triggered Sense took %s of world time, want at least %s", fc.Now().Sub(before), d.UpdatePeriod())
	}
	if _, i := railTruth(t, w, "sda", fc.Now()); math.Abs(float64(r[0].Current)/1e9-i) > 1e-3 {
		t.Errorf("triggered reading %s, truth %.4f A", r[0], i)
	}
}

// TestRealDriverSeesHaltAndUnplug: bus errors reach the driver with their
// cause.
func TestRealDriverSeesHaltAndUnplug(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	d, err := ina.New(w.Bus(), ina.ChipINA226, inaOpts(ina.ChipINA226, 0x41, func(o *ina.Opts) {
		o.Shunt, o.MaxCurrent = 10*physic.MilliOhm, 3*physic.Ampere
	}))
	if err != nil {
		t.Fatal(err)
	}
	fc.Advance(d.UpdatePeriod())
	must(t, w.Bus().SetFault(0x41, sim.FaultGone))
	r := make([]ina.Reading, 1)
	var nack *sim.NACKError
	if err := d.Sense(r); !errors.As(err, &nack) {
		t.Errorf("unplugged sensor: %v, want the NACK as cause", err)
	}
	must(t, w.Bus().SetFault(0x41, sim.FaultNone))
	_ = clock.Real{}
}

// TestEnergyAccuracyOverBursts: reading the INA226 once per averaging window
// (sized by ina.TimingFor for a 1 s interval) and the INA228's accumulator
// both account for the bursty reference load exactly, spin-ups included.
func TestEnergyAccuracyOverBursts(t *testing.T) {
	fc := clock.NewFake(t0)
	o := sim.BurstyOpts(fc.Now)
	o.After = fc.After
	w, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	avg, conv := ina.TimingFor(ina.ChipINA226, time.Second)
	d226, err := ina.New(w.Bus(), ina.ChipINA226, inaOpts(ina.ChipINA226, 0x41, func(o *ina.Opts) {
		o.Shunt, o.MaxCurrent = 10*physic.MilliOhm, 3*physic.Ampere
		o.Averaging, o.BusConversion, o.ShuntConversion = avg, conv, conv
	}))
	if err != nil {
		t.Fatal(err)
	}
	d228, err := ina.New(w.Bus(), ina.ChipINA228, inaOpts(ina.ChipINA228, 0x40, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := make([]ina.Reading, 1)
	must(t, d228.Sense(r))
	e228Start, t228Start := r[0].Energy, fc.Now()

	start := fc.Now()
	period := d226.UpdatePeriod()
	var sum float64
	for fc.Now().Sub(start) < 10*time.Minute {
		fc.Advance(period)
		if err := d226.Sense(r); err != nil {
			t.Fatal(err)
		}
		sum += float64(r[0].Power) / 1e9 * period.Seconds()
	}
	exact, err := w.ExactEnergy("sda", start, fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ina226 sum %.4f exact %.4f period %s", sum, exact, period)
	if math.Abs(sum-exact) > 2e-3*exact {
		t.Errorf("INA226 windows sum to %.3f J, exact %.3f J (%.3f%%)", sum, exact, 100*(sum-exact)/exact)
	}
	must(t, d228.Sense(r))
	got := float64(r[0].Energy-e228Start) / 1e9
	exact, err = w.ExactEnergy("pi", t228Start, fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The accumulator holds whole conversion sets: off by at most one set at
	// each end, plus an LSB.
	t.Logf("ina228 %.5f exact %.5f", got, exact)
	if tol := 2*0.004*6.0 + 1e-3; math.Abs(got-exact) > tol {
		t.Errorf("INA228 ENERGY over 10 min: %.4f J, exact %.4f J", got, exact)
	}
}
