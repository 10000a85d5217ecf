package telemetry

import (
	"errors"
	"fmt"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"
)

// DefaultSamples is the default number of samples per frame: at one sample
// a second, a frame every 30 s of about 6 bytes per sample-channel (see
// BenchmarkWireSize); fewer samples spend more on each frame's header.
const DefaultSamples = 30

// Reading is one channel's measurement handed to the Batcher.
type Reading struct {
	Voltage physic.ElectricPotential
	Current physic.ElectricCurrent
	Power   physic.Power
	// EnergyMilliWh is the channel's lifetime energy counter. physic.Energy
	// is not used because it overflows near 2.5 MWh.
	EnergyMilliWh uint64
	OK            bool // false: the sensor could not be read; values ignored
	Overflow      bool // the chip reported a saturated reading
}

// BatcherOptions configure a Batcher.
type BatcherOptions struct {
	// Channels are the channel IDs, in the order of the readings passed to
	// Add. IDs must be unique.
	Channels []uint16
	// Samples per frame; 0 means DefaultSamples.
	Samples int
	// Interval is the nominal sampling period (≥ 1 ms). A sample more than
	// half an interval off the grid (missed samples, a clock step, a halt)
	// closes the frame and starts a new one.
	Interval time.Duration
	// Run identifies this run of the agent in every frame (pick it at random
	// at start); FirstSeq is the sequence number of the first frame.
	Run      uint32
	FirstSeq uint32
}

// Batcher collects samples into frames. It allocates nothing once its two
// frame buffers exist. It is not safe for concurrent use.
type Batcher struct {
	opts   BatcherOptions
	frames [2]Frame
	cur    int
	seq    uint32
	energy []uint64 // last counter per channel, to keep it monotonic
	last   int64    // time of the last sample added, Unix ms
	// regressions counts energy counters that went backwards and were held.
	regressions uint64
	status      Status // copied into each frame as it is emitted
}

// NewBatcher returns a Batcher for opts.
func NewBatcher(opts BatcherOptions) (*Batcher, error) {
	if opts.Samples == 0 {
		opts.Samples = DefaultSamples
	}
	switch {
	case opts.Samples < 1 || opts.Samples > MaxSamples:
		return nil, fmt.Errorf("telemetry batcher: %d samples per frame, want 1..%d", opts.Samples, MaxSamples)
	case opts.Interval < time.Millisecond || opts.Interval > time.Duration(math.MaxUint32)*time.Millisecond:
		return nil, fmt.Errorf("telemetry batcher: sample interval %v, want ≥ 1ms", opts.Interval)
	case len(opts.Channels) > MaxChannels:
		return nil, fmt.Errorf("telemetry batcher: %d channels, max %d", len(opts.Channels), MaxChannels)
	}
	for i, id := range opts.Channels {
		for _, other := range opts.Channels[:i] {
			if other == id {
				return nil, fmt.Errorf("telemetry batcher: channel %d listed twice", id)
			}
		}
	}
	b := &Batcher{opts: opts, seq: opts.FirstSeq, energy: make([]uint64, len(opts.Channels))}
	b.status.Disks = make([]DiskState, 0, 8)
	for k := range b.frames {
		f := &b.frames[k]
		f.Offsets = make([]int32, opts.Samples)
		f.Channels = make([]Channel, len(opts.Channels))
		for i, id := range opts.Channels {
			f.Channels[i] = Channel{ID: id, Samples: make([]Sample, 0, opts.Samples)}
		}
		f.Status.Disks = make([]DiskState, 0, 8)
	}
	b.reset(&b.frames[0])
	return b, nil
}

// SetStatus records the node status; every frame carries the status last
// set before it was emitted. The disks slice is copied.
func (b *Batcher) SetStatus(s Status) {
	d := b.status.Disks
	b.status = s
	b.status.Disks = append(d[:0], s.Disks...)
}

