// Package faults injects faults into the built veille binary and checks
// what it does about them: a broker that goes away or is killed, the agent
// killed at random moments, sensors that NACK, return garbage or vanish,
// power sequences that cannot finish, wall-clock steps and DST nights, a
// full or read-only state directory.
//
// Every test runs `veille demo` (the simulated Pi, its disks and sensors, in
// the same process as the agent) against a real mosquitto started on a free
// loopback port, drives the hardware and the clock with a scenario file
// (`veille demo -h`), and reads what veille did from the outside: the
// telemetry decoded independently of veille's codec, the Home Assistant
// state, the JSON log, the files of the simulated world and of the state
// directory. Each test prints what it injected and what it counted
// ("faults: ..." lines; `go test -v` or `make faults-long` shows them).
//
// The short variants run in `make test`; VEILLE_LONG=1 (`make faults-long`)
// runs the long ones (100 kills instead of 10, longer outages, more steps).
package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"
)

var veilleBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "veille-faults-")
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

// long reports whether the long variants were asked for.
func long() bool { return os.Getenv("VEILLE_LONG") == "1" }

// report prints a figure of the test on stdout, so that a passing run shows
// what was injected and counted (with -v, as make faults-long runs it).
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	fmt.Printf("faults: %s: %s\n", t.Name(), fmt.Sprintf(format, args...))
}

// within waits up to d (real time) for cond, polling.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- mosquitto -------------------------------------------------------------

// broker is a real mosquitto, our child, that a test stops, kills and
// restarts on the same port (with its persistence file, when asked).
type broker struct {
	t       *testing.T
	bin     string
	conf    string
	addr    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    bytes.Buffer
	starts  int
	persist bool
}

func mosquittoBin(t *testing.T) string {
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	t.Fatalf("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
	return ""
}

// startBroker starts mosquitto on a free loopback port. With persist, its
// database is saved on every change (autosave_on_changes, interval 1) and
// at a clean stop, so queued messages for a persistent session survive.
func startBroker(t *testing.T, persist bool) *broker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 100000\nmax_inflight_messages 100\n", port)
	if persist {
		conf += fmt.Sprintf("persistence true\npersistence_location %s/\nautosave_interval 1\nautosave_on_changes true\n", dir)
	} else {
		conf += "persistence false\n"
	}
	b := &broker{t: t, bin: mosquittoBin(t), conf: filepath.Join(dir, "mosquitto.conf"), addr: addr, persist: persist}
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(func() { b.kill() })
	return b
}

func (b *broker) URL() string { return "tcp://" + b.addr }

// start starts mosquitto and waits until it accepts connections.
func (b *broker) start() {
	b.t.Helper()
	b.mu.Lock()
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = lockedWriter{&b.mu, &b.logs}, lockedWriter{&b.mu, &b.logs}
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatal(err)
	}
	b.cmd, b.exited = cmd, make(chan struct{})
	b.starts++
	exited := b.exited
	b.mu.Unlock()
	go func() { cmd.Wait(); close(exited) }()
	ok := within(10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.Dial("tcp", b.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	select {
	case <-exited:
		ok = false
	default:
	}
	if !ok {
		b.t.Fatalf("mosquitto did not start on %s: %s", b.addr, b.log())
	}
}

// stop ends mosquitto cleanly (SIGTERM: it saves its database).
func (b *broker) stop() { b.signal(syscall.SIGTERM) }

// kill ends mosquitto with SIGKILL.
func (b *broker) kill() { b.signal(syscall.SIGKILL) }

func (b *broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

func (b *broker) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// --- subscribers -----------------------------------------------------------

type message struct {
	topic   string
	payload []byte
	at      time.Time // real time of arrival
	dup     bool      // the broker flagged it as a redelivery
}

// collector keeps every message a subscriber receives, in arrival order.
type collector struct {
	mu   sync.Mutex
	msgs []message
}

func (c *collector) add(m paho.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, message{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), at: time.Now(), dup: m.Duplicate()})
	c.mu.Unlock()
}

func (c *collector) on(topic string) []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []message
	for _, m := range c.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func (c *collector) count(topic string) int { return len(c.on(topic)) }

// subscriber connects to url with QoS 1 subscriptions. clean=false gives a
// persistent session: the broker queues what arrives while it is away, and
// delivers it on the next connect with the same client id.
type subscriber struct {
	t        *testing.T
	url, id  string
	clean    bool
	topics   []string
	col      *collector
	mu       sync.Mutex
	client   paho.Client
	connects int
}

func subscribe(t *testing.T, url, id string, clean bool, topics ...string) *subscriber {
	t.Helper()
	s := &subscriber{t: t, url: url, id: id, clean: clean, topics: topics, col: &collector{}}
	s.connect(true)
	t.Cleanup(s.disconnect)
	return s
}

