package mqtt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpool opens a spool whose segment and read position files hold
// anything (a power cut, a bad SD card). It must not fail or panic: records
// that do not check out are cut off, the rest replay in order, and a record
// appended afterwards is the only one left after draining and a restart.
func FuzzSpool(f *testing.F) {
	good := f.TempDir()
	s, err := OpenSpool(SpoolOptions{Dir: good, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		if err := s.Append(t0.Add(time.Duration(i)*time.Second), payload(i)); err != nil {
			f.Fatal(err)
		}
	}
	s.Pop()
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(good, "seg-*"))
	seg, _ := os.ReadFile(segs[0])
	head, _ := os.ReadFile(filepath.Join(good, headFile))
	f.Add(seg, string(head))
	f.Add(seg[:len(seg)-3], string(head))
	f.Add(append(seg, 0x83, 0x1b), "")
	f.Add([]byte{0x83, 0x00, 0x00, 0x40}, "seg-00000000000000000001.cbors 0")
	f.Add([]byte{}, "x 9")
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, seg []byte, head string) {
		dir, err := os.MkdirTemp(base, "spool")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "seg-00000000000000000001.cbors"), seg, 0o600)
		os.WriteFile(filepath.Join(dir, headFile), []byte(head), 0o600)
		s, err := OpenSpool(SpoolOptions{Dir: dir, NoSync: true, MaxAge: 100 * 365 * 24 * time.Hour})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		n := s.Len()
		for k := 0; ; k++ {
			_, ok, err := s.Peek(t0)
			if err != nil {
				t.Fatalf("peek: %v", err)
			}
			if !ok {
				break
			}
			if k > n {
				t.Fatalf("more records than the %d counted", n)
			}
			s.Pop()
		}
		if err := s.Append(t0, []byte("last")); err != nil {
			t.Fatalf("append: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		s, err = OpenSpool(SpoolOptions{Dir: dir, NoSync: true, MaxAge: 100 * 365 * 24 * time.Hour})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		r, ok, err := s.Peek(t0)
		if err != nil || !ok || string(r.Payload) != "last" || s.Len() != 1 {
			t.Fatalf("after a drain and a restart: %q %v %v, %d records", r.Payload, ok, err, s.Len())
		}
	})
}

// FuzzRenderLine is `veille listen` given any message on the telemetry
// topic: it prints exactly one line of valid JSON, a frame or an error.
func FuzzRenderLine(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("..", "telemetry", "testdata", "*.cbor"))
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("not cbor"))
	f.Fuzz(func(t *testing.T, b []byte) {
		line := renderLine(nil, Message{Topic: "veille/nas/tele", Payload: b})
		if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", line)
		}
		if !json.Valid(line) {
			t.Fatalf("not JSON: %s", line)
		}
	})
}
