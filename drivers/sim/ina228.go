package sim

import (
	"math"
	"time"

	"periph.io/x/conn/v3/physic"
)

// INA228 emulates TI's INA228 (SBOSA20): 20-bit shunt and bus conversions in
// 24-bit registers (bits 23:4), a 16-bit die temperature, and the 40-bit
// ENERGY and CHARGE accumulators.
//
// The shunt LSB is 312.5 nV, or 78.125 nV with CONFIG.ADCRANGE set; the bus
// LSB is 195.3125 µV and the die temperature LSB 7.8125 m°C. With
// SHUNT_CAL = 13107.2×10⁶ × CURRENT_LSB × R (×4 for ADCRANGE=1), the chip
// computes CURRENT = VSHUNT × 4096 / SHUNT_CAL and
// POWER = |CURRENT| × VBUS / 16384 (integer, truncated), so that
// I = CURRENT × CURRENT_LSB and P = 3.2 × CURRENT_LSB × POWER.
//
// ENERGY and CHARGE integrate every completed conversion (not the averaged
// result): ENERGY × 16 × 3.2 × CURRENT_LSB is the exact ∫V·I dt the chip saw,
// CHARGE × CURRENT_LSB the exact ∫I dt. They wrap at 40 bits with ENERGYOF /
// CHARGEOF (cleared by reading the register) and reset with CONFIG.RSTACC.
// DIAG_ALRT carries CNVRF (cleared when read), MATHOF, the limit flags
// (latched with ALATCH until read) and MEMSTAT=1. IDs 5449h/2281h at 3Eh/3Fh.
type INA228 struct {
	sig   Signal
	shunt float64 // Ω

	// DieTemp gives the die temperature in °C at a time; nil reads 25 °C.
	// Set it before the chip is used.
	DieTemp func(time.Time) float64

	ptr       byte
	config    uint16
	adcConfig uint16
	cal       uint16
	calPrev   uint16
	calSet    time.Time
	tempco    uint16
	diag      uint16    // writable DIAG_ALRT bits 15:12
	limits    [6]uint16 // SOVL, SUVL, BOVL, BUVL, TEMP_LIMIT, PWR_LIMIT
	latched   uint16    // limit flags latched under ALATCH

	seq      sequencer
	held     ina228Result
	cache    ina228Result
	cacheEnd time.Time

	accFrom   time.Time // conversions up to here are in energy/charge
	energy    float64   // ENERGY counts, unwrapped
	charge    float64   // CHARGE counts, unwrapped
	energyAck int64     // 40-bit wraps already reported by ENERGYOF
	chargeAck int64
}

type ina228Result struct {
	vshunt  int64 // 20-bit counts
	vbus    int64 // 20-bit counts
	temp    int64 // 16-bit counts
	current int64 // 20-bit counts
	power   int64 // 24-bit counts
	mathof  bool
}

// ina228Times are the VBUSCT/VSHCT/VTCT conversion times.
var ina228Times = [8]time.Duration{
	50 * time.Microsecond, 84 * time.Microsecond, 150 * time.Microsecond, 280 * time.Microsecond,
	540 * time.Microsecond, 1052 * time.Microsecond, 2074 * time.Microsecond, 4120 * time.Microsecond,
}

// NewINA228 returns an INA228 that sees sig through a shunt of the given
// resistance.
func NewINA228(sig Signal, shunt physic.ElectricResistance) *INA228 {
	c := &INA228{sig: sig, shunt: float64(shunt) / float64(physic.Ohm)}
	c.PowerOn(time.Time{})
	return c
}

// PowerOn returns the chip to its power-on state at now.
func (c *INA228) PowerOn(now time.Time) {
	c.ptr = 0
	c.config = 0
	c.adcConfig = 0xfb68
	c.cal, c.calPrev, c.calSet = 0x1000, 0x1000, now
	c.tempco = 0
	c.diag = 0
	c.limits = [6]uint16{0x7fff, 0x8000, 0x7fff, 0, 0x7fff, 0xffff}
	c.latched = 0
	c.held = ina228Result{}
	c.energy, c.charge, c.energyAck, c.chargeAck = 0, 0, 0, 0
	c.restart(now)
	c.accFrom = c.seq.t0
}

