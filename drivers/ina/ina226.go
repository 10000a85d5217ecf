package ina

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// INA226 registers (SBOS547 §7); the INA230 and INA231 use the same map up to
// 07h and have no ID registers.
const (
	ina226RegConfig  = 0x00 // RST(15) 100b(14:12) AVG(11:9) VBUSCT(8:6) VSHCT(5:3) MODE(2:0); POR 4127h
	ina226RegShunt   = 0x01 // signed, 2.5 µV
	ina226RegBus     = 0x02 // 1.25 mV, bit 15 always 0
	ina226RegPower   = 0x03 // unsigned × 25·Current_LSB
	ina226RegCurrent = 0x04 // signed × Current_LSB
	ina226RegCal     = 0x05 // 15 bits
	ina226RegMask    = 0x06 // Mask/Enable: CVRF(3) OVF(2); reading clears CVRF

	ina226ConfigFixed = 0x4000 // bits 14:12 read back as 100b
	ina226CVRF        = 1 << 3
	ina226OVF         = 1 << 2

	modeTriggered  = 0b011 // shunt and bus, triggered (INA226, INA260, INA3221)
	modeContinuous = 0b111 // shunt and bus, continuous
)

// INA226 is a calibrated INA226, INA230 or INA231.
type INA226 struct {
	regs
	chip    Chip
	mode    Mode
	config  uint16
	period  time.Duration
	current ratio
	power   ratio
	halted  bool
}

var _ conn.Resource = (*INA226)(nil)
var _ Dev = (*INA226)(nil)

// NewINA226 calibrates and configures an INA226 at opts.Addr. A nil opts
// means DefaultOpts(ChipINA226). Use New with ChipINA230 or ChipINA231 for
// those chips; they differ only in name and ratings.
func NewINA226(bus i2c.Bus, opts *Opts) (*INA226, error) {
	return newINA226(bus, ChipINA226, opts)
}

// ina226Range is the shunt full scale: 32768 × 2.5 µV.
const ina226Range = 81920 * physic.MicroVolt

func newINA226(bus i2c.Bus, c Chip, opts *Opts) (*INA226, error) {
	o := resolve(c, opts)
	if err := checkAddr(c, o.Addr, 0x4F); err != nil {
		return nil, err
	}
	if err := checkShuntCurrent(c, &o); err != nil {
		return nil, err
	}
	if _, err := pickShuntRange(c, &o, []physic.ElectricPotential{ina226Range}); err != nil {
		return nil, err
	}
	config, period, err := config226(c, &o, &ct226, 1)
	if err != nil {
		return nil, err
	}
	cal, cur, pow, err := calInverse(c, &o, 512e13, 0x7FFF, false, 25)
	if err != nil {
		return nil, err
	}
	d := &INA226{
		regs:    newRegs(bus, c, o.Addr, o.Sleep),
		chip:    c,
		mode:    o.Mode,
		config:  ina226ConfigFixed | config,
		period:  period,
		current: cur,
		power:   pow,
	}
	if err := d.write16(ina226RegCal, cal, "calibration"); err != nil {
		return nil, err
	}
	if err := d.write16(ina226RegConfig, d.config, "configuration"); err != nil {
		return nil, err
	}
	return d, nil
}

// config226 encodes AVG(11:9) VBUSCT(8:6) VSHCT(5:3) MODE(2:0), the layout
// the INA226, INA260 and INA3221 share, and returns the update period
// (VBUSCT+VSHCT)·AVG·channels.
func config226(c Chip, o *Opts, table *[8]time.Duration, channels int) (uint16, time.Duration, error) {
	avg, err := avgCode(c, o.Averaging)
	if err != nil {
		return 0, 0, err
	}
	vbus, err := ctCode(c, table, "BusConversion", o.BusConversion)
	if err != nil {
		return 0, 0, err
	}
	vsh, err := ctCode(c, table, "ShuntConversion", o.ShuntConversion)
	if err != nil {
		return 0, 0, err
	}
	var mode uint16
	switch o.Mode {
	case Continuous:
		mode = modeContinuous
	case Triggered:
		mode = modeTriggered
	default:
		return 0, 0, fmt.Errorf("%s: Opts.Mode %v unknown", c, o.Mode)
	}
	period := (o.BusConversion + o.ShuntConversion) * time.Duration(o.Averaging) * time.Duration(channels)
	return avg<<9 | vbus<<6 | vsh<<3 | mode, period, nil
}

// Chip returns the chip the driver was opened as (ina226, ina230 or ina231).
func (d *INA226) Chip() Chip { return d.chip }

// Channels returns 1.
func (d *INA226) Channels() int { return 1 }

// UpdatePeriod is (VBUSCT+VSHCT)·AVG.
func (d *INA226) UpdatePeriod() time.Duration { return d.period }

// Sense reads the Mask/Enable flags, shunt voltage, bus voltage, current and
// power into dst[0]. Overflow is the OVF flag (math overflow of the current or
// power calculation) or a shunt or bus voltage at its full-scale code.
func (d *INA226) Sense(dst []Reading) error {
	if len(dst) < 1 {
		return fmt.Errorf("%s: Sense needs room for 1 reading, got %d", d.name, len(dst))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	flags, err := d.flags226(&d.halted, d.mode, d.config, d.period)
	if err != nil {
		return err
	}
	shunt, err := d.read16(ina226RegShunt, "shunt voltage")
	if err != nil {
		return err
	}
	bus, err := d.read16(ina226RegBus, "bus voltage")
	if err != nil {
		return err
	}
	current, err := d.read16(ina226RegCurrent, "current")
	if err != nil {
		return err
	}
	power, err := d.read16(ina226RegPower, "power")
	if err != nil {
		return err
	}
	s := int16(shunt)
	r := Reading{
		Bus:      physic.ElectricPotential(bus) * 1250 * physic.MicroVolt,
		Shunt:    physic.ElectricPotential(s) * 2500 * physic.NanoVolt,
		Overflow: flags&ina226OVF != 0 || s == 0x7FFF || s == -0x8000 || bus >= 0x7FFF,
	}
	i, ok1 := d.current.apply(int64(int16(current)))
	p, ok2 := d.power.apply(int64(power))
	r.Current, r.Power = physic.ElectricCurrent(i), physic.Power(p)
	r.Overflow = r.Overflow || !ok1 || !ok2
	dst[0] = r
	return nil
}

// flags226 reads Mask/Enable. In triggered mode, or after Halt, it first
// writes the configuration (which starts a conversion) and polls CVRF until
// the result is in.
func (d *regs) flags226(halted *bool, mode Mode, config uint16, period time.Duration) (uint16, error) {
	if mode != Triggered && !*halted {
		return d.read16(ina226RegMask, "mask/enable")
	}
	if err := d.write16(ina226RegConfig, config, "configuration"); err != nil {
		return 0, err
	}
	*halted = false
	var flags uint16
	err := d.waitReady(period, func() (bool, error) {
		v, err := d.read16(ina226RegMask, "mask/enable")
		flags = v
		return v&ina226CVRF != 0, err
	})
	return flags, err
}

// Halt puts the chip in power-down mode. The next Sense restarts conversions
// and waits for a fresh result.
func (d *INA226) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina226RegConfig, d.config&^0b111, "power-down"); err != nil {
		return err
	}
	d.halted = true
	return nil
}
