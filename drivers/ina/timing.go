package ina

import (
	"fmt"
	"time"
)

// Conversion-time tables, indexed by the 3-bit register code.
var (
	// ct226 serves the INA226, INA230, INA231, INA260 and INA3221
	// (VBUSCT/VSHCT codes 0-7; 1.1 ms is the power-on default).
	ct226 = [8]time.Duration{140 * time.Microsecond, 204 * time.Microsecond, 332 * time.Microsecond,
		588 * time.Microsecond, 1100 * time.Microsecond, 2116 * time.Microsecond,
		4156 * time.Microsecond, 8244 * time.Microsecond}
	// ct228 serves the INA228 (VBUSCT/VSHCT/VTCT codes 0-7; 1052 µs default).
	ct228 = [8]time.Duration{50 * time.Microsecond, 84 * time.Microsecond, 150 * time.Microsecond,
		280 * time.Microsecond, 540 * time.Microsecond, 1052 * time.Microsecond,
		2074 * time.Microsecond, 4120 * time.Microsecond}
	// avgCounts is the AVG field of every chip but the INA219, codes 0-7.
	avgCounts = [8]int{1, 4, 16, 64, 128, 256, 512, 1024}
)

// adc219 is one INA219 BADC/SADC setting: a resolution without averaging, or
// 12-bit samples averaged, with the datasheet's conversion time for the whole
// setting (9, 10, 11, 12 bits; then 2 to 128 samples).
type adc219 struct {
	code  uint16
	avg   int
	conv  time.Duration // one sample
	total time.Duration // the whole averaged result
}

var adc219Table = [...]adc219{
	{0b0000, 1, 84 * time.Microsecond, 84 * time.Microsecond},
	{0b0001, 1, 148 * time.Microsecond, 148 * time.Microsecond},
	{0b0010, 1, 276 * time.Microsecond, 276 * time.Microsecond},
	{0b0011, 1, 532 * time.Microsecond, 532 * time.Microsecond},
	{0b1001, 2, 532 * time.Microsecond, 1060 * time.Microsecond},
	{0b1010, 4, 532 * time.Microsecond, 2130 * time.Microsecond},
	{0b1011, 8, 532 * time.Microsecond, 4260 * time.Microsecond},
	{0b1100, 16, 532 * time.Microsecond, 8510 * time.Microsecond},
	{0b1101, 32, 532 * time.Microsecond, 17020 * time.Microsecond},
	{0b1110, 64, 532 * time.Microsecond, 34050 * time.Microsecond},
	{0b1111, 128, 532 * time.Microsecond, 68100 * time.Microsecond},
}

func find219(avg int, conv time.Duration) (adc219, bool) {
	for _, a := range adc219Table {
		if a.avg == avg && a.conv == conv {
			return a, true
		}
	}
	return adc219{}, false
}

// ctCode returns the register code of a conversion time, or an error naming
// the option and the valid values.
func ctCode(c Chip, table *[8]time.Duration, option string, d time.Duration) (uint16, error) {
	for i, v := range table {
		if v == d {
			return uint16(i), nil
		}
	}
	return 0, fmt.Errorf("%s: Opts.%s %v is not a conversion time of the chip (want one of %v)", c, option, d, table[:])
}

func avgCode(c Chip, n int) (uint16, error) {
	for i, v := range avgCounts {
		if v == n {
			return uint16(i), nil
		}
	}
	return 0, fmt.Errorf("%s: Opts.Averaging %d is not an averaging count of the chip (want one of %v)", c, n, avgCounts[:])
}

// ina228TempConversion is the INA228 die temperature conversion time (VTCT):
// the shortest, so that the temperature takes as little of each cycle as
// possible away from the shunt and bus conversions.
const ina228TempConversion = 50 * time.Microsecond

// cyclePeriod is the update period of a chip whose bus and shunt conversions
// both take ct, averaged avg times: (VBUSCT+VSHCT)·AVG, ×inputs (the enabled
// channels) on the INA3221, +VTCT on the INA228.
func cyclePeriod(c Chip, avg int, ct time.Duration, inputs int) time.Duration {
	n := time.Duration(avg)
	switch c {
	case ChipINA3221:
		return time.Duration(inputs) * 2 * ct * n
	case ChipINA228:
		return (2*ct + ina228TempConversion) * n
	}
	return 2 * ct * n
}

