package ina

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// INA219 registers (SBOS448 §8.6).
const (
	ina219RegConfig  = 0x00 // RST(15) BRNG(13) PG(12:11) BADC(10:7) SADC(6:3) MODE(2:0); POR 399Fh
	ina219RegShunt   = 0x01 // signed, 10 µV
	ina219RegBus     = 0x02 // BD12..0 in 15:3 × 4 mV, CNVR(1), OVF(0)
	ina219RegPower   = 0x03 // unsigned × 20·Current_LSB; reading it clears CNVR
	ina219RegCurrent = 0x04 // signed × Current_LSB
	ina219RegCal     = 0x05 // FS15..FS1; bit 0 void

	ina219ConfigPOR = 0x399F
	ina219Reset     = 0x8000
	ina219BRNG32    = 1 << 13
	ina219CNVR      = 1 << 1
	ina219OVF       = 1 << 0

	ina219ModeTriggered  = 0b011 // shunt and bus, triggered
	ina219ModeContinuous = 0b111 // shunt and bus, continuous
)

// ina219Ranges are the PGA settings ÷1, ÷2, ÷4, ÷8 (PG codes 0-3).
var ina219Ranges = []physic.ElectricPotential{40 * physic.MilliVolt, 80 * physic.MilliVolt, 160 * physic.MilliVolt, 320 * physic.MilliVolt}

// INA219 is a calibrated INA219: 16 V or 32 V bus range, PGA shunt range,
// averaging up to 128 samples.
type INA219 struct {
	regs
	mode     Mode
	config   uint16 // configuration with the conversion mode of opts
	period   time.Duration
	shuntMax int64 // shunt register counts at the PGA full scale
	shuntLim int64 // the 12-bit ADC's codes, sign-extended: ±4096·2^PG
	current  ratio
	power    ratio
	halted   bool
	rb       readback
	curM     currentModel
	powM     powerModel
}

var _ conn.Resource = (*INA219)(nil)
var _ Dev = (*INA219)(nil)

// NewINA219 calibrates and configures an INA219 at opts.Addr. A nil opts
// means DefaultOpts(ChipINA219).
func NewINA219(bus i2c.Bus, opts *Opts) (*INA219, error) {
	const c = ChipINA219
	o := resolve(c, opts)
	if err := checkAddr(c, o.Addr, 0x4F); err != nil {
		return nil, err
	}
	if err := checkShuntCurrent(c, &o); err != nil {
		return nil, err
	}
	pg, err := pickShuntRange(c, &o, ina219Ranges)
	if err != nil {
		return nil, err
	}
	var brng uint16
	switch o.BusRange {
	case 16 * physic.Volt:
	case 32 * physic.Volt:
		brng = ina219BRNG32
	default:
		return nil, fmt.Errorf("%s: Opts.BusRange %s is not 16V or 32V", c, o.BusRange)
	}
	badc, ok := find219(o.Averaging, o.BusConversion)
	if !ok {
		return nil, fmt.Errorf("%s: Opts.Averaging %d with Opts.BusConversion %v is not an ADC setting of the chip (averaging 1 at 84µs, 148µs, 276µs or 532µs; or 2…128 samples at 532µs)",
			c, o.Averaging, o.BusConversion)
	}
	sadc, ok := find219(o.Averaging, o.ShuntConversion)
	if !ok {
		return nil, fmt.Errorf("%s: Opts.Averaging %d with Opts.ShuntConversion %v is not an ADC setting of the chip (averaging 1 at 84µs, 148µs, 276µs or 532µs; or 2…128 samples at 532µs)",
			c, o.Averaging, o.ShuntConversion)
	}
	if o.Mode != Continuous && o.Mode != Triggered {
		return nil, fmt.Errorf("%s: Opts.Mode %v unknown", c, o.Mode)
	}
	cal, cur, pow, err := calInverse(c, &o, 4096e13, 0xFFFE, true, 20)
	if err != nil {
		return nil, err
	}
	d := &INA219{
		regs:     newRegs(bus, c, o.Addr, o.Sleep),
		mode:     o.Mode,
		period:   badc.total + sadc.total,
		shuntMax: int64(ina219Ranges[pg] / (10 * physic.MicroVolt)),
		shuntLim: 4096 << pg,
		current:  cur,
		power:    pow,
		curM:     currentModel{num: int64(cal), den: 4096, name: fmt.Sprintf("calibration %d / 4096", cal)},
		// The shunt register holds ±4000·2^PG counts; the bus voltage is 13
		// bits. A current crossing zero by the offset (up to 100 µV at PGA
		// ÷8) and noise adds up to 32 shunt counts to the mean |I|.
		powM: powerModel{div: 5000, kind: perConversionPower(o.Averaging),
			iMax: max(32768, (32768*uint64(cal)+4095)/4096), vMax: 0x1FFF, noise: 32*uint64(cal)/4096 + 1},
	}
	d.config = brng | uint16(pg)<<11 | badc.code<<7 | sadc.code<<3 | ina219ModeContinuous
	if o.Mode == Triggered {
		d.config = d.config&^0b111 | ina219ModeTriggered
	}
	// RST (15) reads 0 and bit 14 is reserved; calibration bit 0 is void.
	d.rb = readback226(d.config, ina219ConfigPOR, 0xC000, 0, ina219RegCal, cal, 0x0001)
	if err := d.write16(ina219RegCal, cal, "calibration"); err != nil {
		return nil, err
	}
	if err := d.write16(ina219RegConfig, d.config, "configuration"); err != nil {
		return nil, err
	}
	return d, nil
}