func (c *INA228) modeBits() (mode seqMode, bus, shunt, temp bool) {
	m := c.adcConfig >> 12
	bus, shunt, temp = m&1 != 0, m&2 != 0, m&4 != 0
	switch {
	case m&7 == 0:
		mode = seqOff
	case m&8 != 0:
		mode = seqContinuous
	default:
		mode = seqTriggered
	}
	return mode, bus, shunt, temp
}

func (c *INA228) restart(now time.Time) {
	mode, bus, shunt, temp := c.modeBits()
	var sample time.Duration
	if bus {
		sample += ina228Times[c.adcConfig>>9&7]
	}
	if shunt {
		sample += ina228Times[c.adcConfig>>6&7]
	}
	if temp {
		sample += ina228Times[c.adcConfig>>3&7]
	}
	delay := time.Duration(c.config>>6&0xff) * 2 * time.Millisecond
	c.seq.restart(now.Add(delay), mode, sample, ina226Averages[c.adcConfig&7])
	c.cacheEnd = time.Time{}
}

func (c *INA228) shuntLSB() float64 {
	if c.config&(1<<4) != 0 {
		return 78.125e-9
	}
	return 312.5e-9
}

func (c *INA228) calAt(e time.Time) uint16 {
	if !e.After(c.calSet) {
		return c.calPrev
	}
	return c.cal
}

func (c *INA228) result(now time.Time) ina228Result {
	s, e, ok := c.seq.window(now)
	if !ok {
		return c.held
	}
	if e.Equal(c.cacheEnd) {
		return c.cache
	}
	_, busOn, shOn, tempOn := c.modeBits()
	r := c.held
	v, i := Means(c.sig, s, e)
	if shOn {
		r.vshunt = quant(i*c.shunt, c.shuntLSB(), -1<<19, 1<<19-1)
	}
	if busOn {
		r.vbus = quant(v, 195.3125e-6, 0, 1<<19-1)
	}
	if tempOn {
		t := 25.0
		if c.DieTemp != nil {
			t = c.DieTemp(e)
		}
		r.temp = quant(t, 7.8125e-3, -32768, 32767)
	}
	var cur int64
	if cal := c.calAt(e); cal != 0 {
		cur = r.vshunt * 4096 / int64(cal)
	}
	cur, o1 := clamp(cur, -1<<19, 1<<19-1)
	pw, o2 := clamp(abs64(cur)*r.vbus/16384, 0, 1<<24-1)
	r.current, r.power, r.mathof = cur, pw, o1 || o2
	c.cache, c.cacheEnd = r, e
	c.latched |= c.limitFlags(r)
	return r
}

// limitFlags compares r with the alert limits (DIAG_ALRT bits 7:2).
func (c *INA228) limitFlags(r ina228Result) uint16 {
	var f uint16
	if r.temp > int64(int16(c.limits[4])) {
		f |= 1 << 7
	}
	sh := r.vshunt >> 4 // the shunt limits are 16 conversion LSBs
	if sh > int64(int16(c.limits[0])) {
		f |= 1 << 6
	}
	if sh < int64(int16(c.limits[1])) {
		f |= 1 << 5
	}
	bus := r.vbus >> 4
	if bus > int64(c.limits[2]&0x7fff) {
		f |= 1 << 4
	}
	if bus < int64(c.limits[3]&0x7fff) {
		f |= 1 << 3
	}
	if r.power>>8 > int64(c.limits[5]) {
		f |= 1 << 2
	}
	return f
}

// accumulate adds the completed conversions since accFrom to ENERGY and
// CHARGE.
func (c *INA228) accumulate(now time.Time) {
	_, bus, shunt, _ := c.modeBits()
	end, ok := c.seq.sampled(now)
	if !ok || !bus || !shunt || !end.After(c.accFrom) {
		return
	}
	from := c.accFrom
	if from.Before(c.seq.t0) {
		from = c.seq.t0
	}
	c.accFrom = end
	cal := float64(c.cal)
	if cal == 0 {
		return
	}
	_, si, svi := c.sig.Integrals(from, end)
	lsb := c.shuntLSB()
	c.charge += c.shunt * si * 4096 / (lsb * cal)
	// The chip accumulates |POWER|; current is taken to keep one direction.
	c.energy += c.shunt * math.Abs(svi) * 4096 / (16 * 16384 * lsb * 195.3125e-6 * cal)
}

// resetAcc zeroes ENERGY and CHARGE; the conversion in progress is the first
// one to count again.
func (c *INA228) resetAcc(now time.Time) {
	c.energy, c.charge, c.energyAck, c.chargeAck = 0, 0, 0, 0
	if end, ok := c.seq.sampled(now); ok {
		c.accFrom = end
	} else {
		c.accFrom = c.seq.t0
	}
}

