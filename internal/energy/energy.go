// Package energy turns power readings into energy: per-channel lifetime
// counters that never go backwards (not even across a crash), daily counters,
// the energy saved by sleeping and its CO2e.
//
// Integration. Each reading is the chip's average over its own averaging
// window, which veille sets to cover the whole sampling interval, so the
// energy of an interval is reading × elapsed time (a rectangle, not a
// trapezoid between two instants). A gap longer than the window (the Pi was
// halted, the sensor was unplugged) is not filled in: it is counted as
// unmeasured time. Chips with a hardware accumulator (INA228) are integrated
// from the accumulator instead, which misses nothing between reads.
//
// Counters are kept in micro-joules as uint64: 5 GWh before they wrap, where
// physic.Energy (int64 nJ) overflows near 2.5 MWh.
//
// Never backwards. A counter published to Home Assistant must not shrink
// after a crash, yet checkpoints are rare (SD cards). So each checkpoint
// stores a reservation above the current value; published values never pass
// the stored reservation (a new checkpoint is taken first), and after an
// unclean stop the counters restart from the reservation. The cost is that a
// crash over-counts at most one reservation, never that a counter decreases.
package energy

import (
	"math"
	"time"

	"periph.io/x/conn/v3/physic"
)

// MicroJoulesPerWh converts the counters to watt-hours.
const MicroJoulesPerWh = 3600 * 1e6

// Reading is what the ledger needs from one channel's sample.
type Reading struct {
	Power physic.Power
	// Accumulated is the chip's hardware energy accumulator, when it has one.
	Accumulated    physic.Energy
	HasAccumulator bool
}

// Channel is one power channel's counters.
type Channel struct {
	Name string
	// Lifetime energy in µJ. Only grows.
	Total uint64
	// Today is the energy since local midnight, in µJ.
	Today uint64
	// Unmeasured is time with no reading (gaps, outages).
	Unmeasured time.Duration

	frac    float64 // sub-µJ remainder
	last    time.Time
	lastAcc physic.Energy
	haveAcc bool
}

// Ledger integrates every channel. It is not safe for concurrent use: the
// sampler owns it.
type Ledger struct {
	Channels []Channel
	loc      *time.Location
	day      int // yyyymmdd of Today
	// MaxGap is the longest interval a reading may stand for.
	MaxGap time.Duration
}

// NewLedger returns a ledger for the named channels; days roll over at
// midnight in loc.
func NewLedger(names []string, loc *time.Location, maxGap time.Duration) *Ledger {
	if loc == nil {
		loc = time.Local
	}
	l := &Ledger{Channels: make([]Channel, len(names)), loc: loc, MaxGap: maxGap}
	for i, n := range names {
		l.Channels[i].Name = n
	}
	return l
}

func dayKey(t time.Time) int { y, m, d := t.Date(); return y*10000 + int(m)*100 + d }

// Add integrates channel i's reading taken at t. A failed read is reported
// with ok=false: the time since the last good reading becomes unmeasured.
func (l *Ledger) Add(i int, t time.Time, r Reading, ok bool) {
	c := &l.Channels[i]
	if d := dayKey(t.In(l.loc)); d != l.day {
		if l.day != 0 {
			for j := range l.Channels {
				l.Channels[j].Today = 0
			}
		}
		l.day = d
	}
	if !ok {
		if !c.last.IsZero() && t.After(c.last) {
			c.Unmeasured += t.Sub(c.last)
		}
		c.last = time.Time{}
		c.haveAcc = false
		return
	}
	defer func() { c.last = t }()
	if r.HasAccumulator {
		if c.haveAcc {
			d := r.Accumulated - c.lastAcc
			if d < 0 { // accumulator was reset (power cycle, RSTACC): it counted from zero
				d = r.Accumulated
			}
			c.addJoules(float64(d) / float64(physic.Joule))
			c.lastAcc, c.haveAcc = r.Accumulated, true
			return
		}
		c.lastAcc, c.haveAcc = r.Accumulated, true
	}
	if c.last.IsZero() || !t.After(c.last) {
		return // first reading: nothing to integrate yet
	}
	dt := t.Sub(c.last)
	if l.MaxGap > 0 && dt > l.MaxGap {
		c.Unmeasured += dt - l.MaxGap
		dt = l.MaxGap
	}
	p := float64(r.Power) / float64(physic.Watt)
	if p < 0 {
		p = 0 // a rail reading backwards (noise, reversed shunt) does not un-count energy
	}
	c.addJoules(p * dt.Seconds())
}

func (c *Channel) addJoules(j float64) {
	if !(j > 0) || math.IsInf(j, 0) {
		return
	}
	uj := j*1e6 + c.frac
	whole := math.Floor(uj)
	c.frac = uj - whole
	c.Total += uint64(whole)
	c.Today += uint64(whole)
}

// Total returns the sum of all channels' lifetime counters in µJ.
func (l *Ledger) Total() uint64 {
	var s uint64
	for i := range l.Channels {
		s += l.Channels[i].Total
	}
	return s
}

// Wh converts µJ to watt-hours.
func Wh(uj uint64) float64 { return float64(uj) / MicroJoulesPerWh }
