package telemetry

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var benchStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// plainJSON is the same data as a frame in the JSON a naive reporter would
// send: one object per sample with float SI units and an RFC 3339 time.
type plainJSONSample struct {
	Time     string `json:"time"`
	Channels []struct {
		Name    string  `json:"name"`
		Voltage float64 `json:"voltage"`
		Current float64 `json:"current"`
		Power   float64 `json:"power"`
	} `json:"channels"`
}

func plainJSONSize(f *Frame) int {
	total := 0
	for i := range f.Count {
		var s plainJSONSample
		s.Time = time.UnixMilli(f.SampleTime(i)).UTC().Format(time.RFC3339Nano)
		s.Channels = make([]struct {
			Name    string  `json:"name"`
			Voltage float64 `json:"voltage"`
			Current float64 `json:"current"`
			Power   float64 `json:"power"`
		}, len(f.Channels))
		for k, c := range f.Channels {
			s.Channels[k].Name = fmt.Sprintf("rail%d", c.ID)
			s.Channels[k].Voltage = float64(c.Samples[i].MilliVolts) / 1000
			s.Channels[k].Current = float64(c.Samples[i].MilliAmps) / 1000
			s.Channels[k].Power = float64(c.Samples[i].MilliWatts) / 1000
		}
		b, _ := json.Marshal(s)
		total += len(b)
	}
	return total
}

// BenchmarkWireSize reports the bytes on the wire per sample-channel for
// batched CBOR frames and for the same data as one plain JSON message per
// sample.
func BenchmarkWireSize(b *testing.B) {
	for _, ch := range []int{1, 3} {
		for _, n := range []int{1, 10, 30, 60} {
			frames := synth(1, defaultRails(ch), n, 8, time.Second, benchStart)
			var cborBytes, jsonBytes, sc int
			for _, f := range frames {
				enc, err := Encode(f)
				if err != nil {
					b.Fatal(err)
				}
				cborBytes += len(enc)
				jsonBytes += plainJSONSize(f)
				sc += f.Count * len(f.Channels)
			}
			b.Run(fmt.Sprintf("ch=%d/samples=%d", ch, n), func(b *testing.B) {
				for range b.N {
				}
				b.ReportMetric(float64(cborBytes)/float64(sc), "cbor-B/sample-ch")
				b.ReportMetric(float64(jsonBytes)/float64(sc), "json-B/sample-ch")
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	f := synth(2, defaultRails(3), DefaultSamples, 1, time.Second, benchStart)[0]
	var e Encoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Encode(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeJSONPlain(b *testing.B) {
	f := synth(2, defaultRails(3), DefaultSamples, 1, time.Second, benchStart)[0]
	b.ReportAllocs()
	for b.Loop() {
		plainJSONSize(f)
	}
}

func BenchmarkDecode(b *testing.B) {
	f := synth(2, defaultRails(3), DefaultSamples, 1, time.Second, benchStart)[0]
	enc, err := Encode(f)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatcherAdd(b *testing.B) {
	bt, err := NewBatcher(BatcherOptions{Channels: []uint16{0, 1, 2}, Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	rs := make([]Reading, 3)
	for i := range rs {
		rs[i] = Reading{Voltage: 5_000_000_000, Current: 500_000_000, Power: 2_500_000_000, OK: true}
	}
	t := benchStart
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Second)
		if _, err := bt.Add(t, rs); err != nil {
			b.Fatal(err)
		}
	}
}
