package telemetry

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

func reading(mv, ma, mw int64, mwh uint64) Reading {
	return Reading{
		Voltage:       physic.ElectricPotential(mv) * physic.MilliVolt,
		Current:       physic.ElectricCurrent(ma) * physic.MilliAmpere,
		Power:         physic.Power(mw) * physic.MilliWatt,
		EnergyMilliWh: mwh,
		OK:            true,
	}
}

func newTestBatcher(t *testing.T, samples int) *Batcher {
	t.Helper()
	b, err := NewBatcher(BatcherOptions{Channels: []uint16{10, 11}, Samples: samples, Interval: time.Second, Run: 99, FirstSeq: 5})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBatcherEmitsWhenFull(t *testing.T) {
	b := newTestBatcher(t, 3)
	t0 := time.UnixMilli(1_700_000_000_000)
	var got []*Frame
	for i := range 7 {
		rs := []Reading{reading(5000+int64(i), 100, 500, uint64(i)), reading(12000, -20, -240, 7)}
		f, err := b.Add(t0.Add(time.Duration(i)*time.Second+time.Duration(i%2)*time.Millisecond), rs)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			got = append(got, cloneFrame(f))
		}
	}
	if len(got) != 2 {
		t.Fatalf("got %d frames after 7 samples of 3, want 2", len(got))
	}
	f := got[1]
	if f.Seq != 6 || f.Run != 99 || f.Count != 3 || f.Interval != 1000 {
		t.Errorf("frame header %+v", f)
	}
	if f.Start != t0.Add(3*time.Second).UnixMilli()+1 {
		t.Errorf("start %d", f.Start)
	}
	if want := []int32{0, -1, 0}; !equalInts(f.Offsets, want) {
		t.Errorf("offsets %v, want %v", f.Offsets, want)
	}
	if s := f.Channels[0].Samples[2]; s.MilliVolts != 5005 || s.MilliAmps != 100 || s.MilliWatts != 500 || !s.OK {
		t.Errorf("sample %+v", s)
	}
	if f.Channels[1].Samples[0].MilliAmps != -20 || f.Channels[0].ID != 10 || f.Channels[1].ID != 11 {
		t.Errorf("channels %+v", f.Channels)
	}
	if f.Channels[0].EnergyMilliWh != 5 {
		t.Errorf("energy %d, want 5", f.Channels[0].EnergyMilliWh)
	}
	last := b.Flush()
	if last == nil || last.Count != 1 || last.Seq != 7 || len(last.Offsets) != 1 {
		t.Fatalf("flush gave %+v", last)
	}
	if b.Flush() != nil {
		t.Error("second flush returned a frame")
	}
	for _, f := range append(got, last) {
		if _, err := Encode(f); err != nil {
			t.Errorf("seq %d: %v", f.Seq, err)
		}
	}
}

func TestBatcherClosesFrameOnGap(t *testing.T) {
	b := newTestBatcher(t, 10)
	t0 := time.UnixMilli(1_700_000_000_000)
	rs := []Reading{reading(5000, 1, 5, 0), reading(5000, 1, 5, 0)}
	at := func(d time.Duration) *Frame {
		t.Helper()
		f, err := b.Add(t0.Add(d), rs)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			return cloneFrame(f)
		}
		return nil
	}
	at(0)
	at(time.Second)
	if f := at(2*time.Second + 499*time.Millisecond); f != nil {
		t.Fatal("a sample within half an interval closed the frame")
	}
	// The Pi was halted for 8 hours.
	f := at(8 * time.Hour)
	if f == nil || f.Count != 3 || f.Offsets[2] != 499 {
		t.Fatalf("gap: got %+v, want the 3-sample frame", f)
	}
	// The clock stepped back: the frame closes rather than go backwards.
	f = at(8*time.Hour - time.Minute)
	if f == nil || f.Count != 1 || f.Start != t0.Add(8*time.Hour).UnixMilli() {
		t.Fatalf("clock step back: got %+v", f)
	}
	if f := b.Flush(); f == nil || f.Start != t0.Add(8*time.Hour-time.Minute).UnixMilli() {
		t.Fatalf("flush after step: %+v", f)
	}
}