func (s *subscriber) connect(subscribe bool) {
	s.t.Helper()
	opts := paho.NewClientOptions().AddBroker(s.url).SetClientID(s.id).SetCleanSession(s.clean).
		SetOrderMatters(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { s.col.add(m) })
	opts.SetOnConnectHandler(func(paho.Client) {
		s.mu.Lock()
		s.connects++
		s.mu.Unlock()
	})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		s.t.Fatalf("subscriber %s: connect to %s: %v", s.id, s.url, tok.Error())
	}
	if subscribe || s.clean {
		for _, topic := range s.topics {
			tok := c.Subscribe(topic, 1, nil)
			if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
				s.t.Fatalf("subscriber %s: subscribe %s: %v", s.id, topic, tok.Error())
			}
		}
	}
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
}

func (s *subscriber) disconnect() {
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c != nil {
		c.Disconnect(250)
	}
}

// --- telemetry, decoded independently of veille's codec --------------------

// frame is a telemetry frame as docs/telemetry.cddl describes it.
type frame struct {
	run, seq uint64
	t0, dt   int64 // Unix ms
	n        int
	off      []int64
	chans    []channel
	sched    uint64
	disks    []uint64
	at       time.Time // arrival (real time)
}

type channel struct {
	id         uint64
	mv, ma, mw []*int64 // nil: not read
	mwh        uint64
	flags      uint64
}

// end is the time of the frame's last sample.
func (f *frame) end() time.Time {
	ms := f.t0 + int64(f.n-1)*f.dt
	if len(f.off) == f.n {
		ms += f.off[f.n-1]
	}
	return time.UnixMilli(ms)
}

// sampleTime is the time of sample i.
func (f *frame) sampleTime(i int) time.Time {
	ms := f.t0 + int64(i)*f.dt
	if len(f.off) == f.n {
		ms += f.off[i]
	}
	return time.UnixMilli(ms)
}

func (f *frame) channel(id uint64) *channel {
	for i := range f.chans {
		if f.chans[i].id == id {
			return &f.chans[i]
		}
	}
	return nil
}

func decodeFrame(b []byte) (*frame, error) {
	var m map[uint64]any
	if err := cbor.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if v := uintOf(m[0]); v != 1 {
		return nil, fmt.Errorf("schema version %v", m[0])
	}
	f := &frame{run: uintOf(m[1]), seq: uintOf(m[2]), t0: intOf(m[3]), dt: intOf(m[4]), n: int(intOf(m[5]))}
	if f.n < 1 || f.dt < 1 {
		return nil, fmt.Errorf("frame %d: n %d dt %d", f.seq, f.n, f.dt)
	}
	if offs, ok := m[6].([]any); ok {
		for _, o := range offs {
			f.off = append(f.off, intOf(o))
		}
	}
	chs, _ := m[7].([]any)
	for _, raw := range chs {
		cm, ok := raw.(map[any]any)
		if !ok {
			return nil, fmt.Errorf("channel is %T", raw)
		}
		c := channel{id: uintOf(cm[uint64(0)]), mwh: uintOf(cm[uint64(4)]), flags: uintOf(cm[uint64(5)])}
		c.mv, c.ma, c.mw = column(cm[uint64(1)]), column(cm[uint64(2)]), column(cm[uint64(3)])
		if len(c.mv) != f.n || len(c.ma) != f.n || len(c.mw) != f.n {
			return nil, fmt.Errorf("frame %d channel %d: %d/%d/%d samples, n = %d", f.seq, c.id, len(c.mv), len(c.ma), len(c.mw), f.n)
		}
		f.chans = append(f.chans, c)
	}
	if st, ok := m[8].(map[any]any); ok {
		f.sched = uintOf(st[uint64(2)])
		if ds, ok := st[uint64(3)].([]any); ok {
			for _, d := range ds {
				f.disks = append(f.disks, uintOf(d))
			}
		}
	}
	return f, nil
}

// column undoes the delta coding of one column.
func column(v any) []*int64 {
	xs, _ := v.([]any)
	out := make([]*int64, len(xs))
	var acc int64
	seen := false
	for k, x := range xs {
		if x == nil {
			continue
		}
		if seen {
			acc += intOf(x)
		} else {
			acc, seen = intOf(x), true
		}
		val := acc
		out[k] = &val
	}
	return out
}

func uintOf(v any) uint64 {
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		if x >= 0 {
			return uint64(x)
		}
	}
	return 0
}

