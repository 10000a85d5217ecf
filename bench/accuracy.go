//go:build bench

package bench

import (
	"fmt"
	"time"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/energy"
	"periph.io/x/conn/v3/physic"
)

// Ways of turning a power monitor's readings into energy.
const (
	// MethodAveraged: the chip is read every ina.ReadStep (the sampling
	// interval, or a fraction of it when the chip cannot average so long),
	// averaging over a window matched to that step (ina.TimingForInputs), and
	// each reading counts for the time since the previous one (reading ×
	// elapsed, internal/energy's rectangle). veille's way for every chip
	// without an energy accumulator.
	MethodAveraged = "averaged"
	// MethodAccumulator: the INA228's ENERGY register, read every interval
	// (veille's way for the INA228).
	MethodAccumulator = "accumulator"
	// MethodPoint: one short conversion (the chip's power-on default
	// elsewhere), read every interval and counted like MethodAveraged: what
	// a reporter that reads "the power now" does.
	MethodPoint = "point"
)

// AccuracyRails are the rails of sim.BurstyOpts whose energy is compared:
// the Pi's input (200 ms CPU bursts at +3 W every 10 s) and the first disk's
// supply (a 1 s spin-up at 10 W every 3 minutes, 30 s spinning, standby).
var AccuracyRails = []string{"pi", "sda"}

// AccuracyCase is one chip read one way at one interval.
type AccuracyCase struct {
	Method   string
	Chip     ina.Chip
	Interval time.Duration
	// Averaging and Conversion set the chip's ADC (bus and shunt alike) and
	// make it read once per interval; zero means what the agent does: read
	// every ina.ReadStep with ina.TimingForInputs for that step.
	Averaging  int
	Conversion time.Duration
	// OneInput enables only the INA3221 input on the disk's rail, as the
	// agent does when its configuration names only that one.
	OneInput bool
	// Phase offsets the sampling grid from the load's own schedule. The
	// reference load is periodic, so a grid that happens to hit the same
	// moment of every cycle aliases; sweeping the phase shows it.
	Phase time.Duration
	// Veille marks the way veille itself reads this chip.
	Veille bool
}

func (c AccuracyCase) String() string {
	s := fmt.Sprintf("%s %s every %v", c.Chip, c.Method, c.Interval)
	if c.OneInput {
		s += " (one input)"
	}
	if c.Phase != 0 {
		s += fmt.Sprintf(" phase %v", c.Phase)
	}
	return s
}

// skip tells whether rail i is not measured in this case.
func (c AccuracyCase) skip(i int) bool { return c.OneInput && AccuracyRails[i] != "sda" }

// RailResult compares one rail's measured energy with the exact one.
type RailResult struct {
	Rail       string
	ExactWh    float64
	MeasuredWh float64
	ErrorPct   float64 // (measured − exact) / exact × 100
}

// AccuracyResult is one case over the whole span.
type AccuracyResult struct {
	AccuracyCase
	// Window is the time one reading covers (the driver's UpdatePeriod).
	Window time.Duration
	// Step is how often the chip is read (the interval, or ina.ReadStep).
	Step    time.Duration
	Samples int
	Span    time.Duration
	Rails   []RailResult
}

// DefaultAccuracyCases are the cases of BENCHMARKS.md.
func DefaultAccuracyCases() []AccuracyCase {
	s := time.Second
	return []AccuracyCase{
		{Method: MethodAveraged, Chip: ina.ChipINA226, Interval: 10 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA226, Interval: 1 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA226, Interval: 60 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA260, Interval: 10 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA3221, Interval: 10 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA3221, Interval: 10 * s, OneInput: true, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA219, Interval: 10 * s, Veille: true},
		{Method: MethodAccumulator, Chip: ina.ChipINA228, Interval: 10 * s, Veille: true},
		{Method: MethodAccumulator, Chip: ina.ChipINA228, Interval: 60 * s, Veille: true},
		{Method: MethodAveraged, Chip: ina.ChipINA228, Interval: 10 * s},
		{Method: MethodPoint, Chip: ina.ChipINA226, Interval: 10 * s, Averaging: 1, Conversion: 1100 * time.Microsecond},
		{Method: MethodPoint, Chip: ina.ChipINA226, Interval: 60 * s, Averaging: 1, Conversion: 1100 * time.Microsecond},
	}
}

