package sim

import (
	"time"

	"periph.io/x/conn/v3/physic"
)

// INA226 emulates TI's INA226 (SBOS547) current/power monitor with an
// external shunt: 2.5 µV shunt LSB, 1.25 mV bus LSB,
// Current = Shunt × CAL / 2048 and Power = |Current| × Bus / 20000, both
// truncated like the chip's integer datapath. CAL only takes effect on the
// next completed conversion. Manufacturer/die ID 5449h/2260h.
type INA226 struct{ ina22x }

// INA260 emulates TI's INA260 (SBOS656): an INA226 with a trimmed 2 mΩ
// shunt inside, no calibration register, the current register at 01h
// (1.25 mA LSB) and a 10 mW power LSB. Die ID 2270h.
type INA260 struct{ ina22x }

// NewINA226 returns an INA226 that sees sig through a shunt of the given
// resistance.
func NewINA226(sig Signal, shunt physic.ElectricResistance) *INA226 {
	c := &INA226{ina22x{
		sig:      sig,
		shunt:    float64(shunt) / float64(physic.Ohm),
		fixed:    0x4000,
		por:      0x4127,
		dieID:    0x2260,
		powerDiv: 20000,
	}}
	c.PowerOn(time.Time{})
	return c
}

// NewINA260 returns an INA260 that sees sig through its internal shunt.
func NewINA260(sig Signal) *INA260 {
	c := &INA260{ina22x{
		sig:        sig,
		shunt:      0.002,
		integrated: true,
		fixed:      0x6000,
		por:        0x6127,
		dieID:      0x2270,
		powerDiv:   6400,
	}}
	c.PowerOn(time.Time{})
	return c
}

// ina22x is the register file shared by the INA226 and the INA260.
type ina22x struct {
	sig        Signal
	shunt      float64 // Ω
	integrated bool    // INA260: internal shunt, current at 01h, no CAL
	fixed      uint16  // read-only configuration bits 14:12
	por        uint16  // power-on configuration
	dieID      uint16
	powerDiv   int64

	ptr        byte
	config     uint16
	cal        uint16
	calPrev    uint16
	calSet     time.Time
	mask       uint16 // writable Mask/Enable bits
	limit      uint16
	affLatched bool

	seq      sequencer
	held     ina22xResult
	cache    ina22xResult
	cacheEnd time.Time
}

type ina22xResult struct {
	shunt   int64 // shunt counts (2.5 µV)
	bus     int64 // bus counts (1.25 mV)
	current int64
	power   int64
	ovf     bool
}

// PowerOn returns the chip to its power-on state at now.
func (c *ina22x) PowerOn(now time.Time) {
	c.ptr = 0
	c.config = c.por
	c.cal, c.calPrev, c.calSet = 0, 0, now
	if c.integrated {
		c.cal, c.calPrev = 2048, 2048 // the trimmed shunt behaves as CAL 2048
	}
	c.mask, c.limit, c.affLatched = 0, 0, false
	c.held = ina22xResult{}
	c.cacheEnd = time.Time{}
	c.restart(now)
}

func (c *ina22x) restart(now time.Time) {
	mode, sh, bus := ina226Mode(c.config)
	var sample time.Duration
	if sh {
		sample += ina226Times[c.config>>3&7]
	}
	if bus {
		sample += ina226Times[c.config>>6&7]
	}
	c.seq.restart(now, mode, sample, ina226Averages[c.config>>9&7])
	c.cacheEnd = time.Time{}
}

func (c *ina22x) calAt(e time.Time) uint16 {
	if !e.After(c.calSet) {
		return c.calPrev
	}
	return c.cal
}

// result returns the registers as they read at now.
func (c *ina22x) result(now time.Time) ina22xResult {
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
		r.shunt = quant(i*c.shunt, 2.5e-6, -32768, 32767)
	}
	if busOn {
		r.bus = quant(v, 1.25e-3, 0, 32767)
	}
	cur, o1 := clamp(r.shunt*int64(c.calAt(e))/2048, -32768, 32767)
	pw, o2 := clamp(abs64(cur)*r.bus/c.powerDiv, 0, 65535)
	r.current, r.power, r.ovf = cur, pw, o1 || o2
	c.cache, c.cacheEnd = r, e
	if c.alert(r) {
		// Alerts are evaluated on the windows the host gets to see.
		c.affLatched = true
	}
	return r
}

// alert evaluates the alert function selected in Mask/Enable on r.
func (c *ina22x) alert(r ina22xResult) bool {
	lim := int64(int16(c.limit))
	first := r.shunt
	if c.integrated {
		first = r.current
	}
	switch {
	case c.mask&0x8000 != 0:
		return first > lim
	case c.mask&0x4000 != 0:
		return first < lim
	case c.mask&0x2000 != 0:
		return r.bus > int64(c.limit)
	case c.mask&0x1000 != 0:
		return r.bus < int64(c.limit)
	case c.mask&0x0800 != 0:
		return r.power > int64(c.limit)
	}
	return false
}

// Transfer implements Device.
func (c *ina22x) Transfer(now time.Time, w, r []byte) error {
	a := parseAccess(c.ptr, w)
	c.ptr = a.ptr
	if a.write {
		c.write(now, a.ptr, a.val)
	}
	if len(r) > 0 {
		putReg(r, uint64(c.read(now, c.ptr)), 2)
	}
	return nil
}

func (c *ina22x) write(now time.Time, ptr byte, v uint16) {
	switch ptr {
	case 0x00:
		if v&0x8000 != 0 {
			c.PowerOn(now)
			return
		}
		c.held = c.result(now)
		c.config = v&0x0fff | c.fixed
		c.restart(now)
	case 0x05:
		if c.integrated {
			return
		}
		if now.After(c.calSet) {
			c.calPrev = c.cal // in force for windows that ended before now
		}
		c.cal = v & 0x7fff
		c.calSet = now
		c.cacheEnd = time.Time{}
	case 0x06:
		c.mask = v & 0xfc03
		c.affLatched = false
	case 0x07:
		c.limit = v
	}
}

func (c *ina22x) read(now time.Time, ptr byte) uint16 {
	switch ptr {
	case 0x00:
		return c.config
	case 0x01:
		if c.integrated {
			return uint16(c.result(now).current)
		}
		return uint16(c.result(now).shunt)
	case 0x02:
		return uint16(c.result(now).bus)
	case 0x03:
		return uint16(c.result(now).power)
	case 0x04:
		if c.integrated {
			return 0
		}
		return uint16(c.result(now).current)
	case 0x05:
		if c.integrated {
			return 0
		}
		return c.cal
	case 0x06:
		r := c.result(now)
		v := c.mask
		aff := c.alert(r)
		if c.mask&1 != 0 { // LEN: latched until this register is read
			aff = aff || c.affLatched
			c.affLatched = false
		}
		if aff {
			v |= 1 << 4
		}
		if c.seq.ready(now) {
			v |= 1 << 3
		}
		if r.ovf {
			v |= 1 << 2
		}
		c.seq.clear(now)
		return v
	case 0x07:
		return c.limit
	case 0xfe:
		return 0x5449
	case 0xff:
		return c.dieID
	}
	return 0
}
