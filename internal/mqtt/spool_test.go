package mqtt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func openSpool(t *testing.T, o SpoolOptions) *Spool {
	t.Helper()
	o.NoSync = true
	s, err := OpenSpool(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(i int) []byte { return []byte(fmt.Sprintf("frame-%04d", i)) }

// drain pops everything, checking the records come out as want.
func drain(t *testing.T, s *Spool, now time.Time) []string {
	t.Helper()
	var got []string
	for {
		r, ok, err := s.Peek(now)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		got = append(got, string(r.Payload))
		s.Pop()
	}
}

func TestSpoolFIFOAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 100})
	for i := range 20 {
		if err := s.Append(t0.Add(time.Duration(i)*time.Second), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	// Consume 7, then "restart".
	for i := range 7 {
		r, ok, err := s.Peek(t0)
		if err != nil || !ok || string(r.Payload) != string(payload(i)) {
			t.Fatalf("peek %d: %q %v %v", i, r.Payload, ok, err)
		}
		if !r.Queued.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Errorf("record %d queued at %v", i, r.Queued)
		}
		s.Pop()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 100})
	if s.Len() != 13 {
		t.Fatalf("after restart %d records, want 13", s.Len())
	}
	if err := s.Append(t0, payload(20)); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s, t0)
	if len(got) != 14 || got[0] != string(payload(7)) || got[13] != string(payload(20)) {
		t.Fatalf("after restart got %v", got)
	}
	if s.Dropped() != 0 {
		t.Errorf("dropped %d", s.Dropped())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(left) != 0 {
		t.Errorf("segments left after draining: %v", left)
	}
}

// A crash without Close replays from the start of the oldest segment: a
// record may come twice, none is lost.
func TestSpoolCrashReplaysNothingLost(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir})
	for i := range 5 {
		s.Append(t0, payload(i))
	}
	s.Peek(t0)
	s.Pop()
	// no Close: the process died
	s2 := openSpool(t, SpoolOptions{Dir: dir})
	got := drain(t, s2, t0)
	if len(got) != 5 || got[4] != string(payload(4)) {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir})
	for i := range 3 {
		s.Append(t0, payload(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	fi, _ := os.Stat(segs[0])
	// Power cut in the middle of the third record.
	if err := os.Truncate(segs[0], fi.Size()-4); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, SpoolOptions{Dir: dir})
	if err := s.Append(t0, payload(3)); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s, t0)
	want := []string{string(payload(0)), string(payload(1)), string(payload(3))}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSpoolCorruptRecordIsCutOff(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir})
	for i := range 3 {
		s.Append(t0, payload(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	b, _ := os.ReadFile(segs[0])
	b[len(b)-2] ^= 0xff // flip a payload byte of the last record: CRC fails
	os.WriteFile(segs[0], b, 0o640)
	s = openSpool(t, SpoolOptions{Dir: dir})
	if got := drain(t, s, t0); len(got) != 2 {
		t.Fatalf("got %v, want the two intact records", got)
	}
}

func TestSpoolSizeLimitDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir, MaxBytes: 400, SegmentBytes: 100})
	for i := range 60 {
		if err := s.Append(t0, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	kept := s.Len()
	if s.Dropped() == 0 || uint64(kept)+s.Dropped() != 60 {
		t.Fatalf("kept %d dropped %d of 60", kept, s.Dropped())
	}
	got := drain(t, s, t0)
	if got[len(got)-1] != string(payload(59)) || got[0] != string(payload(60-kept)) {
		t.Fatalf("kept %v, want the newest %d", got, kept)
	}
	var size int64
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	for _, p := range segs {
		fi, _ := os.Stat(p)
		size += fi.Size()
	}
	if size > 400 {
		t.Errorf("spool holds %d bytes on disk, limit 400", size)
	}
}

func TestSpoolAgeLimit(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir, MaxAge: time.Hour, SegmentBytes: 60})
	for i := range 10 {
		s.Append(t0.Add(time.Duration(i)*10*time.Minute), payload(i))
	}
	// At t0+2h, records queued before t0+1h are too old: 0..5 go.
	got := drain(t, s, t0.Add(2*time.Hour))
	if len(got) != 4 || got[0] != string(payload(6)) {
		t.Fatalf("got %v", got)
	}
	if s.Dropped() != 6 {
		t.Errorf("dropped %d, want 6", s.Dropped())
	}
}

func TestSpoolRejectsOversizedRecord(t *testing.T) {
	s := openSpool(t, SpoolOptions{Dir: t.TempDir(), MaxBytes: 4096})
	if err := s.Append(t0, make([]byte, 5000)); err == nil {
		t.Fatal("accepted a record larger than the spool")
	}
	if s.Dropped() != 1 || s.Len() != 0 {
		t.Errorf("dropped %d len %d", s.Dropped(), s.Len())
	}
}