func (c *INA228) energyReg() (reg uint64, wraps int64) {
	n := math.Floor(c.energy)
	wraps = int64(n / (1 << 40))
	return uint64(n - float64(wraps)*(1<<40)), wraps
}

func (c *INA228) chargeReg() (reg uint64, wraps int64) {
	n := math.Floor(c.charge)
	wraps = int64(math.Floor((n + (1 << 39)) / (1 << 40)))
	return uint64(int64(n-float64(wraps)*(1<<40))) & (1<<40 - 1), wraps
}

// regSize is the width in bytes of each register.
func ina228RegSize(ptr byte) int {
	switch ptr {
	case 0x04, 0x05, 0x07, 0x08:
		return 3
	case 0x09, 0x0a:
		return 5
	}
	return 2
}

// Transfer implements Device.
func (c *INA228) Transfer(now time.Time, w, r []byte) error {
	a := parseAccess(c.ptr, w)
	c.ptr = a.ptr
	if a.write {
		c.write(now, a.ptr, a.val)
	}
	if len(r) > 0 {
		putReg(r, c.read(now, c.ptr), ina228RegSize(c.ptr))
	}
	return nil
}

func (c *INA228) write(now time.Time, ptr byte, v uint16) {
	switch ptr {
	case 0x00:
		if v&0x8000 != 0 {
			c.PowerOn(now)
			return
		}
		c.accumulate(now)
		if v&0x4000 != 0 {
			c.resetAcc(now)
		}
		v &= 0x3ff0
		if v != c.config {
			c.held = c.result(now)
			c.config = v
			c.restart(now)
			c.accFrom = c.seq.t0
		}
	case 0x01:
		c.accumulate(now)
		c.held = c.result(now)
		c.adcConfig = v
		c.restart(now)
		c.accFrom = c.seq.t0
	case 0x02:
		c.accumulate(now)
		if now.After(c.calSet) {
			c.calPrev = c.cal // in force for windows that ended before now
		}
		c.cal = v & 0x7fff
		c.calSet = now
		c.cacheEnd = time.Time{}
	case 0x03:
		c.tempco = v & 0x3fff
	case 0x0b:
		c.diag = v & 0xf000
		c.latched = 0
	case 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11:
		c.limits[ptr-0x0c] = v
	}
}

func (c *INA228) read(now time.Time, ptr byte) uint64 {
	switch ptr {
	case 0x00:
		return uint64(c.config)
	case 0x01:
		return uint64(c.adcConfig)
	case 0x02:
		return uint64(c.cal)
	case 0x03:
		return uint64(c.tempco)
	case 0x04:
		return uint64(c.result(now).vshunt&0xfffff) << 4
	case 0x05:
		return uint64(c.result(now).vbus&0xfffff) << 4
	case 0x06:
		return uint64(uint16(c.result(now).temp))
	case 0x07:
		return uint64(c.result(now).current&0xfffff) << 4
	case 0x08:
		return uint64(c.result(now).power)
	case 0x09:
		c.accumulate(now)
		reg, wraps := c.energyReg()
		c.energyAck = wraps
		return reg
	case 0x0a:
		c.accumulate(now)
		reg, wraps := c.chargeReg()
		c.chargeAck = wraps
		return reg
	case 0x0b:
		return uint64(c.readDiag(now))
	case 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11:
		return uint64(c.limits[ptr-0x0c])
	case 0x3e:
		return 0x5449
	case 0x3f:
		return 0x2281
	}
	return 0
}

func (c *INA228) readDiag(now time.Time) uint16 {
	res := c.result(now)
	c.accumulate(now)
	v := c.diag | 1 // MEMSTAT: no checksum error
	if _, wraps := c.energyReg(); wraps != c.energyAck {
		v |= 1 << 11
	}
	if _, wraps := c.chargeReg(); wraps != c.chargeAck {
		v |= 1 << 10
	}
	if res.mathof {
		v |= 1 << 9
	}
	flags := c.limitFlags(res)
	if c.diag&0x8000 != 0 { // ALATCH
		flags |= c.latched
	}
	c.latched = 0
	v |= flags
	if c.seq.ready(now) {
		v |= 1 << 1
	}
	c.seq.clear(now)
	return v
}