// Chip returns ChipINA219.
func (d *INA219) Chip() Chip { return ChipINA219 }

// Channels returns 1.
func (d *INA219) Channels() int { return 1 }

// UpdatePeriod is the bus plus the shunt conversion time (each including its
// averaging).
func (d *INA219) UpdatePeriod() time.Duration { return d.period }

// Sense reads bus voltage, shunt voltage, current and power into dst[0],
// then reads back one setting (see readback226). Overflow is the chip's OVF
// flag (the current or power calculation overflowed) or a shunt voltage at
// the PGA full scale.
//
// A reading is refused with ErrImplausible when the setting read back is not
// what was written, the reserved bit 2 of the bus voltage register is set,
// the shunt voltage is beyond the PGA range, the current disagrees with the
// shunt voltage × calibration, or the power with the current × bus voltage
// (see powerModel). The registers are read once more before Sense gives up.
func (d *INA219) Sense(dst []Reading) error {
	if len(dst) < 1 {
		return fmt.Errorf("%s: Sense needs room for 1 reading, got %d", d.name, len(dst))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var bus uint16
	if d.mode == Triggered || d.halted {
		// Writing the configuration starts a conversion (or restarts them
		// after Halt); CNVR says when its result is in.
		if err := d.write16(ina219RegConfig, d.config, "configuration"); err != nil {
			return err
		}
		d.halted = false
		err := d.waitReady(d.period, func() (bool, error) {
			v, err := d.read16(ina219RegBus, "bus voltage")
			bus = v
			return v&ina219CNVR != 0, err
		})
		if err != nil {
			return err
		}
	} else {
		v, err := d.read16(ina219RegBus, "bus voltage")
		if err != nil {
			return err
		}
		bus = v
	}
	r, err := d.sample(bus)
	if errors.Is(err, ErrImplausible) {
		if bus, err = d.read16(ina219RegBus, "bus voltage"); err == nil {
			r, err = d.sample(bus)
		}
	}
	if err != nil {
		return err
	}
	dst[0] = r
	return nil
}

// sample reads and checks one result; bus is the bus voltage register,
// already read.
func (d *INA219) sample(bus uint16) (Reading, error) {
	shunt, err := d.read16(ina219RegShunt, "shunt voltage")
	if err != nil {
		return Reading{}, err
	}
	current, err := d.read16(ina219RegCurrent, "current")
	if err != nil {
		return Reading{}, err
	}
	power, err := d.read16(ina219RegPower, "power")
	if err != nil {
		return Reading{}, err
	}
	if err := d.check(&d.rb); err != nil {
		return Reading{}, err
	}
	if err := d.reserved("bus voltage", uint64(bus), 1<<2, "2"); err != nil {
		return Reading{}, err
	}
	s, i := int64(int16(shunt)), int16(current)
	if s >= d.shuntLim || s < -d.shuntLim {
		// At PGA ÷1 to ÷4 the high bits are copies of the sign.
		return Reading{}, d.implausible("shunt voltage reads %04Xh (%d × 10 µV): not a sign-extended code of the PGA range ±%d (bus noise)", shunt, s, d.shuntLim)
	}
	ovf := bus&ina219OVF != 0
	if !ovf && i != 0x7FFF && i != -0x8000 {
		if err := d.curM.check(&d.regs, s, int64(i)); err != nil {
			return Reading{}, err
		}
		if power != 0xFFFF {
			if err := d.powM.check(&d.regs, uint64(power), absCode(int64(i)), uint64(bus>>3)); err != nil {
				return Reading{}, err
			}
		}
	}
	r := Reading{
		Bus:      physic.ElectricPotential(bus>>3) * 4 * physic.MilliVolt,
		Shunt:    physic.ElectricPotential(s) * 10 * physic.MicroVolt,
		Overflow: ovf || s >= d.shuntMax || s <= -d.shuntMax,
	}
	cur, ok1 := d.current.apply(int64(i))
	p, ok2 := d.power.apply(int64(power))
	r.Current, r.Power = physic.ElectricCurrent(cur), physic.Power(p)
	r.Overflow = r.Overflow || !ok1 || !ok2
	return r, nil
}

// Halt puts the chip in power-down mode. The next Sense restarts conversions
// and waits for a fresh result.
func (d *INA219) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina219RegConfig, d.config&^0b111, "power-down"); err != nil {
		return err
	}
	d.halted = true
	return nil
}
