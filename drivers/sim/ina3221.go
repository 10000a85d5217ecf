package sim

import (
	"time"

	"periph.io/x/conn/v3/physic"
)

// INA3221 emulates TI's INA3221 (SBOS576): three channels, each with a shunt
// register (sign + 12 bits in 15:3, 40 µV LSB) and a bus register (15:3,
// 8 mV LSB); no current or power registers. One conversion cycle converts
// every enabled channel (shunt then bus) and a result is the mean over the
// whole cycle. The Mask/Enable register (0Fh) carries the critical (CFn),
// warning (WFn), summation (SF), power-valid (PVF, with its hysteresis),
// timing-control (TCF) and conversion-ready (CVRF) flags; reading it clears
// CVRF and the latched alert flags. IDs 5449h/3220h.
type INA3221 struct {
	sig   [3]Signal
	shunt [3]float64

	ptr      byte
	config   uint16
	crit     [3]uint16
	warn     [3]uint16
	sumLimit uint16
	mask     uint16 // writable bits: SCC1-3, WEN, CEN
	pvUpper  uint16
	pvLower  uint16

	latCrit [3]bool
	latWarn [3]bool
	pvf     bool

	seq      sequencer
	held     ina3221Result
	cache    ina3221Result
	cacheEnd time.Time
}

type ina3221Result struct {
	shunt [3]int64 // 40 µV counts
	bus   [3]int64 // 8 mV counts
}

// NewINA3221 returns an INA3221 whose channel n (0-based) sees sigs[n]
// through shunts[n]. A nil Signal is an unconnected input (reads zero).
func NewINA3221(sigs [3]Signal, shunts [3]physic.ElectricResistance) *INA3221 {
	c := &INA3221{sig: sigs}
	for n := range shunts {
		c.shunt[n] = float64(shunts[n]) / float64(physic.Ohm)
	}
	c.PowerOn(time.Time{})
	return c
}

// PowerOn returns the chip to its power-on state at now.
func (c *INA3221) PowerOn(now time.Time) {
	c.ptr = 0
	c.config = 0x7127
	c.crit = [3]uint16{0x7ff8, 0x7ff8, 0x7ff8}
	c.warn = [3]uint16{0x7ff8, 0x7ff8, 0x7ff8}
	c.sumLimit = 0x7ffe
	c.mask = 0
	c.pvUpper, c.pvLower = 0x2710, 0x2328
	c.latCrit, c.latWarn, c.pvf = [3]bool{}, [3]bool{}, false
	c.held = ina3221Result{}
	c.restart(now)
}

func (c *INA3221) enabled(n int) bool { return c.config&(0x4000>>uint(n)) != 0 }

func (c *INA3221) restart(now time.Time) {
	mode, sh, bus := ina226Mode(c.config)
	var sample time.Duration
	for n := 0; n < 3; n++ {
		if !c.enabled(n) {
			continue
		}
		if sh {
			sample += ina226Times[c.config>>3&7]
		}
		if bus {
			sample += ina226Times[c.config>>6&7]
		}
	}
	c.seq.restart(now, mode, sample, ina226Averages[c.config>>9&7])
	c.cacheEnd = time.Time{}
}

func (c *INA3221) result(now time.Time) ina3221Result {
	s, e, ok := c.seq.window(now)
	if !ok {
		return c.held
	}
	if e.Equal(c.cacheEnd) {
		return c.cache
	}
	_, shOn, busOn := ina226Mode(c.config)
	r := c.held
	for n := 0; n < 3; n++ {
		if !c.enabled(n) {
			continue
		}
		var v, i float64
		if c.sig[n] != nil {
			v, i = Means(c.sig[n], s, e)
		}
		if shOn {
			r.shunt[n] = quant(i*c.shunt[n], 40e-6, -4096, 4095)
		}
		if busOn {
			r.bus[n] = quant(v, 8e-3, 0, 4095)
		}
	}
	c.cache, c.cacheEnd = r, e
	// Alerts are evaluated on the windows the host gets to see.
	for n := 0; n < 3; n++ {
		if r.shunt[n] > int64(int16(c.crit[n])>>3) {
			c.latCrit[n] = true
		}
		if r.shunt[n] > int64(int16(c.warn[n])>>3) {
			c.latWarn[n] = true
		}
	}
	return r
}