// With one sample per frame a gap closes one frame and fills the next in the
// same call; nothing may be lost or overrun.
func TestBatcherOneSamplePerFrame(t *testing.T) {
	b := newTestBatcher(t, 1)
	t0 := time.UnixMilli(1_700_000_000_000)
	rs := []Reading{reading(5000, 1, 5, 0), reading(5000, 1, 5, 0)}
	var seqs []uint32
	for _, d := range []time.Duration{0, time.Second, time.Hour, time.Hour + time.Second, 2 * time.Hour} {
		f, err := b.Add(t0.Add(d), rs)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			seqs = append(seqs, f.Seq)
		}
	}
	if f := b.Flush(); f != nil {
		seqs = append(seqs, f.Seq)
	}
	if len(seqs) != 5 {
		t.Fatalf("got frames %v, want 5", seqs)
	}
	for i, s := range seqs {
		if s != uint32(5+i) {
			t.Errorf("seqs %v not consecutive from 5", seqs)
			break
		}
	}
}

func TestBatcherEnergyNeverDecreases(t *testing.T) {
	b := newTestBatcher(t, 4)
	t0 := time.UnixMilli(1_700_000_000_000)
	var f *Frame
	for i, e := range []uint64{100, 120, 90, 130} {
		var err error
		f, err = b.Add(t0.Add(time.Duration(i)*time.Second), []Reading{reading(5000, 1, 5, e), reading(5000, 1, 5, 10)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if f == nil || f.Channels[0].EnergyMilliWh != 130 || b.EnergyRegressions() != 1 {
		t.Fatalf("energy %+v regressions %d", f, b.EnergyRegressions())
	}
	f, _ = b.Add(t0.Add(4*time.Second), []Reading{reading(5000, 1, 5, 5), reading(5000, 1, 5, 10)})
	if f != nil {
		t.Fatal("unexpected frame")
	}
	if f = b.Flush(); f.Channels[0].EnergyMilliWh != 130 {
		t.Errorf("counter went back to %d", f.Channels[0].EnergyMilliWh)
	}
}

func TestBatcherFlagsAndStatus(t *testing.T) {
	b := newTestBatcher(t, 3)
	t0 := time.UnixMilli(1_700_000_000_000)
	disks := []DiskState{DiskActive, DiskActive}
	b.SetStatus(Status{SoCTemp: 512, HasSoCTemp: true, Scheduler: SchedulerHeld, Disks: disks})
	disks[0] = DiskOff // the Batcher must have copied the slice
	over := reading(5000, 3200, 16000, 0)
	over.Overflow = true
	b.Add(t0, []Reading{over, {OK: false}})
	b.Add(t0.Add(time.Second), []Reading{reading(5000, 1, 5, 0), reading(5000, 1, 5, 0)})
	b.SetStatus(Status{Scheduler: SchedulerDisksAsleep, Disks: []DiskState{DiskStandby, DiskOff}})
	f, _ := b.Add(t0.Add(2*time.Second), []Reading{reading(5000, 1, 5, 0), {}})
	if f == nil {
		t.Fatal("no frame")
	}
	if f.Channels[0].Flags != ChannelOverflow {
		t.Errorf("channel 10 flags %v, want overflow", f.Channels[0].Flags)
	}
	if f.Channels[1].Flags != ChannelUnavailable || f.Channels[1].Samples[0].OK || !f.Channels[1].Samples[1].OK {
		t.Errorf("channel 11 %+v", f.Channels[1])
	}
	if f.Status.Scheduler != SchedulerDisksAsleep || f.Status.HasSoCTemp || f.Status.Disks[0] != DiskStandby {
		t.Errorf("status %+v, want the last one set", f.Status)
	}
	b.Add(t0.Add(3*time.Second), []Reading{reading(5000, 1, 5, 0), reading(5000, 1, 5, 0)})
	next := b.Flush()
	if next.Channels[0].Flags != 0 || next.Channels[1].Flags != 0 {
		t.Errorf("flags leaked into the next frame: %v %v", next.Channels[0].Flags, next.Channels[1].Flags)
	}
	if next.Status.Disks[1] != DiskOff {
		t.Errorf("next frame status %+v", next.Status)
	}
}

func TestBatcherAllocationFree(t *testing.T) {
	b := newTestBatcher(t, 30)
	t0 := time.UnixMilli(1_700_000_000_000)
	rs := []Reading{reading(5000, 1, 5, 0), reading(5000, 1, 5, 0)}
	var e Encoder
	i := 0
	step := func() {
		i++
		f, err := b.Add(t0.Add(time.Duration(i)*time.Second), rs)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			if _, err := e.Encode(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 100 { // warm up: buffers reach their size
		step()
	}
	if n := testing.AllocsPerRun(300, step); n != 0 {
		t.Errorf("Add+Encode allocates %v times per sample in steady state", n)
	}
}

func TestBatcherOptions(t *testing.T) {
	bad := []BatcherOptions{
		{Channels: []uint16{1}, Interval: 0},
		{Channels: []uint16{1}, Interval: time.Microsecond},
		{Channels: []uint16{1, 1}, Interval: time.Second},
		{Channels: []uint16{1}, Interval: time.Second, Samples: MaxSamples + 1},
		{Channels: make([]uint16, MaxChannels+1), Interval: time.Second},
	}
	for _, o := range bad {
		if _, err := NewBatcher(o); err == nil {
			t.Errorf("NewBatcher(%+v) accepted", o)
		}
	}
	b := newTestBatcher(t, 3)
	if _, err := b.Add(time.Now(), []Reading{{}}); !errors.Is(err, ErrReadings) {
		t.Errorf("1 reading for 2 channels: %v", err)
	}
}

// TestWireSizeTarget pins the design target: with the default batch, three
// realistic rails cost at most 8 bytes per sample-channel.
func TestWireSizeTarget(t *testing.T) {
	frames := synth(11, defaultRails(3), DefaultSamples, 10, time.Second, benchStart)
	total, sc := 0, 0
	for _, f := range frames {
		enc, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(enc)
		sc += f.Count * len(f.Channels)
	}
	if per := float64(total) / float64(sc); per > 8 {
		t.Errorf("%.2f bytes per sample-channel, target ≤ 8", per)
	} else {
		t.Logf("%.2f bytes per sample-channel (%d frames, %d bytes)", per, len(frames), total)
	}
}

func TestJSONLineIsValidJSON(t *testing.T) {
	frames := synth(5, defaultRails(3), 5, 2, time.Second, benchStart)
	for _, f := range frames {
		line := AppendJSON(nil, "node\"with\\odd\x01chars\xff", f)
		if line[len(line)-1] != '\n' {
			t.Fatal("no newline")
		}
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("invalid JSON %s: %v", line, err)
		}
		ch := v["channels"].([]any)[0].(map[string]any)
		want := float64(f.Channels[0].Samples[1].MilliVolts) / 1000
		if got := ch["V"].([]any)[1].(float64); got != want {
			t.Errorf("V[1] = %v, want %v", got, want)
		}
	}
}

func TestMeta(t *testing.T) {
	one := uint16(1)
	b, err := MarshalMeta(Meta{Node: "pi", IntervalMS: 1000, Samples: 30,
		Channels: []MetaChannel{{ID: 1, Name: "usb-disk", Chip: "ina226", ShuntMicroOhms: 100000}},
		Disks:    []MetaDisk{{Index: 0, Name: "media", Channel: &one}}})
	if err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Schema != Version || m.Units["voltage"] != "mV" || m.Channels[0].ShuntMicroOhms != 100000 || *m.Disks[0].Channel != 1 {
		t.Errorf("meta %s", b)
	}
}

func equalInts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
