package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// Wire structs: keys are the CDDL keys of docs/telemetry.cddl. Columns are
// []*int64 so a missing sample encodes as null; the pointers point into the
// Encoder's scratch array, so encoding allocates nothing per value.
type wireFrame struct {
	V   uint          `cbor:"0,keyasint"`
	Run uint32        `cbor:"1,keyasint"`
	Seq uint32        `cbor:"2,keyasint"`
	T0  int64         `cbor:"3,keyasint"`
	Dt  uint32        `cbor:"4,keyasint"`
	N   int           `cbor:"5,keyasint"`
	Off []int32       `cbor:"6,keyasint,omitempty"`
	Ch  []wireChannel `cbor:"7,keyasint"`
	St  wireStatus    `cbor:"8,keyasint"`
}

type wireChannel struct {
	ID  uint16   `cbor:"0,keyasint"`
	MV  []*int64 `cbor:"1,keyasint"`
	MA  []*int64 `cbor:"2,keyasint"`
	MW  []*int64 `cbor:"3,keyasint"`
	MWh uint64   `cbor:"4,keyasint"`
	Fl  uint8    `cbor:"5,keyasint,omitempty"`
}

type wireStatus struct {
	Temp  *int32   `cbor:"0,keyasint,omitempty"`
	Thr   uint32   `cbor:"1,keyasint,omitempty"`
	Sched uint8    `cbor:"2,keyasint,omitempty"`
	Disks []uint16 `cbor:"3,keyasint,omitempty"` // not []uint8: that would be a byte string
}

// Decode-side twins: pointers tell a missing required key from a zero.
type wireFrameIn struct {
	V   *uint           `cbor:"0,keyasint"`
	Run *uint32         `cbor:"1,keyasint"`
	Seq *uint32         `cbor:"2,keyasint"`
	T0  *int64          `cbor:"3,keyasint"`
	Dt  *uint32         `cbor:"4,keyasint"`
	N   *int            `cbor:"5,keyasint"`
	Off []int32         `cbor:"6,keyasint"`
	Ch  []wireChannelIn `cbor:"7,keyasint"`
	St  *wireStatus     `cbor:"8,keyasint"`
}

