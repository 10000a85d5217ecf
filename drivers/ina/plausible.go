package ina

import (
	"errors"
	"fmt"
)

// ErrImplausible is wrapped by the error Sense returns when the registers
// hold values the chip cannot have produced: a setting that no longer reads
// what the driver wrote (the chip was reset by a power loss or a brown-out,
// and runs on its power-on defaults), a reserved bit that is not 0, or
// results that disagree with the chip's own arithmetic (a noisy bus: long
// wires, a marginal pull-up). The message says which check failed and with
// what values. The caller should open the chip again (New), which writes its
// configuration and calibration back.
//
// Sense reads the registers a second time after a failed check before it
// gives up, so a single corrupted transfer costs one re-read, not a reading.
var ErrImplausible = errors.New("implausible reading")

// implausible builds the error of a failed check. Only the failure path
// formats (and allocates).
func (d *regs) implausible(format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", d.name, ErrImplausible, fmt.Sprintf(format, args...))
}

// readback is the setting Sense reads back once per reading: the register
// whose value tells a chip still configured by the driver from one that was
// reset or is answering with noise.
type readback struct {
	reg  byte
	what string // "configuration", "calibration", "ADC configuration"
	want uint16 // what the driver wrote
	por  uint16 // the chip's power-on value of that register
	// fixedMask selects the bits that always read fixedVal whatever was
	// written: reserved bits (0) and the INA226's and INA260's identity bits
	// 14:12 (100b, 110b).
	fixedMask, fixedVal uint16
}

// check reads the register back and compares it with what was written.
func (d *regs) check(rb *readback) error {
	v, err := d.read16(rb.reg, rb.what)
	if err != nil {
		return err
	}
	switch {
	case v == rb.want:
		return nil
	case v&rb.fixedMask != rb.fixedVal:
		return d.implausible("%s reads %04Xh: bits %04Xh read %04Xh, the chip always returns %04Xh there (bus noise)",
			rb.what, v, rb.fixedMask, v&rb.fixedMask, rb.fixedVal)
	case v == rb.por:
		return d.implausible("%s reads %04Xh, the chip's power-on value, not the %04Xh written: the chip was reset (power loss or brown-out)",
			rb.what, v, rb.want)
	}
	return d.implausible("%s reads %04Xh, not the %04Xh written (bus noise, or another bus master changed it)", rb.what, v, rb.want)
}

// reserved fails when bits of mask are set in a register value v that the
// chip always returns as 0 there.
func (d *regs) reserved(what string, v, mask uint64, bits string) error {
	if v&mask == 0 {
		return nil
	}
	return d.implausible("%s reads %X: bits %s always read 0 (bus noise)", what, v, bits)
}

// currentModel is how a chip derives its current register from its shunt
// register: current = shunt·num/den, truncated (INA219: CAL/4096, INA226:
// CAL/2048, INA228: 4096/SHUNT_CAL). The relation is linear, so it holds for
// averaged results as well as for single conversions: averaging the
// per-conversion currents or computing the current of the averaged shunt
// voltage differ by the truncations only.
type currentModel struct {
	num, den int64
	name     string // the formula, for the error message
}

// check accepts current when |current·den − shunt·num| ≤ num + 2·den: one
// shunt count (the averaged shunt register is rounded), and two current
// counts (the truncation of each conversion's current, then of their mean).
func (m *currentModel) check(d *regs, shunt, current int64) error {
	diff := current*m.den - shunt*m.num
	if diff < 0 {
		diff = -diff
	}
	if diff <= m.num+2*m.den {
		return nil
	}
	return d.implausible("current register reads %d, but shunt voltage %d × %s = %d: the chip lost its calibration or the bus returned noise",
		current, shunt, m.name, shunt*m.num/m.den)
}

// powerModel is how a chip derives its power register from its current and
// bus voltage registers, in register counts: power = |current|·bus/div,
// truncated (INA219: 5000, INA226: 20000, INA260: 6400, INA228: 16384).
//
// Where one result is one conversion (powerOneConversion), the registers
// are the operands: power·div lies in (|I|·V − div, |I|·V], and one more
// count either way is allowed for the rounding of the chip's multiplier.
//
// The INA228 computes the power of the averaged current and bus voltage
// (powerOfAverages, SBOSA20 §7.3.1), which are finer inside the chip than in
// their registers: one count of current and of bus voltage either way, and
// two counts of power.
//
// The INA219, INA226 and INA260 instead compute the power of every
// conversion and average those, as they average the currents and the bus
// voltages (powerAveraged, SBOS547 §7.3.1). The mean of the products
// differs from the product of the means by the covariance of current and bus
// voltage within the window, which the registers do not show. Its bounds:
//
//   - from above, whatever the load does: no conversion's power exceeds its
//     current times the largest bus code, or its bus voltage times the
//     largest current code, so power·div ≤ min(|I|·Vmax, V·Imax). This is
//     what a window in which the rail is switched on or off (current and
//     voltage high together) needs;
//   - from below, if the supply does not lose more than half its voltage at
//     the largest current of the window (V = Vs − Rs·I with Rs·Imax ≤ Vs/2,
//     a sag, current and voltage moving against each other):
//     Rs·var(I) ≤ Rs·Ī·(Imax − Ī) ≤ Ī·V̄/2, so power·div ≥ |I|·V/2. A supply
//     sagging further browns its load out; a window holding the inrush of a
//     rail switched on (high current at a low, rising voltage) can read
//     below the bound, and its reading is then refused.
//
// The current is taken to keep one direction within a window, as the loads
// veille measures do; a current crossing zero only by the chip's offset and
// noise is allowed for (noise counts of current).
type powerModel struct {
	div        uint64
	kind       powerKind
	iMax, vMax uint64 // powerAveraged: the largest current and bus codes of one conversion
	noise      uint64 // powerAveraged: current counts the offset and noise can add to the mean |I|
}

type powerKind uint8

const (
	powerOneConversion powerKind = iota
	powerOfAverages
	powerAveraged
)

// perConversionPower is the kind of the INA219, INA226 and INA260 at the
// given averaging.
func perConversionPower(averaging int) powerKind {
	if averaging > 1 {
		return powerAveraged
	}
	return powerOneConversion
}

// bounds returns the range of power·div the chip can report for current
// magnitude i and bus voltage v (register counts).
func (m *powerModel) bounds(i, v uint64) (lo, hi uint64) {
	switch m.kind {
	case powerOneConversion:
		lo, hi = i*v, i*v+m.div
	case powerOfAverages:
		lo, hi = sat1(i)*sat1(v), (i+1)*(v+1)+m.div
	default:
		lo = sat1(i) * sat1(v) / 2
		hi = min((i+1+m.noise)*m.vMax, (v+1)*m.iMax) + 2*m.div
	}
	if lo > 2*m.div {
		lo -= 2 * m.div
	} else {
		lo = 0
	}
	return lo, hi
}

// sat1 is n−1, or 0.
func sat1(n uint64) uint64 {
	if n > 0 {
		return n - 1
	}
	return 0
}

// check accepts power when power·div lies within bounds(i, v).
func (m *powerModel) check(d *regs, power, i, v uint64) error {
	lo, hi := m.bounds(i, v)
	if p := power * m.div; p >= lo && p <= hi {
		return nil
	}
	return d.implausible("power register reads %d, but the chip's own current %d × bus voltage %d allow %d to %d (bus noise)",
		power, i, v, (lo+m.div-1)/m.div, hi/m.div)
}

// absCode returns the magnitude of a signed register code.
func absCode(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}
