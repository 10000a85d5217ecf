package sim

import (
	"time"

	"periph.io/x/conn/v3/physic"
)

// INA219 emulates TI's INA219 (SBOS448): shunt LSB 10 µV at every PGA gain
// (the ADC step grows with the range), bus LSB 4 mV in bits 15:3 with CNVR
// (bit 1) and OVF (bit 0), Current = Shunt × CAL / 4096 and
// Power = |Current| × Bus / 5000 truncated like the chip. CNVR is cleared by
// reading the power register or writing the configuration. It has no ID
// register: a reset (bit 15) makes the configuration read back 399Fh.
type INA219 struct {
	sig   Signal
	shunt float64 // Ω

	ptr     byte
	config  uint16
	cal     uint16
	calPrev uint16
	calSet  time.Time

	seq      sequencer
	held     ina219Result
	cache    ina219Result
	cacheEnd time.Time
}

type ina219Result struct {
	shunt   int64 // 10 µV counts
	bus     int64 // 4 mV counts
	current int64
	power   int64
	ovf     bool
}

// NewINA219 returns an INA219 that sees sig through a shunt of the given
// resistance.
func NewINA219(sig Signal, shunt physic.ElectricResistance) *INA219 {
	c := &INA219{sig: sig, shunt: float64(shunt) / float64(physic.Ohm)}
	c.PowerOn(time.Time{})
	return c
}

// ina219ADC decodes a BADC/SADC field: the conversion time (averages
// included) and the resolution in bits.
func ina219ADC(code uint16) (time.Duration, uint) {
	if code&8 == 0 {
		single := [4]time.Duration{84 * time.Microsecond, 148 * time.Microsecond, 276 * time.Microsecond, 532 * time.Microsecond}
		return single[code&3], 9 + uint(code&3)
	}
	avg := [8]time.Duration{
		532 * time.Microsecond, 1060 * time.Microsecond, 2130 * time.Microsecond, 4260 * time.Microsecond,
		8510 * time.Microsecond, 17020 * time.Microsecond, 34050 * time.Microsecond, 68100 * time.Microsecond,
	}
	return avg[code&7], 12
}

// PowerOn returns the chip to its power-on state at now.
func (c *INA219) PowerOn(now time.Time) {
	c.ptr = 0
	c.config = 0x399f
	c.cal, c.calPrev, c.calSet = 0, 0, now
	c.held = ina219Result{}
	c.restart(now)
}

func (c *INA219) restart(now time.Time) {
	mode, sh, bus := ina226Mode(c.config)
	var period time.Duration
	if bus {
		t, _ := ina219ADC(c.config >> 7 & 0xf)
		period += t
	}
	if sh {
		t, _ := ina219ADC(c.config >> 3 & 0xf)
		period += t
	}
	c.seq.restart(now, mode, period, 1)
	c.cacheEnd = time.Time{}
}

func (c *INA219) result(now time.Time) ina219Result {
	s, e, ok := c.seq.window(now)
	if !ok {
		return c.held
	}
	if e.Equal(c.cacheEnd) {
		return c.cache
	}
	_, shOn, busOn := ina226Mode(c.config)
	r := c.held
	v, i := Means(c.sig, s, e)
	if shOn {
		pg := uint(c.config >> 11 & 3)
		_, res := ina219ADC(c.config >> 3 & 0xf)
		step := int64(1) << pg << (12 - res)
		fs := int64(4000) << pg
		r.shunt = quant(i*c.shunt, 10e-6*float64(step), -fs/step, fs/step) * step
	}
	if busOn {
		_, res := ina219ADC(c.config >> 7 & 0xf)
		step := int64(1) << (12 - res)
		fs := int64(4000)
		if c.config&(1<<13) != 0 {
			fs = 8000
		}
		r.bus = quant(v, 4e-3*float64(step), 0, fs/step) * step
	}
	cal := c.cal
	if !e.After(c.calSet) {
		cal = c.calPrev
	}
	cur, o1 := clamp(r.shunt*int64(cal)/4096, -32768, 32767)
	pw, o2 := clamp(abs64(cur)*r.bus/5000, 0, 65535)
	r.current, r.power, r.ovf = cur, pw, o1 || o2
	c.cache, c.cacheEnd = r, e
	return r
}

// Transfer implements Device.
func (c *INA219) Transfer(now time.Time, w, r []byte) error {
	a := parseAccess(c.ptr, w)
	c.ptr = a.ptr
	if a.write {
		switch a.ptr {
		case 0x00:
			if a.val&0x8000 != 0 {
				c.PowerOn(now)
				break
			}
			c.held = c.result(now)
			c.config = a.val & 0x3fff
			c.restart(now)
		case 0x05:
			if now.After(c.calSet) {
				c.calPrev = c.cal // in force for windows that ended before now
			}
			c.cal = a.val & 0xfffe
			c.calSet = now
			c.cacheEnd = time.Time{}
		}
	}
	if len(r) == 0 {
		return nil
	}
	var v uint16
	switch c.ptr {
	case 0x00:
		v = c.config
	case 0x01:
		v = uint16(c.result(now).shunt)
	case 0x02:
		res := c.result(now)
		v = uint16(res.bus) << 3
		if c.seq.ready(now) {
			v |= 1 << 1
		}
		if res.ovf {
			v |= 1
		}
	case 0x03:
		v = uint16(c.result(now).power)
		c.seq.clear(now)
	case 0x04:
		v = uint16(c.result(now).current)
	case 0x05:
		v = c.cal
	}
	putReg(r, uint64(v), 2)
	return nil
}
