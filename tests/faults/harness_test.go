// Package faults injects faults into the built veille binary and checks
// what it does about them: a broker that goes away or is killed, the agent
// killed at random moments, sensors that NACK, return garbage or vanish,
// power sequences that cannot finish, wall-clock steps and DST nights, a
// full or read-only state directory.
//
// Every test runs `veille demo` (the simulated Pi, its disks and sensors, in
// the same process as the agent) against a real mosquitto started on a free
// loopback port (both from tests/internal/peers), drives the hardware and
// the clock with a scenario file (`veille demo -h`), and reads what veille
// did from the outside: the telemetry decoded independently of veille's
// codec, the Home Assistant state, the JSON log, the files of the simulated
// world and of the state directory. Each test prints what it injected and
// what it counted ("faults: ..." lines; `go test -v` or `make faults-long`
// shows them).
//
// The short variants run in `make test`; VEILLE_LONG=1 (`make faults-long`)
// runs the long ones (100 kills instead of 10, longer outages, more steps).
package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

func TestMain(m *testing.M) { peers.Main(m) }

// long reports whether the long variants were asked for.
func long() bool { return os.Getenv("VEILLE_LONG") == "1" }

// report prints a figure of the test on stdout, so that a passing run shows
// what was injected and counted (with -v, as make faults-long runs it).
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	fmt.Printf("faults: %s: %s\n", t.Name(), fmt.Sprintf(format, args...))
}

// startBroker starts mosquitto on a free loopback port with room for the
// queues of these tests. With persist, its database is saved on every
// change and at a clean stop, so queued messages for a persistent session
// survive a stop and a kill.
func startBroker(t *testing.T, persist bool) *peers.Broker {
	t.Helper()
	return peers.Mosquitto(t, &peers.MosquittoOpts{Persist: persist, SaveOnChange: persist, MaxQueued: 100000, MaxInflight: 100})
}

// --- what veille published -----------------------------------------------

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

func haStates(t *testing.T, c *peers.Recorder, topic string) []haState {
	t.Helper()
	var out []haState
	for _, m := range c.On(topic, 0) {
		var s haState
		if err := json.Unmarshal(m.Payload, &s); err != nil {
			t.Fatalf("%s: not the state JSON: %v: %s", topic, err, m.Payload)
		}
		s.at = m.At
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

// demo is a running `veille demo` whose JSON log is parsed as it comes.
type demo struct {
	*peers.Process
	t     *testing.T
	mu    sync.Mutex
	logs  []record
	other []string // stderr lines that are not JSON
	root  string   // the simulated world's root
	state string   // the state directory
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
	d := &demo{t: t}
	d.Process = peers.StartWith(t, peers.Opts{Env: env, StderrLine: func(line []byte) {
		var r record
		d.mu.Lock()
		defer d.mu.Unlock()
		if json.Unmarshal(line, &r) == nil {
			d.logs = append(d.logs, r)
		} else {
			d.other = append(d.other, string(line))
		}
	}}, append(append([]string{"demo"}, args...), "-v", "--log", "json")...)
	t.Cleanup(func() {
		d.Kill()
		if t.Failed() {
			d.dump()
		}
		if d.root != "" {
			os.RemoveAll(d.root) // a killed demo leaves its world's tree behind
		}
	})
	peers.Within(10*time.Second, func() bool {
		for _, l := range strings.Split(d.Stdout(), "\n") {
			if i := strings.Index(l, "simulated root "); i >= 0 && strings.HasPrefix(l, "state dir ") {
				d.state = strings.TrimSuffix(strings.TrimPrefix(l[:i], "state dir "), ", ")
				d.root = strings.TrimSpace(l[i+len("simulated root "):])
				return true
			}
		}
		select {
		case <-d.Done():
			return true
		default:
			return false
		}
	})
	return d
}

// dump prints the demo's last log records for a failed test (its standard
// output comes from peers).
func (d *demo) dump() {
	d.mu.Lock()
	defer d.mu.Unlock()
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
	ok := peers.Within(timeout, func() bool {
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
	if err := d.Wait(timeout); err != nil {
		d.t.Fatalf("veille demo: %v", err)
	}
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
	for _, l := range strings.Split(d.Stdout(), "\n") {
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

// scenario writes a scenario file from its lines.
func scenario(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// errorsJoin keeps the first few problems of a check readable.
func errorsJoin(errs []error, max int) error {
	if len(errs) > max {
		errs = append(slices.Clip(errs[:max]), fmt.Errorf("… and %d more", len(errs)-max))
	}
	return errors.Join(errs...)
}
