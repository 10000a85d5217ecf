// Package tests drives the built veille binary against real peers: a real
// mosquitto broker on a loopback port, decoding what veille publishes with an
// independent CBOR decoder (not veille's own codec).
package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

func TestMain(m *testing.M) { peers.Main(m) }

// TestDemoPublishesToMosquitto runs `veille demo` against a real mosquitto
// and checks what arrives, decoded independently of veille's codec.
func TestDemoPublishesToMosquitto(t *testing.T) {
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil, "veille/demo/tele", "veille/demo/meta", "veille/demo/status", "veille/demo/state")

	// veille listen, started before the demo, decodes the same stream.
	listen := peers.Start(t, "listen", "--broker", broker, "--node", "demo")
	time.Sleep(300 * time.Millisecond) // let it subscribe (QoS 1, not retained)

	out := peers.Demo(t, "--for", "20s", "--broker", broker, "--speed", "200")
	if !strings.Contains(out, "decoded from MQTT") {
		t.Errorf("demo output shows no decoded telemetry:\n%s", out)
	}
	time.Sleep(500 * time.Millisecond) // the last messages in flight
	listen.Stop()
	listenOut := listen.Stdout()

	raws := rec.On("veille/demo/tele", 0)
	t.Logf("received %d telemetry frames, %d bytes of output from veille listen", len(raws), len(listenOut))
	if len(raws) < 30 {
		t.Fatalf("only %d frames in 20 s of demo", len(raws))
	}
	var frames []*peers.Frame
	for k, m := range raws {
		f, err := peers.DecodeFrame(m.Payload)
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v", k, len(m.Payload), err)
		}
		frames = append(frames, f)
	}
	checkFrames(t, frames)

	if meta := rec.On("veille/demo/meta", 0); len(meta) == 0 || !json.Valid(meta[len(meta)-1].Payload) {
		t.Errorf("no valid retained meta (%d messages)", len(meta))
	}
	var status []string
	for _, m := range rec.On("veille/demo/status", 0) {
		status = append(status, string(m.Payload))
	}
	if len(status) == 0 || status[0] != "online" {
		t.Errorf("status messages %q, want online first", status)
	}

	// veille listen printed one JSON line per frame with the same sequence numbers.
	seqs := map[uint64]bool{}
	sc := bufio.NewScanner(strings.NewReader(listenOut))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Seq uint64 `json:"seq"`
			Run uint64 `json:"run"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("veille listen printed a line that is not JSON: %q", sc.Text())
		}
		seqs[l.Seq] = true
	}
	missing := 0
	for _, f := range frames {
		if !seqs[f.Seq] {
			missing++
		}
	}
	if missing > 0 || len(seqs) == 0 {
		t.Errorf("veille listen missed %d of %d frames (stderr: %s)", missing, len(frames), listen.Stderr())
	}
}

func checkFrames(t *testing.T, frames []*peers.Frame) {
	t.Helper()
	lastSeq := map[uint64]uint64{}
	lastEnd := map[uint64]int64{}
	lastWh := map[uint64]uint64{}
	var samples, checked int
	for _, f := range frames {
		if prev, ok := lastSeq[f.Run]; ok && f.Seq != prev+1 {
			t.Errorf("run %x: seq %d after %d", f.Run, f.Seq, prev)
		}
		lastSeq[f.Run] = f.Seq
		if f.Dt <= 0 || f.N <= 0 {
			t.Fatalf("frame %d: dt %d n %d", f.Seq, f.Dt, f.N)
		}
		if end, ok := lastEnd[f.Run]; ok && f.T0 < end {
			t.Errorf("frame %d starts at %d, before the previous frame's last sample %d", f.Seq, f.T0, end)
		}
		lastEnd[f.Run] = f.T0 + int64(f.N-1)*f.Dt
		if f.T0 < time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
			t.Errorf("frame %d timestamp %d is not a real time", f.Seq, f.T0)
		}
		for _, c := range f.Channels {
			if c.MWh < lastWh[c.ID] {
				t.Errorf("channel %d energy went back: %d mWh after %d", c.ID, c.MWh, lastWh[c.ID])
			}
			lastWh[c.ID] = c.MWh
			for k := range c.MV {
				if c.MV[k] == nil || c.MA[k] == nil || c.MW[k] == nil {
					continue
				}
				samples++
				v, a, w := float64(*c.MV[k]), float64(*c.MA[k]), float64(*c.MW[k])
				// The chip's power register is the average of V·I; V×I of
				// averages differs a little while the load changes.
				if vi := v * a / 1000; math.Abs(vi-w) > 0.03*math.Abs(w)+30 {
					t.Errorf("channel %d sample %d: %v mV × %v mA = %.0f mW, but power says %v mW", c.ID, k, v, a, vi, w)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d samples checked", checked)
	}
	t.Logf("%d frames, %d samples checked: seq contiguous, times increasing, power ≈ V×I, energy never decreasing", len(frames), samples)
}

// TestConfigErrors: a typo, a bad time and a missing file each give one
// line naming the file, the line and the key, and a non-zero exit.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, doc, want string
	}{
		{"typo", "version = 1\n[sampling]\nintervall = \"10s\"\n", `veille.toml:3: sampling.intervall: unknown key (did you mean "interval"?)`},
		{"bad time", "version = 1\n[[schedule.window]]\nname = \"night\"\ndays = [\"daily\"]\nsleep = \"23:00\"\nwake = \"25:00\"\ndepth = \"system\"\n",
			`veille.toml:6: schedule.window[0].wake: "25:00" is not a time of day (HH:MM)`},
		{"missing", "", "no such configuration file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name, "veille.toml")
			if tc.doc != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				os.WriteFile(path, []byte(tc.doc), 0o644)
			}
			for _, sub := range []string{"check", "run", "schedule"} {
				cmd := exec.Command(peers.Veille(t), sub, "--config", path)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() == 0 {
					t.Fatalf("veille %s: exit %v, want non-zero", sub, err)
				}
				msg := strings.TrimSpace(stderr.String())
				if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) {
					t.Errorf("veille %s said %q, want one line containing %q", sub, msg, tc.want)
				}
			}
		})
	}
}

// TestScheduleExample checks `veille schedule` on the shipped example.
func TestScheduleExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "veille.toml")
	ex, err := exec.Command(peers.Veille(t), "check", "--example").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, ex, 0o600)
	out, err := exec.Command(peers.Veille(t), "schedule", "--config", path, "--from", "2026-12-01 12:00", "--count", "4").Output()
	if err != nil {
		t.Fatalf("veille schedule: %v", err)
	}
	want := `{"time":"2026-12-01T23:30:00+01:00","state":"disks","window":"night","reason":"window night: disks asleep until Wed 06:30"}
{"time":"2026-12-02T06:30:00+01:00","state":"awake","window":"night","reason":"window night ends"}
`
	if got := string(out); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 4 {
		t.Errorf("veille schedule printed:\n%s\nwant it to start with:\n%s", got, want)
	}
}
