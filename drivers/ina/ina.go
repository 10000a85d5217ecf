package ina

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip names one member of the family, as written in configuration files.
type Chip string

// The supported chips.
const (
	ChipINA219  Chip = "ina219"
	ChipINA226  Chip = "ina226"
	ChipINA230  Chip = "ina230" // INA226 register map, no ID registers
	ChipINA231  Chip = "ina231" // INA226 register map, no ID registers
	ChipINA260  Chip = "ina260"
	ChipINA3221 Chip = "ina3221"
	ChipINA228  Chip = "ina228"
)

// Chips lists the supported chips.
var Chips = []Chip{ChipINA219, ChipINA226, ChipINA230, ChipINA231, ChipINA260, ChipINA3221, ChipINA228}

func (c Chip) String() string { return string(c) }

// Set parses a chip name, case-insensitively ("INA226" or "ina226"), so that a
// Chip can be a flag.Value or a configuration field.
func (c *Chip) Set(s string) error {
	v := Chip(strings.ToLower(strings.TrimSpace(s)))
	if !v.valid() {
		return fmt.Errorf("ina: unknown chip %q (want one of %s)", s, chipList())
	}
	*c = v
	return nil
}

func (c Chip) valid() bool {
	for _, k := range Chips {
		if c == k {
			return true
		}
	}
	return false
}

func chipList() string {
	var b strings.Builder
	for i, c := range Chips {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(c))
	}
	return b.String()
}

// Reading is one result of one channel.
type Reading struct {
	Bus     physic.ElectricPotential // bus (load-side) voltage
	Shunt   physic.ElectricPotential // voltage across the shunt; 0 on the INA260, which has no shunt voltage register
	Current physic.ElectricCurrent   // positive when flowing from IN+ to IN−
	Power   physic.Power
	// Energy is the INA228 hardware accumulator since its last reset
	// (power-on, RSTACC), extended past the 40-bit register's wrap.
	Energy    physic.Energy
	HasEnergy bool
	// DieTemp is the INA228 die temperature.
	DieTemp    physic.Temperature
	HasDieTemp bool
	// Overflow is set when the chip reports a math overflow (current or power
	// out of range) or an ADC code at its full-scale limit. The other fields
	// still hold what the chip reported.
	Overflow bool
}

func (r Reading) String() string {
	s := fmt.Sprintf("Bus: %s, Shunt: %s, Current: %s, Power: %s", r.Bus, r.Shunt, r.Current, r.Power)
	if r.HasEnergy {
		s += ", Energy: " + r.Energy.String()
	}
	if r.HasDieTemp {
		s += ", Die: " + r.DieTemp.String()
	}
	if r.Overflow {
		s += " (overflow)"
	}
	return s
}

// Mode selects how the chip converts.
type Mode uint8

const (
	// Continuous converts bus and shunt voltages (and the die temperature on
	// the INA228) back to back; Sense returns the latest averaged result.
	Continuous Mode = iota
	// Triggered converts once per Sense: Sense starts one averaged conversion
	// and waits (Opts.Sleep) until the chip flags it ready.
	Triggered
)

