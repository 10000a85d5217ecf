package ina_test

// The plausibility checks against the emulated chips of drivers/sim (test
// only: the driver itself imports nothing of ours): full load swings never
// get a good reading refused; noise and a power-cycled chip never get a
// reading accepted.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/drivers/sim"
)

// swingingLoad is a supply of vs volts behind rs ohms feeding a load that
// jumps between no current and iMax every few milliseconds (at random
// times and levels, a third of the steps to one extreme), and is switched
// off now and then (0 V, 0 A): the fastest, widest load variations a chip
// can see. It covers [start, start+span).
func swingingLoad(t *testing.T, start time.Time, span time.Duration, vs, rs, iMax float64, seed uint64) *sim.Trace {
	t.Helper()
	tr := sim.NewTrace(start, vs, 0)
	x := seed
	next := func() uint64 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	for at := start; at.Before(start.Add(span)); at = at.Add(time.Duration(100+next()%5000) * time.Microsecond) {
		var i float64
		switch next() % 6 {
		case 0:
			i = 0
		case 1:
			i = iMax
		default:
			i = iMax * float64(next()%1001) / 1000
		}
		v := vs - rs*i
		if next()%40 == 0 {
			v, i = 0, 0 // switched off
		}
		if err := tr.Set(at, v, i); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestChecksAgainstEmulatedChips(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	const windows = 400
	type chipCase struct {
		chip ina.Chip
		opts func(o *ina.Opts)
		dev  func(sig sim.Signal) sim.Device
		vs   float64
		iMax float64
	}
	cases := []chipCase{
		{ina.ChipINA219, nil, func(s sim.Signal) sim.Device { return sim.NewINA219(s, 100*physic.MilliOhm) }, 12, 3.2},
		{ina.ChipINA226, nil, func(s sim.Signal) sim.Device { return sim.NewINA226(s, 100*physic.MilliOhm) }, 5, 0.8},
		{ina.ChipINA226, func(o *ina.Opts) { o.Shunt, o.MaxCurrent = 10*physic.MilliOhm, 5*physic.Ampere },
			func(s sim.Signal) sim.Device { return sim.NewINA226(s, 10*physic.MilliOhm) }, 5, 5},
		{ina.ChipINA260, nil, func(s sim.Signal) sim.Device { return sim.NewINA260(s) }, 12, 15},
		{ina.ChipINA3221, nil, func(s sim.Signal) sim.Device {
			return sim.NewINA3221([3]sim.Signal{s, s, s}, [3]physic.ElectricResistance{100 * physic.MilliOhm, 100 * physic.MilliOhm, 100 * physic.MilliOhm})
		}, 5, 1.6},
		{ina.ChipINA228, nil, func(s sim.Signal) sim.Device { return sim.NewINA228(s, 15*physic.MilliOhm) }, 12, 10},
	}
	for _, c := range cases {
		for _, avg := range []int{1, 16, 128} {
			name := fmt.Sprintf("%s %gA averaging %d", c.chip, c.iMax, avg)
			t.Run(name, func(t *testing.T) {
				now := t0
				bus := sim.NewBus("emu", func() time.Time { return now })
				o := ina.DefaultOpts(c.chip)
				if c.opts != nil {
					c.opts(&o)
				}
				o.Averaging = avg
				if c.chip == ina.ChipINA219 && avg > 1 {
					o.BusConversion, o.ShuntConversion = 532*time.Microsecond, 532*time.Microsecond
				}
				open := func() ina.Dev {
					d, err := ina.New(bus, c.chip, &o)
					if err != nil {
						t.Fatal(err)
					}
					return d
				}
				// The span covers the three stages below with room to spare.
				probe, err := ina.New(&nullBus{}, c.chip, &o)
				if err != nil {
					t.Fatal(err)
				}
				period := probe.UpdatePeriod()
				span := time.Duration(2*windows+50) * period
				// A supply losing 10 % at the chip's full-scale current.
				tr := swingingLoad(t, t0, span, c.vs, 0.1*c.vs/c.iMax, c.iMax, uint64(avg)*31+uint64(len(name)))
				if err := bus.Attach(0x40, c.dev(tr)); err != nil {
					t.Fatal(err)
				}
				d := open()
				r := make([]ina.Reading, d.Channels())

				// Full load swings: every reading accepted.
				var maxP physic.Power
				for k := range windows {
					now = now.Add(period)
					if err := d.Sense(r); err != nil {
						t.Fatalf("window %d of a swinging load refused: %v", k, err)
					}
					maxP = max(maxP, r[0].Power)
				}
				// The load really swung: some window saw more than a third of
				// full scale.
				if full := physic.Power(c.vs*c.iMax*1e9) / 3; maxP < full {
					t.Errorf("largest power read %v, below a third of full scale %v: the load did not swing", maxP, full)
				}

				// Noise on every read: nothing accepted.
				if err := bus.SetFault(0x40, sim.FaultGarbage); err != nil {
					t.Fatal(err)
				}
				for k := range windows / 2 {
					now = now.Add(period)
					if err := d.Sense(r); !errors.Is(err, ina.ErrImplausible) {
						t.Fatalf("read %d of noise: %v, want ErrImplausible (reading %v)", k, err, r)
					}
				}

				// A power cycle the driver did not see: refused until reopened.
				if err := bus.SetFault(0x40, sim.FaultGone); err != nil {
					t.Fatal(err)
				}
				if err := bus.SetFault(0x40, sim.FaultNone); err != nil {
					t.Fatal(err)
				}
				now = now.Add(period)
				err = d.Sense(r)
				if avg > 1 || c.chip == ina.ChipINA219 || c.chip == ina.ChipINA226 || c.chip == ina.ChipINA228 {
					if !errors.Is(err, ina.ErrImplausible) || !strings.Contains(err.Error(), "power-on value") {
						t.Fatalf("Sense of a power-cycled chip: %v, want it refused as reset", err)
					}
				} else if err != nil {
					// The INA260 and INA3221 at their power-on configuration
					// run as configured after a reset: nothing to refuse.
					t.Fatalf("Sense of a power-cycled chip at its power-on configuration: %v", err)
				}
				d = open()
				for k := range windows / 2 {
					now = now.Add(period)
					if err := d.Sense(r); err != nil {
						t.Fatalf("window %d after reopening refused: %v", k, err)
					}
				}
			})
		}
	}
}

// nullBus accepts every write and reads zeros: enough to build a driver
// for its UpdatePeriod.
type nullBus struct{}

func (nullBus) String() string                  { return "null" }
func (nullBus) SetSpeed(physic.Frequency) error { return nil }
func (nullBus) Tx(_ uint16, _, r []byte) error {
	clear(r)
	return nil
}
