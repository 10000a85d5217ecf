// Package tests drives the built veille binary against real peers: a real
// mosquitto broker on a loopback port, decoding what veille publishes with an
// independent CBOR decoder (not veille's own codec).
package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"
)

var veilleBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "veille-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	veilleBin = filepath.Join(dir, "veille")
	build := exec.Command("go", "build", "-o", veilleBin, "../cmd/veille")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building veille: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mosquitto starts a real broker on a free loopback port, as our child.
func mosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			t.Fatalf("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "tcp://" + addr
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("mosquitto did not start: %s", logs.String())
	return ""
}

type collector struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

func subscribe(t *testing.T, broker string, topics ...string) *collector {
	t.Helper()
	c := &collector{msgs: map[string][][]byte{}}
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID("e2e-" + t.Name()).SetOrderMatters(true)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	for _, topic := range topics {
		tok := cl.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
			c.mu.Lock()
			c.msgs[m.Topic()] = append(c.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
			c.mu.Unlock()
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	return c
}

func (c *collector) get(topic string) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs[topic]...)
}

// frame is the telemetry frame as docs/telemetry.cddl describes it, decoded
// generically: integer keys, columns of first-absolute-then-delta samples.
type frame struct {
	run, seq   uint64
	t0, dt, n  int64
	off        []int64
	chans      []channel
	schedState uint64
}

type channel struct {
	id         uint64
	mv, ma, mw []*int64 // nil: not read
	mwh        uint64
}

func decodeFrame(b []byte) (*frame, error) {
	var m map[uint64]any
	if err := cbor.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if v, _ := m[0].(uint64); v != 1 {
		return nil, fmt.Errorf("schema version %v", m[0])
	}
	f := &frame{run: u(m[1]), seq: u(m[2]), t0: i(m[3]), dt: i(m[4]), n: i(m[5])}
	if offs, ok := m[6].([]any); ok {
		for _, o := range offs {
			f.off = append(f.off, i(o))
		}
	}
	chs, _ := m[7].([]any)
	for _, raw := range chs {
		cm, ok := raw.(map[any]any)
		if !ok {
			return nil, fmt.Errorf("channel is %T", raw)
		}
		c := channel{id: u(cm[uint64(0)]), mwh: u(cm[uint64(4)])}
		c.mv, c.ma, c.mw = column(cm[uint64(1)]), column(cm[uint64(2)]), column(cm[uint64(3)])
		if len(c.mv) != int(f.n) || len(c.ma) != int(f.n) || len(c.mw) != int(f.n) {
			return nil, fmt.Errorf("channel %d has %d/%d/%d samples, frame says %d", c.id, len(c.mv), len(c.ma), len(c.mw), f.n)
		}
		f.chans = append(f.chans, c)
	}
	if st, ok := m[8].(map[any]any); ok {
		f.schedState = u(st[uint64(2)])
	}
	return f, nil
}

// column undoes the delta coding: the first non-null value is absolute,
// later ones add to the previous non-null value.
func column(v any) []*int64 {
	xs, _ := v.([]any)
	out := make([]*int64, len(xs))
	var acc int64
	seen := false
	for k, x := range xs {
		if x == nil {
			continue
		}
		d := i(x)
		if seen {
			acc += d
		} else {
			acc, seen = d, true
		}
		val := acc
		out[k] = &val
	}
	return out
}

func u(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	}
	return 0
}