func intOf(v any) int64 {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

// frames decodes every telemetry message of the collector, in arrival order.
func frames(t *testing.T, c *collector, topic string) []*frame {
	t.Helper()
	var out []*frame
	for k, m := range c.on(topic) {
		f, err := decodeFrame(m.payload)
		if err != nil {
			t.Fatalf("telemetry message %d (%d bytes) does not decode: %v", k, len(m.payload), err)
		}
		f.at = m.at
		out = append(out, f)
	}
	return out
}

// haState is the Home Assistant JSON state (docs/homeassistant.md).
type haState struct {
	Ch map[string]struct {
		V   *float64 `json:"v"`
		A   *float64 `json:"a"`
		W   *float64 `json:"w"`
		KWh float64  `json:"kwh"`
	} `json:"ch"`
	Disks     map[string]string `json:"disks"`
	Scheduler string            `json:"scheduler"`
	Reason    string            `json:"reason"`
	at        time.Time
}

func haStates(t *testing.T, c *collector, topic string) []haState {
	t.Helper()
	var out []haState
	for _, m := range c.on(topic) {
		var s haState
		if err := json.Unmarshal(m.payload, &s); err != nil {
			t.Fatalf("%s: not the state JSON: %v: %s", topic, err, m.payload)
		}
		s.at = m.at
		out = append(out, s)
	}
	return out
}

// --- the demo ----------------------------------------------------------------

// record is one line of veille's JSON log.
type record map[string]any

func (r record) msg() string { s, _ := r["msg"].(string); return s }

func (r record) str(key string) string {
	switch v := r[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// sim is the simulated world's time of the record.
func (r record) sim() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.str("sim"))
	return t
}

// wall is the Pi's wall clock at the record (the world's time unless a
// scenario stepped it).
func (r record) wall() time.Time {
	if w := r.str("wall"); w != "" {
		t, _ := time.Parse(time.RFC3339Nano, w)
		return t
	}
	return r.sim()
}

func (r record) String() string {
	b, _ := json.Marshal(map[string]any(r))
	return string(b)
}

// demo is a running `veille demo`.
type demo struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	stdout  bytes.Buffer
	logs    []record
	other   []string // stderr lines that are not JSON
	root    string   // the simulated world's root
	state   string   // the state directory
	done    chan struct{}
	waitErr error
}

// startDemo runs `veille demo ARGS -v --log json` and parses its log as it
// comes.
func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	return startDemoEnv(t, nil, args...)
}

// startDemoEnv is startDemo with extra environment variables ("K=V").
func startDemoEnv(t *testing.T, env []string, args ...string) *demo {
	t.Helper()
	d := &demo{t: t, done: make(chan struct{})}
	d.cmd = exec.Command(veilleBin, append(append([]string{"demo"}, args...), "-v", "--log", "json")...)
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout = lockedWriter{&d.mu, &d.stdout}
	pr, pw := io.Pipe()
	d.cmd.Stderr = pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var r record
			d.mu.Lock()
			if json.Unmarshal(line, &r) == nil {
				d.logs = append(d.logs, r)
			} else {
				d.other = append(d.other, string(line))
			}
			d.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := d.cmd.Wait()
		pw.Close()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			d.dump()
		}
		if d.root != "" {
			os.RemoveAll(d.root) // a killed demo leaves its world's tree behind
		}
	})
	within(10*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, l := range strings.Split(d.stdout.String(), "\n") {
			if i := strings.Index(l, "simulated root "); i >= 0 && strings.HasPrefix(l, "state dir ") {
				d.state = strings.TrimSuffix(strings.TrimPrefix(l[:i], "state dir "), ", ")
				d.root = strings.TrimSpace(l[i+len("simulated root "):])
				return true
			}
		}
		select {
		case <-d.done:
			return true
		default:
			return false
		}
	})
	return d
}

// dump prints the end of the demo's output for a failed test.
func (d *demo) dump() {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.stdout.String()
	if len(out) > 6000 {
		out = "…" + out[len(out)-6000:]
	}
	d.t.Logf("veille demo stdout:\n%s", out)
	var b strings.Builder
	from := max(0, len(d.logs)-60)
	for _, r := range d.logs[from:] {
		if r.str("level") != "DEBUG" {
			b.WriteString(r.String())
			b.WriteByte('\n')
		}
	}
	d.t.Logf("veille demo log (last records):\n%s%s", b.String(), strings.Join(d.other, "\n"))
}

// records returns the log records with message msg ("" for all).
func (d *demo) records(msg string) []record {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []record
	for _, r := range d.logs {
		if msg == "" || r.msg() == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitLog waits for a record that pred accepts.
func (d *demo) waitLog(timeout time.Duration, what string, pred func(record) bool) record {
	d.t.Helper()
	var found record
	ok := within(timeout, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, r := range d.logs {
			if pred(r) {
				found = r
				return true
			}
		}
		return false
	})
	if !ok {
		d.t.Fatalf("veille demo: no %s within %s", what, timeout)
	}
	return found
}

// wait waits for the demo to end by itself (a scenario's stop) and fails
// the test if it does not, or if it exits with an error.
func (d *demo) wait(timeout time.Duration) {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("veille demo did not finish within %s", timeout)
	}
	d.mu.Lock()
	err := d.waitErr
	d.mu.Unlock()
	if err != nil {
		d.t.Fatalf("veille demo: %v", err)
	}
}

