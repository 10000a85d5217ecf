package sim

import (
	"math"
	"time"
)

// seqMode is how a chip's ADC runs.
type seqMode int

const (
	seqOff        seqMode = iota // power-down: results are held
	seqTriggered                 // one cycle after the trigger, then idle
	seqContinuous                // cycles back to back
)

// sequencer is the conversion timing of one chip. After a (re)start at t0
// (power-on, a configuration write) the ADC runs cycles of length period:
// averages × the sum of the enabled conversion times. A result register
// holds the mean of the true input over the last *completed* cycle; before
// the first cycle completes it keeps what it held before the restart.
type sequencer struct {
	t0      time.Time
	period  time.Duration // one averaged result
	sample  time.Duration // one set of single conversions (period / averages)
	mode    seqMode
	cleared time.Time // conversion-ready was consumed at this time
}

// restart starts a new sequence at t0.
func (q *sequencer) restart(t0 time.Time, mode seqMode, sample time.Duration, averages int) {
	q.t0 = t0
	q.mode = mode
	q.sample = sample
	q.period = sample * time.Duration(averages)
	if q.period <= 0 {
		q.mode = seqOff
	}
	q.cleared = t0
}

// window returns the last completed averaging window [s, e) at now.
func (q *sequencer) window(now time.Time) (s, e time.Time, ok bool) {
	switch q.mode {
	case seqContinuous:
		el := now.Sub(q.t0)
		if el < q.period {
			return s, e, false
		}
		e = q.t0.Add(el / q.period * q.period)
		return e.Add(-q.period), e, true
	case seqTriggered:
		e = q.t0.Add(q.period)
		if now.Before(e) {
			return s, e, false
		}
		return q.t0, e, true
	}
	return s, e, false
}

// sampled returns the end of the last completed single conversion set at
// now (what an accumulator such as the INA228's ENERGY has integrated up to).
func (q *sequencer) sampled(now time.Time) (time.Time, bool) {
	switch q.mode {
	case seqContinuous:
		el := now.Sub(q.t0)
		if el < q.sample {
			return q.t0, false
		}
		return q.t0.Add(el / q.sample * q.sample), true
	case seqTriggered:
		el := now.Sub(q.t0)
		if el < q.sample {
			return q.t0, false
		}
		if el > q.period {
			el = q.period
		}
		return q.t0.Add(el / q.sample * q.sample), true
	}
	return q.t0, false
}

// ready reports the conversion-ready flag: a window completed after the flag
// was last cleared.
func (q *sequencer) ready(now time.Time) bool {
	_, e, ok := q.window(now)
	return ok && e.After(q.cleared)
}

// clear consumes the conversion-ready flag at now.
func (q *sequencer) clear(now time.Time) {
	if now.After(q.cleared) {
		q.cleared = now
	}
}

// quant converts x to ADC counts of size lsb, rounded to the nearest count
// and clipped to [lo, hi] (the converter saturates at full scale).
func quant(x, lsb float64, lo, hi int64) int64 {
	n := math.Round(x / lsb)
	if n < float64(lo) {
		return lo
	}
	if n > float64(hi) {
		return hi
	}
	return int64(n)
}

// clamp limits n to [lo, hi] and reports whether it had to.
func clamp(n, lo, hi int64) (int64, bool) {
	if n < lo {
		return lo, true
	}
	if n > hi {
		return hi, true
	}
	return n, false
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// putReg copies a size-byte big-endian register value into r. Bytes past the
// register read as 0xFF: the chip stops driving SDA and the pull-up wins.
func putReg(r []byte, v uint64, size int) {
	for k := range r {
		if k < size {
			r[k] = byte(v >> (8 * uint(size-1-k)))
		} else {
			r[k] = 0xff
		}
	}
}

// regAccess splits one transfer into the pointer write, the optional 16-bit
// register write and the read, the way every INA2xx handles its pointer: a
// transfer whose write part is just a pointer selects the register, a read
// without a pointer re-reads the last register, and a write with fewer than
// two data bytes changes nothing but the pointer.
type regAccess struct {
	ptr   byte
	write bool
	val   uint16
}

func parseAccess(ptr byte, w []byte) regAccess {
	a := regAccess{ptr: ptr}
	if len(w) >= 1 {
		a.ptr = w[0]
	}
	if len(w) >= 3 {
		a.write = true
		a.val = uint16(w[1])<<8 | uint16(w[2])
	}
	return a
}

// ina226Times are the conversion times of the INA226/INA260/INA3221 VBUSCT
// and VSHCT fields.
var ina226Times = [8]time.Duration{
	140 * time.Microsecond, 204 * time.Microsecond, 332 * time.Microsecond, 588 * time.Microsecond,
	1100 * time.Microsecond, 2116 * time.Microsecond, 4156 * time.Microsecond, 8244 * time.Microsecond,
}

// ina226Averages are the AVG field values of the INA226/INA260/INA3221 and
// the INA228.
var ina226Averages = [8]int{1, 4, 16, 64, 128, 256, 512, 1024}

// ina226Mode decodes a 3-bit MODE field (INA226, INA260, INA3221).
func ina226Mode(m uint16) (mode seqMode, shunt, bus bool) {
	switch m & 7 {
	case 0, 4:
		return seqOff, false, false
	case 1:
		return seqTriggered, true, false
	case 2:
		return seqTriggered, false, true
	case 3:
		return seqTriggered, true, true
	case 5:
		return seqContinuous, true, false
	case 6:
		return seqContinuous, false, true
	}
	return seqContinuous, true, true
}
