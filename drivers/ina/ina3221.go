package ina

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// INA3221 registers (SBOS576 §8): no current or power registers; results are
// sign + 12 bits in bits 15:3.
const (
	ina3221RegConfig = 0x00 // RST(15) CH1en(14) CH2en(13) CH3en(12) AVG(11:9) VBUSCT(8:6) VSHCT(5:3) MODE(2:0); POR 7127h
	ina3221RegShunt1 = 0x01 // channel n shunt at 01h+2(n-1): 40 µV
	ina3221RegBus1   = 0x02 // channel n bus at 02h+2(n-1): 8 mV
	ina3221RegMask   = 0x0F // CVRF(0); reading clears it

	ina3221CVRF      = 1 << 0
	ina3221ConfigPOR = 0x7127
	ina3221Rsvd      = 0x0007 // bits 2:0 of the shunt and bus registers read 0

	ina3221FullScale = 4095 // largest code magnitude of bits 15:3 (7FF8h)
)

// ina3221Range is the shunt full scale: 4095 × 40 µV.
const ina3221Range = 163800 * physic.MicroVolt

// INA3221 is a three-channel INA3221. Current and power are computed by the
// driver: I = Vshunt/R and P = Vbus·|I|, a magnitude like the power registers
// of the other chips.
type INA3221 struct {
	regs
	mode    Mode
	config  uint16
	period  time.Duration
	enabled [3]bool
	current [3]ratio // shunt counts → nA
	power   [3]ratio // bus counts × shunt counts → nW
	halted  bool
	rb      readback
}

var _ conn.Resource = (*INA3221)(nil)
var _ Dev = (*INA3221)(nil)

// NewINA3221 configures an INA3221 at opts.Addr (0x40-0x43) with the shunts
// of opts.Channels. A nil opts means DefaultOpts(ChipINA3221).
func NewINA3221(bus i2c.Bus, opts *Opts) (*INA3221, error) {
	const c = ChipINA3221
	o := resolve(c, opts)
	if err := checkAddr(c, o.Addr, 0x43); err != nil {
		return nil, err
	}
	d := &INA3221{mode: o.Mode}
	var enable uint16
	n := 0
	for i, ch := range o.Channels {
		if ch.Disabled {
			continue
		}
		if ch.Shunt <= 0 || ch.Shunt > maxShunt {
			return nil, fmt.Errorf("%s: Opts.Channels[%d].Shunt %s out of range (0, %s]", c, i, ch.Shunt, maxShunt)
		}
		if ch.MaxCurrent < 0 {
			return nil, fmt.Errorf("%s: Opts.Channels[%d].MaxCurrent %s must not be negative", c, i, ch.MaxCurrent)
		}
		if drop := shuntDrop(ch.MaxCurrent, ch.Shunt); drop > ina3221Range {
			return nil, fmt.Errorf("%s: Opts.Channels[%d].MaxCurrent %s × Shunt %s = %s exceeds the chip's %s shunt range",
				c, i, ch.MaxCurrent, ch.Shunt, drop, ina3221Range)
		}
		r := uint64(ch.Shunt)
		d.enabled[i] = true
		d.current[i] = ratio{40000 * 1e9, r} // 40 µV/R in nA
		d.power[i] = ratio{8e6 * 40000, r}   // 8 mV × 40 µV/R in nW
		enable |= 1 << (14 - i)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: Opts.Channels: all three channels are disabled", c)
	}
	config, period, err := config226(c, &o, &ct226, n)
	if err != nil {
		return nil, err
	}
	d.regs = newRegs(bus, c, o.Addr, o.Sleep)
	d.config = enable | config
	d.period = period
	// No calibration and no power register: the configuration is read back,
	// RST (15) reads 0, and the low bits of every result are reserved.
	d.rb = readback{reg: ina3221RegConfig, what: "configuration", want: d.config, por: ina3221ConfigPOR, fixedMask: 0x8000}
	if err := d.write16(ina3221RegConfig, d.config, "configuration"); err != nil {
		return nil, err
	}
	return d, nil
}