func (d *demo) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stdout.String()
}

// world reads a file of the simulated world (what the kernel would show).
func (d *demo) world(path string) string {
	b, _ := os.ReadFile(filepath.Join(d.root, path))
	return string(b)
}

// mounted tells from the world's mountinfo whether target is mounted.
func (d *demo) mounted(target string) bool {
	for _, l := range strings.Split(d.world("/proc/self/mountinfo"), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == target {
			return true
		}
	}
	return false
}

// running tells from the world's /proc whether a process named comm runs.
func (d *demo) running(comm string) bool {
	ents, _ := os.ReadDir(filepath.Join(d.root, "proc"))
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(d.root, "proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(b)) == comm {
			return true
		}
	}
	return false
}

// violations are the lines the demo prints for what veille must never do.
func (d *demo) violations() []string {
	var out []string
	for _, l := range strings.Split(d.output(), "\n") {
		if strings.HasPrefix(l, "VIOLATION") {
			out = append(out, l)
		}
	}
	return out
}

// steps are the power steps veille logged ("step" records), optionally of
// one sequence.
func (d *demo) steps(sequence string) []record {
	var out []record
	for _, r := range d.records("step") {
		if sequence == "" || r.str("sequence") == sequence {
			out = append(out, r)
		}
	}
	return out
}

// applied is the world time at which the scenario event on line (of the
// scenario file) happened: on a loaded host a little after its "at".
func (d *demo) applied(line int) time.Time {
	d.t.Helper()
	for _, r := range d.records("scenario") {
		if r.str("line") == fmt.Sprint(line) {
			return r.sim()
		}
	}
	d.t.Fatalf("the scenario event of line %d never happened", line)
	return time.Time{}
}

// sequences are the power sequences veille started, in order.
func (d *demo) sequences() []record { return d.records("power sequence starts") }

// --- configuration -----------------------------------------------------------

// cfg describes a demo configuration: the built-in demo's hardware with
// the schedule and cadences a test needs.
type cfg struct {
	Interval      string // sampling
	Checkpoint    string
	Enabled       bool
	Windows       string // [[schedule.window]] blocks
	Batch         int
	StateInterval string
	IdleSpindown  string
	MinAwake      string
	Retry         string
}

func (c cfg) write(t *testing.T) string {
	t.Helper()
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	batch := c.Batch
	if batch == 0 {
		batch = 6
	}
	doc := fmt.Sprintf(`version = 1
node = "demo"
state_dir = "/var/lib/veille"

[sampling]
interval = %q

[[sensor]]
name = "pi"
chip = "ina226"
bus = 1
address = 0x40
shunt_resistance = "10mΩ"
max_current = "5A"

[[sensor]]
name = "media"
chip = "ina260"
bus = 1
address = 0x41

[energy]
checkpoint_interval = %q
grid_intensity = 56

[schedule]
enabled = %t
timezone = "Europe/Paris"
min_awake = %q
retry_every = %q
give_up_after = "2h"
%s
[checks]
ports = [22, 8096]
containers = false
sessions = false
inhibitors = false
processes = ["rsync"]
smart_selftest = false

[[disk]]
name = "media"
label = "media"
mount = "/srv/media"
fstype = "ext4"
units = ["jellyfin.service"]
idle_spindown = %q
min_cycle = "30m"
check = false
channel = "media"

[button]
enabled = true
line = 17
short = "stay_awake"
long = "shutdown"
double = "sleep_now"
stay_awake_hours = 1

[mqtt]
broker = "embedded"
listen = "127.0.0.1:0"

[homeassistant]
enabled = true
state_interval = %q

[telemetry]
batch = %d
`, def(c.Interval, "10s"), def(c.Checkpoint, "15m"), c.Enabled, def(c.MinAwake, "30m"), def(c.Retry, "5m"), c.Windows,
		def(c.IdleSpindown, "0s"), def(c.StateInterval, "60s"), batch)
	path := filepath.Join(t.TempDir(), "veille.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// window is one [[schedule.window]] block.
func window(name, sleep, wake, depth string) string {
	return fmt.Sprintf("\n[[schedule.window]]\nname = %q\ndays = [\"daily\"]\nsleep = %q\nwake = %q\ndepth = %q\n", name, sleep, wake, depth)
}

// scenario writes a scenario file from its lines.
func scenario(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// paris is the demo's time zone.
var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}()

// errorsJoin keeps the first few problems of a check readable.
func errorsJoin(errs []error, max int) error {
	if len(errs) > max {
		errs = append(slices.Clip(errs[:max]), fmt.Errorf("… and %d more", len(errs)-max))
	}
	return errors.Join(errs...)
}