// TimingFor returns the averaging count and the conversion time (for both bus
// and shunt) whose averaged result covers
// interval: the shortest update period at or above interval, or the longest
// the chip can do if none reaches it. Equal periods prefer more averaging
// (finer interleaving of bus and shunt samples). The INA3221 period assumes
// its three channels are enabled. An unknown chip returns (0, 0).
//
// Setting Opts.Averaging, BusConversion and ShuntConversion to the result
// makes each reading cover the whole sampling interval, so a burst between two
// samples is in the next reading rather than lost.
func TimingFor(chip Chip, interval time.Duration) (averaging int, conversion time.Duration) {
	return TimingForInputs(chip, interval, 3)
}

// TimingForInputs is TimingFor for an INA3221 with only inputs of its three
// inputs enabled: its conversion cycle visits only those, so the same
// settings cover less time. Other chips ignore inputs.
func TimingForInputs(chip Chip, interval time.Duration, inputs int) (averaging int, conversion time.Duration) {
	inputs = min(max(inputs, 1), 3)
	type candidate struct {
		avg        int
		ct, period time.Duration
	}
	var best, longest candidate
	consider := func(c candidate) {
		if c.period > longest.period || (c.period == longest.period && c.avg > longest.avg) {
			longest = c
		}
		if c.period >= interval && (best.period == 0 || c.period < best.period || (c.period == best.period && c.avg > best.avg)) {
			best = c
		}
	}
	switch chip {
	case ChipINA219:
		for _, a := range adc219Table {
			consider(candidate{a.avg, a.conv, 2 * a.total})
		}
	case ChipINA226, ChipINA230, ChipINA231, ChipINA260, ChipINA3221, ChipINA228:
		table := &ct226
		if chip == ChipINA228 {
			table = &ct228
		}
		for _, avg := range avgCounts {
			for _, ct := range table {
				consider(candidate{avg, ct, cyclePeriod(chip, avg, ct, inputs)})
			}
		}
	}
	if best.period == 0 {
		best = longest
	}
	return best.avg, best.ct
}

// MinReadStep is the shortest step ReadStep returns: reading a chip more
// often than once a second costs bus time and CPU for little gain.
const MinReadStep = time.Second

// ReadStep returns how often to read chip so that its averaged results
// cover a sampling interval: the interval itself when the chip can average
// over that long, otherwise the interval split into the fewest equal steps
// that its longest window covers. An INA226 averages 16.9 s at most, so at
// a 60 s interval it is read every 15 s. Steps are never shorter than
// MinReadStep: an INA219 (136 ms at most) read every second still leaves
// gaps between its windows. inputs is the number of enabled INA3221 inputs
// (see TimingForInputs); an unknown chip returns interval.
//
// Configure the chip with TimingForInputs(chip, step, inputs) and add every
// reading to the energy ledger; what a sample reports over the whole
// interval is the mean of its readings.
func ReadStep(chip Chip, interval time.Duration, inputs int) time.Duration {
	longest := longestPeriod(chip, inputs)
	if longest <= 0 || longest >= interval {
		return interval
	}
	k := (interval + longest - 1) / longest // the fewest steps of at most longest
	k = min(k, max(interval/MinReadStep, 1))
	return interval / k
}

// longestPeriod is the longest update period chip can be set to.
func longestPeriod(chip Chip, inputs int) time.Duration {
	inputs = min(max(inputs, 1), 3)
	switch chip {
	case ChipINA219:
		return 2 * adc219Table[len(adc219Table)-1].total
	case ChipINA226, ChipINA230, ChipINA231, ChipINA260, ChipINA3221:
		return cyclePeriod(chip, avgCounts[len(avgCounts)-1], ct226[len(ct226)-1], inputs)
	case ChipINA228:
		return cyclePeriod(chip, avgCounts[len(avgCounts)-1], ct228[len(ct228)-1], inputs)
	}
	return 0
}