// EnergyRegressions reports how many times a channel's energy counter was
// given lower than before and held at its previous value.
func (b *Batcher) EnergyRegressions() uint64 { return b.regressions }

// ErrReadings is returned by Add when the readings do not match the channels.
var ErrReadings = errors.New("telemetry batcher: readings do not match channels")

// Add records one sample of every channel taken at t. It returns a finished
// frame when this sample filled it, or when this sample does not fit the
// frame being filled (it then starts the next frame); otherwise nil. The
// frame stays valid until the next call to Add or Flush.
func (b *Batcher) Add(t time.Time, rs []Reading) (*Frame, error) {
	if len(rs) != len(b.opts.Channels) {
		return nil, fmt.Errorf("%w: %d readings for %d channels", ErrReadings, len(rs), len(b.opts.Channels))
	}
	ms := t.UnixMilli()
	var done *Frame
	f := &b.frames[b.cur]
	if f.Count == b.opts.Samples {
		// Left full by the previous call (see below).
		done = b.emit()
		f = &b.frames[b.cur]
	} else if f.Count > 0 {
		off := ms - f.SampleTime(0) - int64(f.Count)*int64(f.Interval)
		half := int64(f.Interval) / 2
		if off > half || off < -half || ms <= b.last || off > math.MaxInt32 || off < math.MinInt32 {
			done = b.emit()
			f = &b.frames[b.cur]
		}
	}
	if f.Count == 0 {
		f.Start = ms
		f.Offsets[0] = 0
	} else {
		f.Offsets[f.Count] = int32(ms - f.Start - int64(f.Count)*int64(f.Interval))
	}
	b.last = ms
	for i := range rs {
		r := &rs[i]
		c := &f.Channels[i]
		s := Sample{OK: r.OK}
		if r.OK {
			s.MilliVolts = clamp32(int64(r.Voltage / physic.MilliVolt))
			s.MilliAmps = clamp32(int64(r.Current / physic.MilliAmpere))
			s.MilliWatts = clamp32(int64(r.Power / physic.MilliWatt))
			c.Flags &^= ChannelUnavailable
		} else {
			c.Flags |= ChannelUnavailable
		}
		if r.Overflow {
			c.Flags |= ChannelOverflow
		}
		c.Samples = append(c.Samples, s)
		if r.EnergyMilliWh < b.energy[i] {
			b.regressions++
		} else {
			b.energy[i] = r.EnergyMilliWh
		}
		c.EnergyMilliWh = b.energy[i]
	}
	f.Count++
	if f.Count == b.opts.Samples && done == nil {
		done = b.emit()
	}
	// With one sample per frame, a gap can close the old frame and fill the
	// new one in the same call: the new one is then emitted by the next Add
	// or Flush.
	return done, nil
}

// Flush returns the frame being filled, if it has samples, and starts a new
// one. Call it before a planned halt so the last samples are sent.
func (b *Batcher) Flush() *Frame {
	if b.frames[b.cur].Count == 0 {
		return nil
	}
	return b.emit()
}

// emit finishes the current frame, switches to the other buffer and returns
// the finished one.
func (b *Batcher) emit() *Frame {
	f := &b.frames[b.cur]
	f.Seq = b.seq
	b.seq++
	f.Offsets = f.Offsets[:f.Count]
	d := f.Status.Disks
	f.Status = b.status
	f.Status.Disks = append(d[:0], b.status.Disks...)
	b.cur ^= 1
	b.reset(&b.frames[b.cur])
	return f
}

func (b *Batcher) reset(f *Frame) {
	f.Run = b.opts.Run
	f.Interval = uint32(b.opts.Interval / time.Millisecond)
	f.Count = 0
	f.Offsets = f.Offsets[:cap(f.Offsets)]
	for i := range f.Channels {
		f.Channels[i].Samples = f.Channels[i].Samples[:0]
		f.Channels[i].Flags = 0
	}
}

func clamp32(v int64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	if v < math.MinInt32 {
		return math.MinInt32
	}
	return int32(v)
}