func i(v any) int64 {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

// TestDemoPublishesToMosquitto runs `veille demo` against a real mosquitto
// and checks what arrives, decoded independently of veille's codec.
func TestDemoPublishesToMosquitto(t *testing.T) {
	broker := mosquitto(t)
	col := subscribe(t, broker, "veille/demo/tele", "veille/demo/meta", "veille/demo/status", "veille/demo/state")

	// veille listen, started before the demo, decodes the same stream.
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	listen := exec.CommandContext(lctx, veilleBin, "listen", "--broker", broker, "--node", "demo")
	var listenOut, listenErr bytes.Buffer
	listen.Stdout, listen.Stderr = &listenOut, &listenErr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let it subscribe (QoS 1, not retained)

	demo := exec.Command(veilleBin, "demo", "--for", "20s", "--broker", broker, "--speed", "200")
	out, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("veille demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "decoded from MQTT") {
		t.Errorf("demo output shows no decoded telemetry:\n%s", out)
	}
	time.Sleep(500 * time.Millisecond) // the last messages in flight
	lcancel()
	listen.Wait()

	raws := col.get("veille/demo/tele")
	t.Logf("received %d telemetry frames, %d bytes of output from veille listen", len(raws), listenOut.Len())
	if len(raws) < 30 {
		t.Fatalf("only %d frames in 20 s of demo", len(raws))
	}
	var frames []*frame
	for k, b := range raws {
		f, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v", k, len(b), err)
		}
		frames = append(frames, f)
	}
	checkFrames(t, frames)

	if meta := col.get("veille/demo/meta"); len(meta) == 0 || !json.Valid(meta[len(meta)-1]) {
		t.Errorf("no valid retained meta (%d messages)", len(meta))
	}
	if st := col.get("veille/demo/status"); len(st) == 0 || string(st[0]) != "online" {
		t.Errorf("status messages %q, want online first", st)
	}

	// veille listen printed one JSON line per frame with the same sequence numbers.
	seqs := map[uint64]bool{}
	sc := bufio.NewScanner(&listenOut)
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
		if !seqs[f.seq] {
			missing++
		}
	}
	if missing > 0 || len(seqs) == 0 {
		t.Errorf("veille listen missed %d of %d frames (stderr: %s)", missing, len(frames), listenErr.String())
	}
}

func checkFrames(t *testing.T, frames []*frame) {
	t.Helper()
	lastSeq := map[uint64]uint64{}
	lastEnd := map[uint64]int64{}
	lastWh := map[uint64]uint64{}
	var samples, checked int
	for _, f := range frames {
		if prev, ok := lastSeq[f.run]; ok && f.seq != prev+1 {
			t.Errorf("run %x: seq %d after %d", f.run, f.seq, prev)
		}
		lastSeq[f.run] = f.seq
		if f.dt <= 0 || f.n <= 0 {
			t.Fatalf("frame %d: dt %d n %d", f.seq, f.dt, f.n)
		}
		if end, ok := lastEnd[f.run]; ok && f.t0 < end {
			t.Errorf("frame %d starts at %d, before the previous frame's last sample %d", f.seq, f.t0, end)
		}
		lastEnd[f.run] = f.t0 + (f.n-1)*f.dt
		if f.t0 < time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
			t.Errorf("frame %d timestamp %d is not a real time", f.seq, f.t0)
		}
		for _, c := range f.chans {
			if c.mwh < lastWh[c.id] {
				t.Errorf("channel %d energy went back: %d mWh after %d", c.id, c.mwh, lastWh[c.id])
			}
			lastWh[c.id] = c.mwh
			for k := range c.mv {
				if c.mv[k] == nil || c.ma[k] == nil || c.mw[k] == nil {
					continue
				}
				samples++
				v, a, w := float64(*c.mv[k]), float64(*c.ma[k]), float64(*c.mw[k])
				// The chip's power register is the average of V·I; V×I of
				// averages differs a little while the load changes.
				if vi := v * a / 1000; math.Abs(vi-w) > 0.03*math.Abs(w)+30 {
					t.Errorf("channel %d sample %d: %v mV × %v mA = %.0f mW, but power says %v mW", c.id, k, v, a, vi, w)
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
				cmd := exec.Command(veilleBin, sub, "--config", path)
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
	ex, err := exec.Command(veilleBin, "check", "--example").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, ex, 0o600)
	out, err := exec.Command(veilleBin, "schedule", "--config", path, "--from", "2026-12-01 12:00", "--count", "4").Output()
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