// Chip returns ChipINA3221.
func (d *INA3221) Chip() Chip { return ChipINA3221 }

// Channels returns 3; a disabled channel reads as a zero Reading.
func (d *INA3221) Channels() int { return 3 }

// UpdatePeriod is (VBUSCT+VSHCT)·AVG for each enabled channel, in turn.
func (d *INA3221) UpdatePeriod() time.Duration { return d.period }

// Sense reads the shunt and bus voltages of each enabled channel into dst[0:3]
// and computes current and power, then reads the configuration back.
// Overflow is a shunt or bus code at its full-scale limit (the INA3221 has no
// overflow flag).
//
// The INA3221 has no current or power register to check against: a reading
// is refused with ErrImplausible when the configuration does not read what
// was written or when a result has one of its reserved bits 2:0 set. The
// registers are read once more before Sense gives up.
func (d *INA3221) Sense(dst []Reading) error {
	if len(dst) < 3 {
		return fmt.Errorf("%s: Sense needs room for 3 readings, got %d", d.name, len(dst))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mode == Triggered || d.halted {
		if err := d.write16(ina3221RegConfig, d.config, "configuration"); err != nil {
			return err
		}
		d.halted = false
		err := d.waitReady(d.period, func() (bool, error) {
			v, err := d.read16(ina3221RegMask, "mask/enable")
			return v&ina3221CVRF != 0, err
		})
		if err != nil {
			return err
		}
	}
	var r [3]Reading
	err := d.sample(&r)
	if errors.Is(err, ErrImplausible) {
		err = d.sample(&r)
	}
	if err != nil {
		return err
	}
	copy(dst, r[:])
	return nil
}

// sample reads and checks one result of every enabled channel into r.
func (d *INA3221) sample(r *[3]Reading) error {
	var raw [3][2]uint16
	for i := range 3 {
		if !d.enabled[i] {
			continue
		}
		reg := byte(2 * i)
		shunt, err := d.read16(ina3221RegShunt1+reg, channelOp[i].shunt)
		if err != nil {
			return err
		}
		bus, err := d.read16(ina3221RegBus1+reg, channelOp[i].bus)
		if err != nil {
			return err
		}
		raw[i] = [2]uint16{shunt, bus}
	}
	if err := d.check(&d.rb); err != nil {
		return err
	}
	for i := range 3 {
		if !d.enabled[i] {
			r[i] = Reading{}
			continue
		}
		shunt, bus := raw[i][0], raw[i][1]
		if err := d.reserved(channelOp[i].shunt, uint64(shunt), ina3221Rsvd, "2:0"); err != nil {
			return err
		}
		if err := d.reserved(channelOp[i].bus, uint64(bus), ina3221Rsvd, "2:0"); err != nil {
			return err
		}
		s, b := int64(int16(shunt)>>3), int64(int16(bus)>>3)
		cur, ok1 := d.current[i].apply(s)
		pow, ok2 := d.power[i].apply(abs(s * b))
		r[i] = Reading{
			Bus:     physic.ElectricPotential(b) * 8 * physic.MilliVolt,
			Shunt:   physic.ElectricPotential(s) * 40 * physic.MicroVolt,
			Current: physic.ElectricCurrent(cur),
			Power:   physic.Power(pow),
			Overflow: !ok1 || !ok2 ||
				s >= ina3221FullScale || s <= -ina3221FullScale-1 ||
				b >= ina3221FullScale || b <= -ina3221FullScale-1,
		}
	}
	return nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// channelOp names the per-channel reads without building strings per Sense.
var channelOp = [3]struct{ shunt, bus string }{
	{"channel 1 shunt voltage", "channel 1 bus voltage"},
	{"channel 2 shunt voltage", "channel 2 bus voltage"},
	{"channel 3 shunt voltage", "channel 3 bus voltage"},
}

// Halt puts the chip in power-down mode. The next Sense restarts conversions
// and waits for a fresh result.
func (d *INA3221) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina3221RegConfig, d.config&^0b111, "power-down"); err != nil {
		return err
	}
	d.halted = true
	return nil
}
