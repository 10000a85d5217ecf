package ina

import (
	"errors"
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

	ina226ConfigPOR   = 0x4127
	ina226ConfigFixed = 0x4000 // bits 14:12 read back as 100b
	ina226CVRF        = 1 << 3
	ina226OVF         = 1 << 2
	ina226MaskRsvd    = 0x03E0 // Mask/Enable bits 9:5 are reserved: 0

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
	rb      readback
	curM    currentModel
	powM    powerModel
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
		curM:    currentModel{num: int64(cal), den: 2048, name: fmt.Sprintf("calibration %d / 2048", cal)},
		powM: powerModel{div: 20000, kind: perConversionPower(o.Averaging),
			iMax: max(32768, (32768*uint64(cal)+2047)/2048), vMax: 0x7FFF, noise: 16*uint64(cal)/2048 + 1},
	}
	// RST (15) reads 0, bits 14:12 read 100b; calibration bit 15 is reserved.
	d.rb = readback226(d.config, ina226ConfigPOR, 0xF000, ina226ConfigFixed, ina226RegCal, cal, 0x8000)
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
// power into dst[0], then reads back one setting (see readback226). Overflow
// is the OVF flag (math overflow of the current or power calculation) or a
// shunt or bus voltage at its full-scale code.
//
// A reading is refused with ErrImplausible when the setting read back is not
// what was written, a reserved bit is set, the current disagrees with the
// shunt voltage × calibration, or the power with the current × bus voltage
// (see powerModel). The registers are read once more before Sense gives up.
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
func (d *INA226) sample(flags uint16) (Reading, error) {
	shunt, err := d.read16(ina226RegShunt, "shunt voltage")
	if err != nil {
		return Reading{}, err
	}
	bus, err := d.read16(ina226RegBus, "bus voltage")
	if err != nil {
		return Reading{}, err
	}
	current, err := d.read16(ina226RegCurrent, "current")
	if err != nil {
		return Reading{}, err
	}
	power, err := d.read16(ina226RegPower, "power")
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
	s, i := int16(shunt), int16(current)
	ovf := flags&ina226OVF != 0
	clampedI := ovf || i == 0x7FFF || i == -0x8000
	if !clampedI {
		if err := d.curM.check(&d.regs, int64(s), int64(i)); err != nil {
			return Reading{}, err
		}
		if power != 0xFFFF {
			if err := d.powM.check(&d.regs, uint64(power), absCode(int64(i)), uint64(bus)); err != nil {
				return Reading{}, err
			}
		}
	}
	r := Reading{
		Bus:      physic.ElectricPotential(bus) * 1250 * physic.MicroVolt,
		Shunt:    physic.ElectricPotential(s) * 2500 * physic.NanoVolt,
		Overflow: ovf || s == 0x7FFF || s == -0x8000 || bus >= 0x7FFF,
	}
	cur, ok1 := d.current.apply(int64(i))
	p, ok2 := d.power.apply(int64(power))
	r.Current, r.Power = physic.ElectricCurrent(cur), physic.Power(p)
	r.Overflow = r.Overflow || !ok1 || !ok2
	return r, nil
}

// readback226 picks the setting an INA219 or INA226 reads back on every
// Sense: the configuration, which also shows a reset when it differs from
// the power-on value, or the calibration when the configuration written is
// the power-on value itself (a reset chip would read the same). A reset
// clears the calibration, so a chip that lost it is also refused by the
// current check as soon as current flows.
func readback226(config, por, fixedMask, fixedVal uint16, calReg byte, cal, calRsvd uint16) readback {
	if config != por {
		return readback{reg: 0x00, what: "configuration", want: config, por: por, fixedMask: fixedMask, fixedVal: fixedVal}
	}
	return readback{reg: calReg, what: "calibration", want: cal, por: 0, fixedMask: calRsvd}
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
