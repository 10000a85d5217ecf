package ina

import (
	"fmt"

	"periph.io/x/conn/v3/physic"
)

// maxShunt bounds Opts.Shunt so that calibration products stay in 64 bits;
// no INA application uses a shunt anywhere near 1 kΩ.
const maxShunt = physic.KiloOhm

// checkShuntCurrent validates the options every calibrated chip needs.
func checkShuntCurrent(c Chip, o *Opts) error {
	if o.Shunt <= 0 || o.Shunt > maxShunt {
		return fmt.Errorf("%s: Opts.Shunt %s out of range (0, %s]", c, o.Shunt, maxShunt)
	}
	if o.MaxCurrent <= 0 {
		return fmt.Errorf("%s: Opts.MaxCurrent %s must be positive", c, o.MaxCurrent)
	}
	if o.CurrentLSB < 0 {
		return fmt.Errorf("%s: Opts.CurrentLSB %s must not be negative", c, o.CurrentLSB)
	}
	return nil
}

// shuntDrop is i·r in nV, rounded up so that a drop exactly at a range limit
// still fits and anything above does not.
func shuntDrop(i physic.ElectricCurrent, r physic.ElectricResistance) physic.ElectricPotential {
	v, ok := mulDivCeil(uint64(i), uint64(r), 1e9)
	if !ok || v > 1<<62 {
		return 1 << 62
	}
	return physic.ElectricPotential(v)
}

// pickShuntRange returns opts.ShuntRange if it is one of ranges and holds
// MaxCurrent·Shunt, or the smallest of ranges (sorted ascending) that holds it
// when opts.ShuntRange is zero.
func pickShuntRange(c Chip, o *Opts, ranges []physic.ElectricPotential) (int, error) {
	drop := shuntDrop(o.MaxCurrent, o.Shunt)
	if o.ShuntRange != 0 {
		for i, r := range ranges {
			if r == o.ShuntRange {
				if drop > r {
					return 0, fmt.Errorf("%s: Opts.MaxCurrent %s × Opts.Shunt %s = %s exceeds Opts.ShuntRange %s",
						c, o.MaxCurrent, o.Shunt, drop, r)
				}
				return i, nil
			}
		}
		return 0, fmt.Errorf("%s: Opts.ShuntRange %s is not a shunt range of the chip (want one of %v)", c, o.ShuntRange, ranges)
	}
	for i, r := range ranges {
		if drop <= r {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: Opts.MaxCurrent %s × Opts.Shunt %s = %s exceeds the chip's %s shunt range",
		c, o.MaxCurrent, o.Shunt, drop, ranges[len(ranges)-1])
}

// calInverse computes the calibration of the INA219 and INA226 family, where
// CAL = trunc(k / (Current_LSB·R)) with k the chip's constant in nA·nΩ
// (0.04096 → 4.096e16, 0.00512 → 5.12e15). With an explicit Current_LSB it
// applies the formula; otherwise Current_LSB = Imax/2^15, i.e.
// CAL = trunc(k·2^15 / (Imax·R)), the largest CAL (finest LSB) whose LSB is
// still at least Imax/2^15. even clears bit 0 (INA219, whose
// FS0 bit is void). It returns CAL and the ratios that convert the current
// and power registers, derived from the CAL actually written:
// Current_LSB = k/(CAL·R), Power_LSB = powerFactor·Current_LSB.
func calInverse(c Chip, o *Opts, k uint64, maxCal uint64, even bool, powerFactor uint64) (cal uint16, current, power ratio, err error) {
	r := uint64(o.Shunt)
	var v uint64
	if o.CurrentLSB > 0 {
		if den, ok := mul64(uint64(o.CurrentLSB), r); ok {
			v = k / den
		}
		if (o.MaxCurrent+32766)/32767 > o.CurrentLSB { // MaxCurrent > 32767·CurrentLSB without overflow
			return 0, ratio{}, ratio{}, fmt.Errorf("%s: Opts.CurrentLSB %s too small for Opts.MaxCurrent %s (the current register holds ±32767 LSB)",
				c, o.CurrentLSB, o.MaxCurrent)
		}
	} else if den, ok := mul64(uint64(o.MaxCurrent), r); ok {
		v, _ = mulDivFloor(k, 1<<15, den)
	}
	if even {
		v &^= 1
	}
	if v == 0 {
		return 0, ratio{}, ratio{}, fmt.Errorf("%s: calibration for Opts.Shunt %s and %s rounds to 0: current LSB too coarse",
			c, o.Shunt, lsbOption(o))
	}
	if v > maxCal {
		return 0, ratio{}, ratio{}, fmt.Errorf("%s: calibration %d for Opts.Shunt %s and %s exceeds the register maximum %d: current LSB too fine",
			c, v, o.Shunt, lsbOption(o), maxCal)
	}
	den := v * r // v ≤ 65535 and r ≤ 1e12: no overflow
	return uint16(v), ratio{k, den}, ratio{k * powerFactor, den}, nil
}

func lsbOption(o *Opts) string {
	if o.CurrentLSB > 0 {
		return "Opts.CurrentLSB " + o.CurrentLSB.String()
	}
	return "Opts.MaxCurrent " + o.MaxCurrent.String()
}
