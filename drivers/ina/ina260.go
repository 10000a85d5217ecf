package ina

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// INA260 registers (SBOS656 §8.6): the INA226 layout without shunt voltage or
// calibration, with fixed LSBs for the integrated 2 mΩ shunt.
const (
	ina260RegConfig  = 0x00 // RST(15) 110b(14:12) AVG(11:9) VBUSCT(8:6) ISHCT(5:3) MODE(2:0); POR 6127h
	ina260RegCurrent = 0x01 // signed, 1.25 mA
	ina260RegBus     = 0x02 // 1.25 mV
	ina260RegPower   = 0x03 // unsigned, 10 mW

	ina260ConfigPOR   = 0x6127
	ina260ConfigFixed = 0x6000 // bits 14:12 read back as 110b

	ina260Shunt = 2 * physic.MilliOhm
)

// INA260 is an INA260, which needs no calibration.
type INA260 struct {
	regs
	mode   Mode
	config uint16
	period time.Duration
	halted bool
	rb     readback
	powM   powerModel
}

var _ conn.Resource = (*INA260)(nil)
var _ Dev = (*INA260)(nil)

// NewINA260 configures an INA260 at opts.Addr. Shunt, MaxCurrent, CurrentLSB
// and ShuntRange are ignored: the shunt is internal. A nil opts means
// DefaultOpts(ChipINA260).
func NewINA260(bus i2c.Bus, opts *Opts) (*INA260, error) {
	const c = ChipINA260
	o := resolve(c, opts)
	if err := checkAddr(c, o.Addr, 0x4F); err != nil {
		return nil, err
	}
	config, period, err := config226(c, &o, &ct226, 1)
	if err != nil {
		return nil, err
	}
	d := &INA260{
		regs:   newRegs(bus, c, o.Addr, o.Sleep),
		mode:   o.Mode,
		config: ina260ConfigFixed | config,
		period: period,
		// 1.25 mA × 1.25 mV / 10 mW: power = |current|·bus/6400. The
		// offset and noise of the internal shunt stay within 16 counts.
		powM: powerModel{div: 6400, kind: perConversionPower(o.Averaging), iMax: 32768, vMax: 0x7FFF, noise: 16},
	}
	// The INA260 has no calibration: the configuration is read back even
	// when it is the power-on value (a reset chip then runs as configured).
	d.rb = readback{reg: ina260RegConfig, what: "configuration", want: d.config, por: ina260ConfigPOR,
		fixedMask: 0xF000, fixedVal: ina260ConfigFixed}
	if err := d.write16(ina260RegConfig, d.config, "configuration"); err != nil {
		return nil, err
	}
	return d, nil
}

// Chip returns ChipINA260.
func (d *INA260) Chip() Chip { return ChipINA260 }

// Channels returns 1.
func (d *INA260) Channels() int { return 1 }

// UpdatePeriod is (VBUSCT+ISHCT)·AVG.
func (d *INA260) UpdatePeriod() time.Duration { return d.period }

// Sense reads the Mask/Enable flags, current, bus voltage and power into
// dst[0], then reads the configuration back. The INA260 has no shunt
// voltage register: Shunt stays 0. Overflow is the OVF flag or a current or
// bus voltage at its full-scale code.
//
// A reading is refused with ErrImplausible when the configuration does not
// read what was written, a reserved bit is set, or the power disagrees with
// the current × bus voltage (see powerModel). The registers are read once
// more before Sense gives up.
func (d *INA260) Sense(dst []Reading) error {
	if len(dst) < 1 {
		return fmt.Errorf("%s: Sense needs room for 1 reading, got %d", d.name, len(dst))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	flags, err := d.flags226(&d.halted, d.mode, d.config, d.period)
	if err != nil {
		return err
	}
	r, err := d.sample(flags)
	if errors.Is(err, ErrImplausible) {
		if flags, err = d.read16(ina226RegMask, "mask/enable"); err == nil {
			r, err = d.sample(flags)
		}
	}
	if err != nil {
		return err
	}
	dst[0] = r
	return nil
}

// sample reads and checks one result; flags is Mask/Enable, already read.
func (d *INA260) sample(flags uint16) (Reading, error) {
	current, err := d.read16(ina260RegCurrent, "current")
	if err != nil {
		return Reading{}, err
	}
	bus, err := d.read16(ina260RegBus, "bus voltage")
	if err != nil {
		return Reading{}, err
	}
	power, err := d.read16(ina260RegPower, "power")
	if err != nil {
		return Reading{}, err
	}
	if err := d.check(&d.rb); err != nil {
		return Reading{}, err
	}
	if err := d.reserved("mask/enable", uint64(flags), ina226MaskRsvd, "9:5"); err != nil {
		return Reading{}, err
	}
	if err := d.reserved("bus voltage", uint64(bus), 0x8000, "15"); err != nil {
		return Reading{}, err
	}
	i := int16(current)
	ovf := flags&ina226OVF != 0
	if !ovf && i != 0x7FFF && i != -0x8000 && power != 0xFFFF {
		if err := d.powM.check(&d.regs, uint64(power), absCode(int64(i)), uint64(bus)); err != nil {
			return Reading{}, err
		}
	}
	return Reading{
		Bus:      physic.ElectricPotential(bus) * 1250 * physic.MicroVolt,
		Current:  physic.ElectricCurrent(i) * 1250 * physic.MicroAmpere,
		Power:    physic.Power(power) * 10 * physic.MilliWatt,
		Overflow: ovf || i == 0x7FFF || i == -0x8000 || bus >= 0x7FFF,
	}, nil
}

// Halt puts the chip in power-down mode. The next Sense restarts conversions
// and waits for a fresh result.
func (d *INA260) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina260RegConfig, d.config&^0b111, "power-down"); err != nil {
		return err
	}
	d.halted = true
	return nil
}