// accuracyStart is when the simulated worlds start; the load does not depend
// on the time of day.
var accuracyStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// accuracyWarmup lets every chip complete its first averaged result (the
// longest window is the INA226's 16.9 s) before the first sample.
const accuracyWarmup = time.Minute

// chipSetup is how each chip sits on the rails: a shunt and full scale that
// hold the disk's 2 A spin-up and the Pi's bursts, as on common modules.
type chipSetup struct {
	shunt      physic.ElectricResistance
	maxCurrent physic.ElectricCurrent
}

var setups = map[ina.Chip]chipSetup{
	ina.ChipINA219:  {100 * physic.MilliOhm, 3200 * physic.MilliAmpere},
	ina.ChipINA226:  {10 * physic.MilliOhm, 5 * physic.Ampere},
	ina.ChipINA228:  {15 * physic.MilliOhm, 10 * physic.Ampere},
	ina.ChipINA260:  {},
	ina.ChipINA3221: {50 * physic.MilliOhm, 3 * physic.Ampere},
}

// Accuracy runs one case on a fresh sim.BurstyOpts world for span of
// simulated time (sampled from one minute after the world starts) and
// compares what the real driver and ledger measured on each of
// AccuracyRails with the world's exact energy over the same span.
func Accuracy(c AccuracyCase, span time.Duration) (AccuracyResult, error) {
	res := AccuracyResult{AccuracyCase: c, Span: span}
	if c.Interval <= 0 || span < c.Interval || span%c.Interval != 0 {
		return res, fmt.Errorf("accuracy %v: span %v must be a positive multiple of the interval", c, span)
	}
	setup, ok := setups[c.Chip]
	if !ok {
		return res, fmt.Errorf("accuracy %v: no setup for chip %s", c, c.Chip)
	}
	clk := &fakeClock{t: accuracyStart}
	o := sim.BurstyOpts(clk.Now)
	o.Sensors = nil
	if c.Chip == ina.ChipINA3221 {
		so := sim.SensorOpts{Addr: 0x40, Chip: sim.ChipINA3221}
		for i, rail := range []string{"pi", "sda", "sdb"} {
			so.Channels[i] = sim.ChannelOpts{Rail: rail, Shunt: setup.shunt}
		}
		o.Sensors = append(o.Sensors, so)
	} else {
		for i, rail := range AccuracyRails {
			o.Sensors = append(o.Sensors, sim.SensorOpts{Addr: 0x40 + uint16(i), Chip: sim.Chip(c.Chip), Rail: rail, Shunt: setup.shunt})
		}
	}
	w, err := sim.New(o)
	if err != nil {
		return res, fmt.Errorf("accuracy %v: %w", c, err)
	}
	defer w.Close()

	inputs := 3
	if c.OneInput {
		inputs = 1
	}
	avg, conv, step := c.Averaging, c.Conversion, c.Interval
	if avg == 0 { // as the agent does (internal/agent readStep, buildSensors)
		if c.Method == MethodAveraged {
			step = ina.ReadStep(c.Chip, c.Interval, inputs)
		}
		avg, conv = ina.TimingForInputs(c.Chip, step, inputs)
	}
	if span%step != 0 {
		return res, fmt.Errorf("accuracy %v: span %v is not a multiple of the read step %v", c, span, step)
	}
	res.Step = step
	open := func(addr uint16) (ina.Dev, error) {
		opts := ina.DefaultOpts(c.Chip)
		opts.Addr = addr
		opts.Shunt, opts.MaxCurrent = setup.shunt, setup.maxCurrent
		opts.Averaging, opts.BusConversion, opts.ShuntConversion = avg, conv, conv
		if c.Chip == ina.ChipINA3221 {
			for j := range opts.Channels {
				// The agent disables the inputs its configuration does not
				// name.
				opts.Channels[j] = ina.ChannelOpts{Shunt: setup.shunt, Disabled: c.OneInput && j != 1}
			}
		}
		opts.Sleep = clk.Advance // only used in triggered mode or after Halt
		return ina.New(w.Bus(), c.Chip, &opts)
	}
	// channel i of the ledger is AccuracyRails[i]; dev[k] fills readings
	// from index first[k].
	var devs []ina.Dev
	if c.Chip == ina.ChipINA3221 {
		d, err := open(0x40)
		if err != nil {
			return res, fmt.Errorf("accuracy %v: %w", c, err)
		}
		devs = append(devs, d)
	} else {
		for i := range AccuracyRails {
			d, err := open(0x40 + uint16(i))
			if err != nil {
				return res, fmt.Errorf("accuracy %v: %w", c, err)
			}
			devs = append(devs, d)
		}
	}
	res.Window = devs[0].UpdatePeriod()
	readings := make([]ina.Reading, 3)
	led := energy.NewLedger(AccuracyRails, time.UTC, 3*c.Interval) // as the agent does
	t0 := accuracyStart.Add(accuracyWarmup + c.Phase)
	t1 := t0.Add(span)
	for t := t0; !t.After(t1); t = t.Add(step) {
		clk.Set(t)
		for k, d := range devs {
			if err := d.Sense(readings[k : k+d.Channels()]); err != nil {
				return res, fmt.Errorf("accuracy %v: at %v: %w", c, t.Sub(accuracyStart), err)
			}
		}
		for i := range AccuracyRails {
			if c.skip(i) {
				continue
			}
			r := readings[i]
			led.Add(i, t, energy.Reading{Power: r.Power, Accumulated: r.Energy,
				HasAccumulator: c.Method == MethodAccumulator && r.HasEnergy}, true)
		}
		res.Samples++
	}
	if got := clk.Now(); !got.Equal(t1) {
		return res, fmt.Errorf("accuracy %v: the driver moved the clock (%v past the last sample): it waited for a conversion", c, got.Sub(t1))
	}
	for i, rail := range AccuracyRails {
		if c.skip(i) {
			continue
		}
		exact, err := w.ExactEnergy(rail, t0, t1)
		if err != nil {
			return res, fmt.Errorf("accuracy %v: %w", c, err)
		}
		if ch := led.Channels[i]; ch.Unmeasured != 0 {
			return res, fmt.Errorf("accuracy %v: %s: %v unmeasured", c, rail, ch.Unmeasured)
		}
		rr := RailResult{Rail: rail, ExactWh: exact / 3600, MeasuredWh: energy.Wh(led.Channels[i].Total)}
		rr.ErrorPct = (rr.MeasuredWh - rr.ExactWh) / rr.ExactWh * 100
		res.Rails = append(res.Rails, rr)
	}
	return res, nil
}

