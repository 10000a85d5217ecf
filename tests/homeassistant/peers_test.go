// Package homeassistant drives the built veille binary as Home Assistant
// would: a real mosquitto on a loopback port, `veille demo` publishing to it
// (its simulated world gives the agent real sequences to run), and a test
// client that reads the retained discovery, state and schedule topics, checks
// them against Home Assistant's documented rules, sends the command
// vocabulary and checks what each command did.
//
// Nothing here imports veille's own Home Assistant code: the rules, the
// abbreviations and the command vocabulary are written down from Home
// Assistant's documentation and docs/homeassistant.md, so a mistake in the
// code is not repeated in its test.
package homeassistant

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

var veilleBin string

// patience bounds every wait for something that should happen: generous,
// as the machine may be loaded (2 cores, other packages' tests, fuzzing).
const patience = 60 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "veille-ha-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	veilleBin = filepath.Join(dir, "veille")
	build := exec.Command("go", "build", "-o", veilleBin, "../../cmd/veille")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building veille: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mosquitto starts a real broker on a free loopback port, as our child, and
// returns its URL.
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
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "tcp://" + addr
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("mosquitto did not start: %s", logs.String())
	return ""
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// message is one MQTT message as the recorder saw it.
type message struct {
	n        int // position in the recording
	topic    string
	payload  []byte
	retained bool
}

// recorder is Home Assistant's side of the broker: one client subscribed to
// everything, keeping every message in arrival order.
type recorder struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	msgs   []message
}

func record(t *testing.T, broker string, filters ...string) *recorder {
	t.Helper()
	r := &recorder{t: t}
	r.client = connect(t, broker, "ha-"+sanitize(t.Name()))
	if len(filters) == 0 {
		filters = []string{"#"}
	}
	for _, f := range filters {
		tok := r.client.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			r.mu.Lock()
			r.msgs = append(r.msgs, message{n: len(r.msgs), topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained()})
			r.mu.Unlock()
		})
		if !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	return r
}

func sanitize(s string) string { return regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(s, "_") }

func connect(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetOrderMatters(true).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// count is the number of messages recorded so far: a mark to look after.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// on returns the messages on topic recorded at or after mark, in order.
func (r *recorder) on(topic string, mark int) []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []message
	for _, m := range r.msgs[min(mark, len(r.msgs)):] {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// matching returns the messages whose topic matches re, after mark.
func (r *recorder) matching(re *regexp.Regexp, mark int) []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []message
	for _, m := range r.msgs[min(mark, len(r.msgs)):] {
		if re.MatchString(m.topic) {
			out = append(out, m)
		}
	}
	return out
}

// last returns the latest message on topic after mark.
func (r *recorder) last(topic string, mark int) (message, bool) {
	ms := r.on(topic, mark)
	if len(ms) == 0 {
		return message{}, false
	}
	return ms[len(ms)-1], true
}

// waitFor waits (generously: the machine may be loaded) for the first
// message on topic after mark that satisfies ok, and returns it.
func (r *recorder) waitFor(topic string, mark int, timeout time.Duration, what string, ok func(message) bool) message {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range r.on(topic, mark) {
			if ok == nil || ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, m := range r.on(topic, mark) {
				seen = append(seen, abbrev(m.payload))
			}
			r.t.Fatalf("%s: nothing suitable on %s within %v; saw %d messages there: %s", what, topic, timeout, len(seen), strings.Join(seen, " | "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func abbrev(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// publish sends one message and waits for the broker to take it.
func publish(t *testing.T, c paho.Client, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// retainedOn reads the retained message of topic as a client that connects
// now would (Home Assistant after a restart): a fresh subscription, and the
// message only counts if the broker flags it retained.
func retainedOn(t *testing.T, broker, topic string) []byte {
	t.Helper()
	c := connect(t, broker, "ha-retained-"+sanitize(t.Name()))
	defer c.Disconnect(50)
	got := make(chan []byte, 1)
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			select {
			case got <- append([]byte(nil), m.Payload()...):
			default:
			}
		}
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	select {
	case b := <-got:
		return b
	case <-time.After(patience):
		t.Fatalf("no retained message on %s", topic)
		return nil
	}
}

// veille is a running `veille` process with its output captured.
type veille struct {
	t        *testing.T
	cmd      *exec.Cmd
	stdout   syncBuffer
	stderr   syncBuffer
	done     chan struct{}
	exitErr  error
	stopOnce sync.Once
}

// startVeille runs the binary with args until the test ends (or stop).
func startVeille(t *testing.T, args ...string) *veille {
	t.Helper()
	v := &veille{t: t, done: make(chan struct{})}
	v.cmd = exec.Command(veilleBin, args...)
	v.cmd.Stdout, v.cmd.Stderr = &v.stdout, &v.stderr
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start veille %v: %v", args, err)
	}
	go func() { v.exitErr = v.cmd.Wait(); close(v.done) }()
	t.Cleanup(func() {
		v.stop()
		if t.Failed() {
			t.Logf("veille %s stdout:\n%s", strings.Join(args, " "), tail(v.stdout.String(), 6000))
			t.Logf("veille stderr:\n%s", tail(v.stderr.String(), 6000))
		}
	})
	return v
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// stop interrupts veille as Ctrl-C would and waits for it to end.
func (v *veille) stop() {
	v.stopOnce.Do(func() {
		select {
		case <-v.done:
			return
		default:
		}
		v.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-v.done:
		case <-time.After(30 * time.Second):
			v.t.Errorf("veille did not stop within 30 s of SIGINT; killed")
			v.cmd.Process.Kill()
			<-v.done
		}
	})
}

// waitOutput waits for re to match standard output (out) or standard error.
func (v *veille) waitOutput(stream string, re *regexp.Regexp, timeout time.Duration) string {
	v.t.Helper()
	buf := &v.stdout
	if stream == "stderr" {
		buf = &v.stderr
	}
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindString(buf.String()); m != "" {
			return m
		}
		select {
		case <-v.done:
			if m := re.FindString(buf.String()); m != "" {
				return m
			}
			v.t.Fatalf("veille exited (%v) before its %s showed %q", v.exitErr, stream, re)
		default:
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("veille's %s did not show %q within %v", stream, re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// demoConfig returns the demo's own configuration (internal/agent/demo.toml)
// with the given replacements applied; each old string must be there, so a
// change of the demo's file shows up here instead of silently testing
// something else.
func demoConfig(t *testing.T, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile("../../internal/agent/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("internal/agent/demo.toml no longer contains %q: update this test", replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "veille.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// quietDemo starts `veille demo` against broker at a quiet time of day:
// 12:00, when no window starts and the demo's scripted people are far off.
// At 60× a simulated hour lasts a minute: the 21:30 window is nine real
// minutes away, longer than any of these tests.
func quietDemo(t *testing.T, broker string, extra ...string) *veille {
	t.Helper()
	args := append([]string{"demo", "--broker", broker, "--from", quietStart.Format("2006-01-02 15:04"), "--speed", "60", "--for", "0", "-v"}, extra...)
	v := startVeille(t, args...)
	v.waitOutput("stderr", regexp.MustCompile(`connected to the MQTT broker`), patience)
	return v
}

// quietStart is the simulated start of quietDemo, in the demo's time zone.
var quietStart = func() time.Time {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		loc = time.FixedZone("CET", 3600)
	}
	return time.Date(2026, 3, 10, 12, 0, 0, 0, loc)
}()