func (c *INA3221) sum(r ina3221Result) int64 {
	var s int64
	for n := 0; n < 3; n++ {
		if c.mask&(0x4000>>uint(n)) != 0 {
			s += r.shunt[n]
		}
	}
	// The sum register holds sign + 14 bits in 15:1.
	s, _ = clamp(s, -16384, 16383)
	return s
}

// Transfer implements Device.
func (c *INA3221) Transfer(now time.Time, w, r []byte) error {
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

func (c *INA3221) write(now time.Time, ptr byte, v uint16) {
	switch {
	case ptr == 0x00:
		if v&0x8000 != 0 {
			c.PowerOn(now)
			return
		}
		c.held = c.result(now)
		c.config = v & 0x7fff
		c.restart(now)
	case ptr >= 0x07 && ptr <= 0x0c:
		n := int(ptr-0x07) / 2
		if (ptr-0x07)%2 == 0 {
			c.crit[n] = v & 0xfff8
		} else {
			c.warn[n] = v & 0xfff8
		}
	case ptr == 0x0e:
		c.sumLimit = v & 0xfffe
	case ptr == 0x0f:
		c.mask = v & 0x7c00
	case ptr == 0x10:
		c.pvUpper = v & 0xfff8
	case ptr == 0x11:
		c.pvLower = v & 0xfff8
	}
}

func (c *INA3221) read(now time.Time, ptr byte) uint16 {
	switch {
	case ptr == 0x00:
		return c.config
	case ptr >= 0x01 && ptr <= 0x06:
		res := c.result(now)
		n := int(ptr-1) / 2
		if (ptr-1)%2 == 0 {
			return uint16(res.shunt[n] << 3)
		}
		return uint16(res.bus[n] << 3)
	case ptr >= 0x07 && ptr <= 0x0c:
		n := int(ptr-0x07) / 2
		if (ptr-0x07)%2 == 0 {
			return c.crit[n]
		}
		return c.warn[n]
	case ptr == 0x0d:
		return uint16(c.sum(c.result(now)) << 1)
	case ptr == 0x0e:
		return c.sumLimit
	case ptr == 0x0f:
		return c.readMask(now)
	case ptr == 0x10:
		return c.pvUpper
	case ptr == 0x11:
		return c.pvLower
	case ptr == 0xfe:
		return 0x5449
	case ptr == 0xff:
		return 0x3220
	}
	return 0
}

func (c *INA3221) readMask(now time.Time) uint16 {
	res := c.result(now)
	v := c.mask
	for n := 0; n < 3; n++ {
		crit := res.shunt[n] > int64(int16(c.crit[n])>>3)
		warn := res.shunt[n] > int64(int16(c.warn[n])>>3)
		if c.mask&(1<<10) != 0 { // CEN: latched until read
			crit = crit || c.latCrit[n]
		}
		if c.mask&(1<<11) != 0 { // WEN
			warn = warn || c.latWarn[n]
		}
		if crit {
			v |= 1 << uint(9-n)
		}
		if warn {
			v |= 1 << uint(5-n)
		}
	}
	c.latCrit, c.latWarn = [3]bool{}, [3]bool{}
	if c.sum(res) > int64(int16(c.sumLimit)>>1) {
		v |= 1 << 6
	}
	// Power-valid: set once every enabled bus is above the upper limit,
	// cleared when one drops below the lower limit.
	up, down, any := true, false, false
	for n := 0; n < 3; n++ {
		if !c.enabled(n) {
			continue
		}
		any = true
		if res.bus[n] < int64(c.pvUpper>>3) {
			up = false
		}
		if res.bus[n] < int64(c.pvLower>>3) {
			down = true
		}
	}
	if any && up {
		c.pvf = true
	} else if down {
		c.pvf = false
	}
	if c.pvf {
		v |= 1 << 2
	}
	v |= 1 << 1 // TCF: the power-on timing sequence is long done
	if c.seq.ready(now) {
		v |= 1
	}
	c.seq.clear(now)
	return v
}