// PhaseResult is a case at phase 0 and the spread of its error over phases.
type PhaseResult struct {
	AccuracyResult
	Phases int
	// MinErrorPct and MaxErrorPct per rail (in AccuracyResult.Rails order).
	MinErrorPct, MaxErrorPct []float64
}

// AccuracyPhases runs c at phases evenly spread over one interval (phases
// runs; the first at phase 0) and reports the error's range.
func AccuracyPhases(c AccuracyCase, span time.Duration, phases int) (PhaseResult, error) {
	var pr PhaseResult
	pr.Phases = phases
	for k := 0; k < phases; k++ {
		pc := c
		pc.Phase = c.Interval * time.Duration(k) / time.Duration(phases)
		r, err := Accuracy(pc, span)
		if err != nil {
			return pr, err
		}
		if k == 0 {
			pr.AccuracyResult = r
			pr.MinErrorPct = make([]float64, len(r.Rails))
			pr.MaxErrorPct = make([]float64, len(r.Rails))
			for i, rr := range r.Rails {
				pr.MinErrorPct[i], pr.MaxErrorPct[i] = rr.ErrorPct, rr.ErrorPct
			}
			continue
		}
		for i, rr := range r.Rails {
			pr.MinErrorPct[i] = min(pr.MinErrorPct[i], rr.ErrorPct)
			pr.MaxErrorPct[i] = max(pr.MaxErrorPct[i], rr.ErrorPct)
		}
	}
	return pr, nil
}