func (m Mode) String() string {
	switch m {
	case Continuous:
		return "continuous"
	case Triggered:
		return "triggered"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ChannelOpts configures one INA3221 channel.
type ChannelOpts struct {
	// Disabled turns the channel off; it is then skipped in the conversion
	// cycle and Sense leaves a zero Reading for it.
	Disabled bool
	// Shunt is the channel's shunt resistor; required for an enabled channel.
	Shunt physic.ElectricResistance
	// MaxCurrent, when set, is checked against the ±163.8 mV shunt range.
	MaxCurrent physic.ElectricCurrent
}

// Opts configures a chip. Zero values of Addr, Averaging, the conversion
// times, BusRange and ShuntRange mean the chip default (see DefaultOpts);
// Shunt and MaxCurrent are required where the chip needs a calibration.
type Opts struct {
	// Addr is the 7-bit I²C address: 0x40-0x4F (INA3221: 0x40-0x43).
	Addr uint16
	// Shunt is the shunt resistor. Ignored by the INA260 (internal 2 mΩ) and
	// the INA3221 (per channel, see Channels).
	Shunt physic.ElectricResistance
	// MaxCurrent is the largest current expected through the shunt, either
	// way. It sets the current LSB (MaxCurrent/2^15, INA228 MaxCurrent/2^19)
	// and must fit the shunt range: MaxCurrent·Shunt ≤ ShuntRange.
	MaxCurrent physic.ElectricCurrent
	// CurrentLSB, when not zero, forces the current LSB instead of deriving it
	// from MaxCurrent (datasheets round it to a convenient value, e.g. 1 mA).
	CurrentLSB physic.ElectricCurrent
	// Averaging is the number of conversions averaged into one result:
	// 1, 4, 16, 64, 128, 256, 512 or 1024 (INA219: 1, 2, 4 … 128).
	Averaging int
	// BusConversion and ShuntConversion are the conversion times of one bus
	// and one shunt sample, from the chip's table (INA226: 140 µs … 8.244 ms;
	// INA228: 50 µs … 4.12 ms, the die temperature always takes 50 µs; INA219:
	// 84, 148, 276 µs (9 to 11 bits, no averaging) or 532 µs (12 bits)).
	BusConversion   time.Duration
	ShuntConversion time.Duration
	// Mode is Continuous (default) or Triggered.
	Mode Mode
	// BusRange is the INA219 bus full-scale range: 16 V or 32 V (default).
	BusRange physic.ElectricPotential
	// ShuntRange is the shunt full-scale range: INA219 PGA 40, 80, 160 or
	// 320 mV; INA228 ADCRANGE 40.96 or 163.84 mV. Zero picks the smallest range
	// that holds MaxCurrent·Shunt.
	ShuntRange physic.ElectricPotential
	// Channels configures the three INA3221 channels.
	Channels [3]ChannelOpts
	// Sleep waits for a conversion in Triggered mode and after Halt; nil means
	// time.Sleep. Tests inject their own.
	Sleep func(time.Duration)
}

// DefaultOpts returns the options of a chip left at its power-on
// configuration (continuous, no averaging, default conversion times) with the
// shunt and full-scale current of the common breakout boards: 100 mΩ and
// 3.2 A (INA219), 100 mΩ and 0.8 A (INA226 family), 15 mΩ and 10 A (INA228),
// 100 mΩ on all three INA3221 channels. An unknown chip gets Addr only.
func DefaultOpts(c Chip) Opts {
	o := Opts{Addr: 0x40, Averaging: 1}
	switch c {
	case ChipINA219:
		o.Shunt = 100 * physic.MilliOhm
		o.MaxCurrent = 3200 * physic.MilliAmpere
		o.BusConversion = 532 * time.Microsecond
		o.ShuntConversion = 532 * time.Microsecond
		o.BusRange = 32 * physic.Volt
	case ChipINA226, ChipINA230, ChipINA231:
		o.Shunt = 100 * physic.MilliOhm
		o.MaxCurrent = 800 * physic.MilliAmpere
		o.BusConversion = 1100 * time.Microsecond
		o.ShuntConversion = 1100 * time.Microsecond
	case ChipINA260:
		o.Shunt = ina260Shunt
		o.MaxCurrent = 15 * physic.Ampere
		o.BusConversion = 1100 * time.Microsecond
		o.ShuntConversion = 1100 * time.Microsecond
	case ChipINA3221:
		o.BusConversion = 1100 * time.Microsecond
		o.ShuntConversion = 1100 * time.Microsecond
		for i := range o.Channels {
			o.Channels[i] = ChannelOpts{Shunt: 100 * physic.MilliOhm}
		}
	case ChipINA228:
		o.Shunt = 15 * physic.MilliOhm
		o.MaxCurrent = 10 * physic.Ampere
		o.BusConversion = 1052 * time.Microsecond
		o.ShuntConversion = 1052 * time.Microsecond
	}
	return o
}

// Dev is what every chip driver in this package provides.
type Dev interface {
	conn.Resource // String() "ina226 0x40 on /dev/i2c-1"; Halt() powers the chip down
	// Chip is the chip this driver was opened as.
	Chip() Chip
	// Channels is the number of Readings Sense fills: 3 for the INA3221, else 1.
	Channels() int
	// Sense fills dst[:Channels()] with the latest result. It does not
	// allocate in steady state.
	Sense(dst []Reading) error
	// UpdatePeriod is the time one averaged result covers.
	UpdatePeriod() time.Duration
}

// New opens chip at opts.Addr on bus, writes its calibration and
// configuration, and returns its driver. A nil opts means DefaultOpts(chip).
func New(bus i2c.Bus, chip Chip, opts *Opts) (Dev, error) {
	switch chip {
	case ChipINA219:
		return NewINA219(bus, opts)
	case ChipINA226, ChipINA230, ChipINA231:
		return newINA226(bus, chip, opts)
	case ChipINA260:
		return NewINA260(bus, opts)
	case ChipINA3221:
		return NewINA3221(bus, opts)
	case ChipINA228:
		return NewINA228(bus, opts)
	}
	return nil, fmt.Errorf("ina: unknown chip %q (want one of %s)", string(chip), chipList())
}

// ErrNotIdentified is returned (wrapped) by Detect when a device answers at
// the address but its ID registers name no supported chip. It may be an INA219,
// INA230 or INA231 (no ID registers) or another device altogether.
var ErrNotIdentified = errors.New("no INA identification")

// resolve copies opts (or the defaults) and fills zero fields with the chip's
// defaults, so that drivers only ever see complete options.
func resolve(c Chip, opts *Opts) Opts {
	d := DefaultOpts(c)
	if opts == nil {
		return d
	}
	o := *opts
	if o.Addr == 0 {
		o.Addr = d.Addr
	}
	if o.Averaging == 0 {
		o.Averaging = d.Averaging
	}
	if o.BusConversion == 0 {
		o.BusConversion = d.BusConversion
	}
	if o.ShuntConversion == 0 {
		o.ShuntConversion = d.ShuntConversion
	}
	if o.BusRange == 0 {
		o.BusRange = d.BusRange
	}
	return o
}

func checkAddr(c Chip, addr uint16, last uint16) error {
	if addr < 0x40 || addr > last {
		return fmt.Errorf("%s: Opts.Addr %#02x out of range 0x40-%#02x", c, addr, last)
	}
	return nil
}
