package ina

import (
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
	}
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
// dst[0]. The INA260 has no shunt voltage register: Shunt stays 0. Overflow is
// the OVF flag or a current or bus voltage at its full-scale code.
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
	current, err := d.read16(ina260RegCurrent, "current")
	if err != nil {
		return err
	}
	bus, err := d.read16(ina260RegBus, "bus voltage")
	if err != nil {
		return err
	}
	power, err := d.read16(ina260RegPower, "power")
	if err != nil {
		return err
	}
	i := int16(current)
	dst[0] = Reading{
		Bus:      physic.ElectricPotential(bus) * 1250 * physic.MicroVolt,
		Current:  physic.ElectricCurrent(i) * 1250 * physic.MicroAmpere,
		Power:    physic.Power(power) * 10 * physic.MilliWatt,
		Overflow: flags&ina226OVF != 0 || i == 0x7FFF || i == -0x8000 || bus >= 0x7FFF,
	}
	return nil
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
