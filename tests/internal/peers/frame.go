package peers

import (
	"fmt"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Frame is a telemetry frame as docs/telemetry.cddl describes it, decoded
// generically (integer keys, columns of first-absolute-then-delta samples)
// by DecodeFrame, not by veille's codec.
type Frame struct {
	Run, Seq  uint64
	T0        int64   // time of sample 0, Unix ms
	Dt        int64   // nominal sample interval, ms
	N         int     // samples per channel
	Off       []int64 // per-sample deviation from T0 + i·Dt, ms; nil: all zero
	Channels  []Channel
	SocTemp   *int64    // deci-°C; nil: not reported
	Throttled uint64    // firmware bits
	Sched     uint64    // scheduler state: 0 unknown, 1 disabled, 2 awake, 3 held, 4 disks asleep, 5 halting
	Disks     []uint64  // per disk: 0 unknown, 1 active, 2 standby, 3 off
	At        time.Time // real time of arrival, set by Recorder.Frames
}

// Channel is one channel of a Frame: its columns, each sample nil where the
// agent could not read it.
type Channel struct {
	ID         uint64
	MV, MA, MW []*int64 // bus voltage mV, current mA, power mW
	MWh        uint64   // lifetime energy counter
	Flags      uint64   // bit 0 unavailable at frame end, bit 1 overflow seen
}

// DecodeFrame decodes one telemetry message. It refuses what the schema
// does not allow: another version, a required key missing or of the wrong
// type, n or dt below 1, offsets or columns that are not n long. Keys it
// does not know are skipped, as the schema asks of a decoder.
func DecodeFrame(b []byte) (*Frame, error) {
	var m map[uint64]any
	if err := cbor.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("telemetry frame: not a CBOR map with integer keys: %w", err)
	}
	if v, ok := m[0].(uint64); !ok || v != 1 {
		return nil, fmt.Errorf("telemetry frame: schema version %v, want 1", m[0])
	}
	f := &Frame{}
	var errs []error
	need := func(key uint64, name string, into func(v any) bool) {
		v, present := m[key]
		if !present {
			errs = append(errs, fmt.Errorf("key %d (%s) missing", key, name))
		} else if !into(v) {
			errs = append(errs, fmt.Errorf("key %d (%s) is %T %v", key, name, v, v))
		}
	}
	need(1, "run", func(v any) bool { return asUint(v, &f.Run) })
	need(2, "seq", func(v any) bool { return asUint(v, &f.Seq) })
	need(3, "t0", func(v any) bool { return asInt(v, &f.T0) })
	need(4, "dt", func(v any) bool { return asInt(v, &f.Dt) && f.Dt >= 1 })
	need(5, "n", func(v any) bool {
		var n int64
		ok := asInt(v, &n) && n >= 1 && n < 1<<31
		f.N = int(n)
		return ok
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("telemetry frame %d: %v", f.Seq, errs[0])
	}
	if raw, ok := m[6]; ok {
		offs, ok := raw.([]any)
		if !ok || len(offs) != f.N {
			return nil, fmt.Errorf("telemetry frame %d: key 6 (off) is %T of %d, want %d integers", f.Seq, raw, len(offs), f.N)
		}
		for k, o := range offs {
			var v int64
			if !asInt(o, &v) {
				return nil, fmt.Errorf("telemetry frame %d: offset %d is %T", f.Seq, k, o)
			}
			f.Off = append(f.Off, v)
		}
	}
	need(7, "ch", func(v any) bool {
		chs, ok := v.([]any)
		for _, raw := range chs {
			c, err := decodeChannel(raw, f.N)
			if err != nil {
				errs = append(errs, err)
				return true
			}
			f.Channels = append(f.Channels, c)
		}
		return ok
	})
	need(8, "st", func(v any) bool {
		st, ok := v.(map[any]any)
		if !ok {
			return false
		}
		if t, present := st[uint64(0)]; present {
			var c int64
			if !asInt(t, &c) {
				errs = append(errs, fmt.Errorf("status key 0 (soc_temp) is %T", t))
			}
			f.SocTemp = &c
		}
		optUint(st, 1, "throttled", &f.Throttled, &errs)
		optUint(st, 2, "sched", &f.Sched, &errs)
		if raw, present := st[uint64(3)]; present {
			ds, ok := raw.([]any)
			if !ok {
				errs = append(errs, fmt.Errorf("status key 3 (disks) is %T", raw))
			}
			for _, d := range ds {
				var s uint64
				if !asUint(d, &s) {
					errs = append(errs, fmt.Errorf("a disk state is %T", d))
				}
				f.Disks = append(f.Disks, s)
			}
		}
		return true
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("telemetry frame %d: %v", f.Seq, errs[0])
	}
	return f, nil
}

func decodeChannel(raw any, n int) (Channel, error) {
	cm, ok := raw.(map[any]any)
	if !ok {
		return Channel{}, fmt.Errorf("a channel is %T, want a map", raw)
	}
	var c Channel
	if !asUint(cm[uint64(0)], &c.ID) {
		return c, fmt.Errorf("a channel's key 0 (id) is %T", cm[uint64(0)])
	}
	if !asUint(cm[uint64(4)], &c.MWh) {
		return c, fmt.Errorf("channel %d: key 4 (mwh) is %T", c.ID, cm[uint64(4)])
	}
	if fl, present := cm[uint64(5)]; present && !asUint(fl, &c.Flags) {
		return c, fmt.Errorf("channel %d: key 5 (flags) is %T", c.ID, fl)
	}
	for k, col := range []*[]*int64{&c.MV, &c.MA, &c.MW} {
		v, err := column(cm[uint64(k+1)])
		if err != nil {
			return c, fmt.Errorf("channel %d: key %d: %v", c.ID, k+1, err)
		}
		*col = v
	}
	if len(c.MV) != n || len(c.MA) != n || len(c.MW) != n {
		return c, fmt.Errorf("channel %d has %d/%d/%d samples, the frame says %d", c.ID, len(c.MV), len(c.MA), len(c.MW), n)
	}
	return c, nil
}

// column undoes the delta coding: the first non-null value is absolute,
// each later one adds to the previous non-null value.
func column(v any) ([]*int64, error) {
	xs, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("column is %T, want an array", v)
	}
	out := make([]*int64, len(xs))
	var acc int64
	seen := false
	for k, x := range xs {
		if x == nil {
			continue
		}
		var d int64
		if !asInt(x, &d) {
			return nil, fmt.Errorf("sample %d is %T", k, x)
		}
		if seen {
			acc += d
		} else {
			acc, seen = d, true
		}
		val := acc
		out[k] = &val
	}
	return out, nil
}

func asUint(v any, into *uint64) bool {
	x, ok := v.(uint64)
	*into = x
	return ok
}

func asInt(v any, into *int64) bool {
	switch x := v.(type) {
	case uint64:
		if x > 1<<63-1 {
			return false
		}
		*into = int64(x)
		return true
	case int64:
		*into = x
		return true
	}
	return false
}

func optUint(m map[any]any, key uint64, name string, into *uint64, errs *[]error) {
	if v, present := m[key]; present && !asUint(v, into) {
		*errs = append(*errs, fmt.Errorf("status key %d (%s) is %T", key, name, v))
	}
}

// End is the time of the frame's last sample.
func (f *Frame) End() time.Time { return f.SampleTime(f.N - 1) }

// SampleTime is the time of sample i.
func (f *Frame) SampleTime(i int) time.Time {
	ms := f.T0 + int64(i)*f.Dt
	if len(f.Off) == f.N {
		ms += f.Off[i]
	}
	return time.UnixMilli(ms)
}

// Channel returns the channel with id, nil if the frame has none.
func (f *Frame) Channel(id uint64) *Channel {
	for i := range f.Channels {
		if f.Channels[i].ID == id {
			return &f.Channels[i]
		}
	}
	return nil
}

// MaxOffset is the largest deviation of a sample from its nominal time, ms.
func (f *Frame) MaxOffset() int64 {
	var m int64
	for _, o := range f.Off {
		m = max(m, o, -o)
	}
	return m
}

// Frames decodes every message the Recorder received on topic, in arrival
// order, each with its time of arrival (At); one that does not decode
// fails the test.
func (r *Recorder) Frames(t testing.TB, topic string) []*Frame {
	t.Helper()
	var out []*Frame
	for k, m := range r.On(topic, 0) {
		f, err := DecodeFrame(m.Payload)
		if err != nil {
			t.Fatalf("telemetry message %d on %s (%d bytes) does not decode: %v", k, topic, len(m.Payload), err)
		}
		f.At = m.At
		out = append(out, f)
	}
	return out
}
