package energy

import (
	"time"
)

// Savings estimates the energy sleeping saved: while awake it learns the
// system's usual draw (a slow moving average), and while asleep it counts the
// difference between that and what was measured. A halt, when nothing is
// measured, counts the usual draw minus the board's standby draw for the time
// the system was off.
type Savings struct {
	// Baseline is the learned awake draw in watts (0 until learned).
	Baseline float64
	// Saved is the estimated energy saved, in µJ.
	Saved uint64
	// Tau is the averaging time constant of the baseline.
	Tau time.Duration

	frac float64
}

// Observe feeds the total measured draw (watts) over dt, and whether the
// system was in a sleep state (disks asleep) during it.
func (s *Savings) Observe(watts float64, dt time.Duration, asleep bool) {
	if dt <= 0 || watts < 0 {
		return
	}
	if !asleep {
		tau := s.Tau
		if tau <= 0 {
			tau = 24 * time.Hour
		}
		if s.Baseline == 0 {
			s.Baseline = watts
			return
		}
		a := dt.Seconds() / tau.Seconds()
		if a > 1 {
			a = 1
		}
		s.Baseline += a * (watts - s.Baseline)
		return
	}
	if d := s.Baseline - watts; d > 0 {
		s.add(d * dt.Seconds())
	}
}

// Halted counts a whole-system halt of duration d, during which the board
// drew about standby watts.
func (s *Savings) Halted(d time.Duration, standby float64) {
	if d <= 0 {
		return
	}
	if diff := s.Baseline - standby; diff > 0 {
		s.add(diff * d.Seconds())
	}
}

func (s *Savings) add(joules float64) {
	uj := joules*1e6 + s.frac
	whole := uint64(uj)
	s.frac = uj - float64(whole)
	s.Saved += whole
}

// CO2e returns grams of CO2-equivalent for µJ of electricity at intensity
// gCO2e per kWh.
func CO2e(uj uint64, gPerKWh float64) float64 {
	return float64(uj) / (MicroJoulesPerWh * 1000) * gPerKWh
}