type wireChannelIn struct {
	ID  *uint16  `cbor:"0,keyasint"`
	MV  []*int64 `cbor:"1,keyasint"`
	MA  []*int64 `cbor:"2,keyasint"`
	MW  []*int64 `cbor:"3,keyasint"`
	MWh *uint64  `cbor:"4,keyasint"`
	Fl  uint8    `cbor:"5,keyasint"`
}

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	var err error
	if encMode, err = eo.UserBufferEncMode(); err != nil {
		panic(err) // static options: a failure is a programming error
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  6,
		MaxArrayElements: MaxSamples,
		MaxMapPairs:      32,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		NaN:              cbor.NaNDecodeForbidden,
		Inf:              cbor.InfDecodeForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrTooLarge is returned by Decode for input over MaxFrameBytes.
var ErrTooLarge = errors.New("telemetry: frame too large")

// Encoder encodes frames reusing its buffers; it is not safe for concurrent
// use. The zero value is ready.
type Encoder struct {
	buf   bytes.Buffer
	w     wireFrame
	chans []wireChannel
	vals  []int64
	ptrs  []*int64
	disks []uint16
	temp  int32
}

// Encode returns the CBOR encoding of f. The bytes stay valid until the next
// call to Encode.
func (e *Encoder) Encode(f *Frame) ([]byte, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	n := f.Count
	nc := len(f.Channels)
	if cap(e.vals) < 3*n*nc {
		e.vals = make([]int64, 3*n*nc)
		e.ptrs = make([]*int64, 3*n*nc)
	}
	if cap(e.chans) < nc {
		e.chans = make([]wireChannel, nc)
	}
	e.w = wireFrame{
		V: Version, Run: f.Run, Seq: f.Seq, T0: f.Start, Dt: f.Interval, N: n,
		Off: nil, Ch: e.chans[:nc],
	}
	if hasOffsets(f.Offsets) {
		e.w.Off = f.Offsets
	}
	k := 0
	column := func(c *Channel, pick func(*Sample) int32) []*int64 {
		col := e.ptrs[k : k+n : k+n]
		var prev int64
		have := false
		for i := range c.Samples {
			s := &c.Samples[i]
			if !s.OK {
				col[i] = nil
				continue
			}
			v := int64(pick(s))
			if have {
				e.vals[k+i] = v - prev
			} else {
				e.vals[k+i] = v
				have = true
			}
			prev = v
			col[i] = &e.vals[k+i]
		}
		k += n
		return col
	}
	for i := range f.Channels {
		c := &f.Channels[i]
		e.w.Ch[i] = wireChannel{
			ID:  c.ID,
			MV:  column(c, func(s *Sample) int32 { return s.MilliVolts }),
			MA:  column(c, func(s *Sample) int32 { return s.MilliAmps }),
			MW:  column(c, func(s *Sample) int32 { return s.MilliWatts }),
			MWh: c.EnergyMilliWh,
			Fl:  uint8(c.Flags),
		}
	}
	e.w.St = wireStatus{Thr: f.Status.Throttled, Sched: uint8(f.Status.Scheduler)}
	if f.Status.HasSoCTemp {
		e.temp = f.Status.SoCTemp
		e.w.St.Temp = &e.temp
	}
	if len(f.Status.Disks) > 0 {
		e.disks = e.disks[:0]
		for _, d := range f.Status.Disks {
			e.disks = append(e.disks, uint16(d))
		}
		e.w.St.Disks = e.disks
	}
	e.buf.Reset()
	if err := encMode.MarshalToBuffer(&e.w, &e.buf); err != nil {
		return nil, fmt.Errorf("telemetry: encode frame seq %d: %w", f.Seq, err)
	}
	if e.buf.Len() > MaxFrameBytes {
		return nil, fmt.Errorf("telemetry: frame seq %d encodes to %d bytes, max %d", f.Seq, e.buf.Len(), MaxFrameBytes)
	}
	return e.buf.Bytes(), nil
}

func hasOffsets(off []int32) bool {
	for _, o := range off {
		if o != 0 {
			return true
		}
	}
	return false
}

// Encode returns the CBOR encoding of f in a new slice.
func Encode(f *Frame) ([]byte, error) {
	var e Encoder
	b, err := e.Encode(f)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Decode parses one frame. It accepts any input without panicking: garbage,
// truncated or oversized data, duplicate map keys, indefinite lengths, tags,
// columns of the wrong length and values out of range are errors. Keys it does
// not know are skipped (forward compatibility within a schema version).
func Decode(data []byte) (*Frame, error) {
	if len(data) > MaxFrameBytes {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(data), MaxFrameBytes)
	}
	var w wireFrameIn
	if err := decMode.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("telemetry: decode frame: %w", err)
	}
	switch {
	case w.V == nil:
		return nil, errors.New("telemetry: decode frame: no schema version (key 0)")
	case *w.V != Version:
		return nil, fmt.Errorf("telemetry: decode frame: schema version %d, this decoder reads %d", *w.V, Version)
	case w.Run == nil || w.Seq == nil || w.T0 == nil || w.Dt == nil || w.N == nil || w.Ch == nil:
		return nil, errors.New("telemetry: decode frame: missing one of the required keys 1-5, 7")
	case *w.N < 1 || *w.N > MaxSamples:
		return nil, fmt.Errorf("telemetry: decode frame seq %d: sample count %d out of 1..%d", *w.Seq, *w.N, MaxSamples)
	}
	f := &Frame{
		Run: *w.Run, Seq: *w.Seq, Start: *w.T0, Interval: *w.Dt, Count: *w.N,
		Channels: make([]Channel, len(w.Ch)),
	}
	if w.Off != nil {
		f.Offsets = w.Off
	}
	if len(w.Ch) > MaxChannels {
		return nil, fmt.Errorf("telemetry: decode frame seq %d: %d channels, max %d", f.Seq, len(w.Ch), MaxChannels)
	}
	for i := range w.Ch {
		wc := &w.Ch[i]
		if wc.ID == nil || wc.MWh == nil || wc.MV == nil || wc.MA == nil || wc.MW == nil {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: channel #%d misses a required key (0-4)", f.Seq, i)
		}
		c := &f.Channels[i]
		c.ID, c.EnergyMilliWh, c.Flags = *wc.ID, *wc.MWh, ChannelFlags(wc.Fl)
		if len(wc.MV) != f.Count || len(wc.MA) != f.Count || len(wc.MW) != f.Count {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: channel %d columns have %d/%d/%d values, want %d",
				f.Seq, c.ID, len(wc.MV), len(wc.MA), len(wc.MW), f.Count)
		}
		c.Samples = make([]Sample, f.Count)
		if err := undelta(wc.MV, c.Samples, func(s *Sample, v int32) { s.MilliVolts = v }); err != nil {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: channel %d mV: %w", f.Seq, c.ID, err)
		}
		if err := undelta(wc.MA, c.Samples, func(s *Sample, v int32) { s.MilliAmps = v }); err != nil {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: channel %d mA: %w", f.Seq, c.ID, err)
		}
		if err := undelta(wc.MW, c.Samples, func(s *Sample, v int32) { s.MilliWatts = v }); err != nil {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: channel %d mW: %w", f.Seq, c.ID, err)
		}
		for j := range c.Samples {
			present := wc.MV[j] != nil
			if (wc.MA[j] != nil) != present || (wc.MW[j] != nil) != present {
				return nil, fmt.Errorf("telemetry: decode frame seq %d: channel %d sample %d is null in some columns only", f.Seq, c.ID, j)
			}
			c.Samples[j].OK = present
		}
	}
	if w.St != nil {
		if w.St.Temp != nil {
			f.Status.SoCTemp, f.Status.HasSoCTemp = *w.St.Temp, true
		}
		f.Status.Throttled = w.St.Thr
		f.Status.Scheduler = SchedulerState(w.St.Sched)
		if len(w.St.Disks) > MaxDisks {
			return nil, fmt.Errorf("telemetry: decode frame seq %d: %d disks, max %d", f.Seq, len(w.St.Disks), MaxDisks)
		}
		for _, d := range w.St.Disks {
			if d > math.MaxUint8 {
				return nil, fmt.Errorf("telemetry: decode frame seq %d: disk state %d out of range", f.Seq, d)
			}
			f.Status.Disks = append(f.Status.Disks, DiskState(d))
		}
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("telemetry: decode: %w", err)
	}
	return f, nil
}

// undelta turns a column (first present value absolute, then differences)
// back into absolute values, refusing anything that leaves int32.
func undelta(col []*int64, out []Sample, set func(*Sample, int32)) error {
	var acc int64
	have := false
	for i, p := range col {
		if p == nil {
			continue
		}
		d := *p
		if have {
			if d > math.MaxInt32-math.MinInt32 || d < math.MinInt32-math.MaxInt32 {
				return fmt.Errorf("sample %d: difference %d out of range", i, d)
			}
			acc += d
		} else {
			acc, have = d, true
		}
		if acc > math.MaxInt32 || acc < math.MinInt32 {
			return fmt.Errorf("sample %d: value %d out of range", i, acc)
		}
		set(&out[i], int32(acc))
	}
	return nil
}
