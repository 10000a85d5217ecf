package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/clock"
	"periph.io/x/conn/v3/physic"
)

// A scenario is a timed script of what happens to the simulated server:
// people, hardware faults and clock faults, for tests and for trying veille
// on a situation of one's own (see `veille demo -h`).
type scenario struct {
	events []scenarioEvent
	setups int // events[:setups] are in place before veille starts
}

// scenarioEvent is one line of a scenario file.
type scenarioEvent struct {
	At string `json:"at"`
	Do string `json:"do"`
	ID string `json:"id,omitempty"`
	// connect
	Port   int     `json:"port,omitempty"`
	Remote string  `json:"remote,omitempty"`
	Rx     float64 `json:"rx,omitempty"`
	Tx     float64 `json:"tx,omitempty"`
	// open
	Path    string `json:"path,omitempty"`
	Process string `json:"process,omitempty"`
	// inhibit
	Who string `json:"who,omitempty"`
	Why string `json:"why,omitempty"`
	// press
	Kind string `json:"kind,omitempty"`
	// sensor, glitch
	Addr  string `json:"addr,omitempty"`
	Fault string `json:"fault,omitempty"`
	Count int    `json:"count,omitempty"`
	// disk, io
	Disk  string `json:"disk,omitempty"`
	For   string `json:"for,omitempty"`
	Write bool   `json:"write,omitempty"`
	// refuse-stop
	Unit string `json:"unit,omitempty"`
	// load
	Watts    float64 `json:"watts,omitempty"`
	Runnable float64 `json:"runnable,omitempty"`
	// clock
	Set    string `json:"set,omitempty"`
	Step   string `json:"step,omitempty"`
	Sync   bool   `json:"sync,omitempty"`
	Synced *bool  `json:"synced,omitempty"`
	// speed
	Speed float64 `json:"speed,omitempty"`
	// mark
	Text string `json:"text,omitempty"`

	line int
	at   time.Time     // resolved on the world's clock
	dur  time.Duration // For, resolved
	step time.Duration // Step, resolved
	set  time.Time     // Set, resolved
	addr uint16
}

func (e *scenarioEvent) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// loadScenario reads and checks a scenario file; every problem names its line.
func loadScenario(path string, start time.Time, loc *time.Location) (*scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--scenario: %w", err)
	}
	return parseScenario(path, b, start, loc)
}

func parseScenario(name string, b []byte, start time.Time, loc *time.Location) (*scenario, error) {
	sc := &scenario{}
	var last time.Time
	var problems []string
	for n, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e := scenarioEvent{line: n + 1}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", name, n+1, err))
			continue
		}
		if err := e.resolve(start, loc); err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", name, n+1, err))
			continue
		}
		if e.at.Before(last) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s is before the previous event (%s): keep the file in time order",
				name, n+1, e.at.Format(time.RFC3339), last.Format(time.RFC3339)))
			continue
		}
		last = e.at
		if !e.at.After(start) {
			if len(sc.events) > sc.setups {
				problems = append(problems, fmt.Sprintf("%s:%d: a start event after a later one", name, n+1))
			}
			sc.setups++
		} else if e.Do == "refuse-stop" {
			problems = append(problems, fmt.Sprintf("%s:%d: refuse-stop describes a unit of the world: only at the start (\"+0s\")", name, n+1))
		}
		sc.events = append(sc.events, e)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return sc, nil
}

// resolve checks an event and turns its strings into times and durations.
func (e *scenarioEvent) resolve(start time.Time, loc *time.Location) error {
	switch {
	case strings.HasPrefix(e.At, "+"):
		d, err := time.ParseDuration(e.At[1:])
		if err != nil || d < 0 {
			return fmt.Errorf("at: %q is not +DURATION", e.At)
		}
		e.at = start.Add(d)
	case e.At == "":
		return errors.New(`at: missing ("+1h", or "YYYY-MM-DD HH:MM")`)
	default:
		t, err := parseTime(e.At, loc)
		if err != nil {
			return fmt.Errorf("at: %w", err)
		}
		e.at = t
	}
	need := func(what string, ok bool) error {
		if !ok {
			return fmt.Errorf("%s: needs %s", e.Do, what)
		}
		return nil
	}
	switch e.Do {
	case "connect":
		if e.Remote == "" {
			e.Remote = "192.168.1.23:51234"
		}
		if e.Rx == 0 && e.Tx == 0 {
			e.Rx, e.Tx = 200, 2000
		}
		return need(`"id" and "port"`, e.ID != "" && e.Port > 0 && e.Port < 65536)
	case "disconnect", "close", "release":
		return need(`"id"`, e.ID != "")
	case "open":
		if e.Process == "" {
			e.Process = "reader"
		}
		return need(`"id" and an absolute "path"`, e.ID != "" && strings.HasPrefix(e.Path, "/"))
	case "inhibit":
		if e.Who == "" {
			e.Who = "scenario"
		}
		return need(`"id"`, e.ID != "")
	case "press":
		if e.Kind == "" {
			e.Kind = "short"
		}
		return need(`"kind": short, long or double`, slices.Contains([]string{"short", "long", "double"}, e.Kind))
	case "sensor", "glitch":
		a, err := strconv.ParseUint(e.Addr, 0, 7)
		if err != nil {
			return fmt.Errorf("%s: addr: %q is not a 7-bit I2C address like \"0x41\"", e.Do, e.Addr)
		}
		e.addr = uint16(a)
		if e.Do == "glitch" {
			return need(`a positive "count"`, e.Count > 0)
		}
		_, ok := sensorFaults[e.Fault]
		return need(`"fault": none, nack, garbage or gone`, ok)
	case "disk":
		return need(`"disk" (a kernel name: "sda") and "fault": no-spin-up or none`, e.Disk != "" && (e.Fault == "no-spin-up" || e.Fault == "none"))
	case "io":
		d, err := time.ParseDuration(e.For)
		if err != nil || d <= 0 {
			return fmt.Errorf("io: for: %q is not a positive duration", e.For)
		}
		e.dur = d
		return need(`"disk"`, e.Disk != "")
	case "refuse-stop":
		return need(`"unit"`, e.Unit != "")
	case "load":
		return need(`"watts" ≥ 0`, e.Watts >= 0 && e.Runnable >= 0)
	case "clock":
		n := 0
		if e.Set != "" {
			n++
			t, err := time.Parse(time.RFC3339, e.Set)
			if err != nil {
				return fmt.Errorf("clock: set: %q is not RFC 3339", e.Set)
			}
			e.set = t
		}
		if e.Step != "" {
			n++
			d, err := time.ParseDuration(e.Step)
			if err != nil {
				return fmt.Errorf("clock: step: %q is not a duration like \"-3h\"", e.Step)
			}
			e.step = d
		}
		if e.Sync {
			n++
		}
		return need(`one of "set", "step" or "sync"`, n == 1 || n == 0 && e.Synced != nil)
	case "speed":
		return need(`"speed" in (0, 100000]`, e.Speed > 0 && e.Speed <= 100000)
	case "mark", "stop":
		return nil
	case "":
		return errors.New(`do: missing`)
	}
	return fmt.Errorf("do: %q is not an event (see veille demo -h)", e.Do)
}

var sensorFaults = map[string]sim.Fault{"none": sim.FaultNone, "nack": sim.FaultNACK, "garbage": sim.FaultGarbage, "gone": sim.FaultGone}

// shape applies what a scenario says about the world itself before it is built.
func (sc *scenario) shape(o *sim.Opts) error {
	for _, e := range sc.events[:sc.setups] {
		if e.Do != "refuse-stop" {
			continue
		}
		found := false
		for i := range o.Units {
			if o.Units[i].Name == e.Unit {
				o.Units[i].RefuseStop, found = true, true
			}
		}
		if !found {
			return fmt.Errorf("scenario line %d: refuse-stop: the simulated server has no unit %q", e.line, e.Unit)
		}
	}
	return nil
}

// scenarioEnv is what scenario events act on.
type scenarioEnv struct {
	w       *sim.World
	clk     *clock.Scaled
	wall    *wallClock
	faults  *diskFaults
	log     *slog.Logger
	observe func(agent.Event)
	stop    context.CancelFunc
	conns   map[string]*sim.Conn
	files   map[string]*sim.OpenFile
	locks   map[string]*sim.Inhibitor
}

func (sc *scenario) setup(env *scenarioEnv) {
	for i := range sc.events[:sc.setups] {
		env.apply(context.Background(), &sc.events[i])
	}
}

// play runs the events after the start, each at its time on the world's
// clock (an event inside a night the clock jumps over happens at the wake).
func (sc *scenario) play(ctx context.Context, env *scenarioEnv) {
	for i := sc.setups; i < len(sc.events); i++ {
		e := &sc.events[i]
		if !clock.Sleep(env.clk, e.at.Sub(env.clk.Now()), ctx.Done()) {
			return
		}
		env.apply(ctx, e)
	}
}

func (env *scenarioEnv) apply(ctx context.Context, e *scenarioEvent) {
	err := env.do(ctx, e)
	text := fmt.Sprintf("scenario line %d: %s", e.line, e.Do)
	if e.ID != "" {
		text += " " + e.ID
	}
	if err != nil {
		env.log.Error("scenario event failed", "line", e.line, "do", e.Do, "event", e.String(), "err", err)
		text += ": failed: " + err.Error()
	} else {
		env.log.Info("scenario", "line", e.line, "do", e.Do, "event", e.String(), "scheduled", e.at)
	}
	if env.observe != nil {
		env.observe(agent.Event{Time: env.wall.Now(), Kind: agent.EventNotice, Text: text})
	}
}

func (env *scenarioEnv) do(ctx context.Context, e *scenarioEvent) error {
	w := env.w
	switch e.Do {
	case "connect":
		if _, dup := env.conns[e.ID]; dup {
			return fmt.Errorf("connection %q is already open", e.ID)
		}
		c, err := w.Connect(uint16(e.Port), e.Remote, e.Rx, e.Tx)
		if err != nil {
			return err
		}
		env.conns[e.ID] = c
	case "disconnect":
		c, ok := env.conns[e.ID]
		if !ok {
			return fmt.Errorf("no open connection %q", e.ID)
		}
		delete(env.conns, e.ID)
		return c.Close()
	case "open":
		if _, dup := env.files[e.ID]; dup {
			return fmt.Errorf("file %q is already open", e.ID)
		}
		env.files[e.ID] = w.Open(e.Path, e.Process)
	case "close":
		f, ok := env.files[e.ID]
		if !ok {
			return fmt.Errorf("no open file %q", e.ID)
		}
		delete(env.files, e.ID)
		f.Close()
	case "inhibit":
		env.locks[e.ID] = w.Inhibit(e.Who, e.Why)
	case "release":
		l, ok := env.locks[e.ID]
		if !ok {
			return fmt.Errorf("no inhibitor %q", e.ID)
		}
		delete(env.locks, e.ID)
		l.Release()
	case "press":
		return env.press(ctx, e.Kind)
	case "sensor":
		return w.Bus().SetFault(e.addr, sensorFaults[e.Fault])
	case "glitch":
		return w.Bus().NACKNext(e.addr, e.Count)
	case "disk":
		env.faults.set(e.Disk, e.Fault == "no-spin-up")
	case "io":
		return w.IO(e.Disk, e.dur, e.Write)
	case "refuse-stop":
		// Shaped into the world before it was built.
	case "load":
		w.SetBoardLoad(physic.Power(e.Watts*float64(physic.Watt)), e.Runnable)
	case "clock":
		switch {
		case !e.set.IsZero():
			env.wall.set(e.set)
		case e.step != 0:
			env.wall.step(e.step)
		case e.Sync:
			env.wall.sync()
		}
		if e.Synced != nil {
			env.wall.setSynced(*e.Synced)
		}
	case "speed":
		env.clk.SetSpeed(e.Speed)
	case "mark":
	case "stop":
		env.stop()
	}
	return nil
}

// press is a person pressing the button. A press lasts a few hundred
// milliseconds and the button driver waits in real time, so time runs at
// its real pace around it, as in the story.
func (env *scenarioEnv) press(ctx context.Context, kind string) error {
	b := env.w.Button()
	if b == nil {
		return errors.New("the simulated board has no button")
	}
	speed := env.clk.Speed()
	env.clk.SetSpeed(1)
	defer env.clk.SetSpeed(speed)
	t := env.clk.Now().Add(200 * time.Millisecond)
	end := t
	switch kind {
	case "short":
		b.Press(t, 300*time.Millisecond)
		end = t.Add(300 * time.Millisecond)
	case "long":
		b.Press(t, 3*time.Second)
		end = t.Add(3 * time.Second)
	case "double":
		b.Press(t, 120*time.Millisecond)
		b.Press(t.Add(250*time.Millisecond), 120*time.Millisecond)
		end = t.Add(370 * time.Millisecond)
	}
	// Past the double-press gap, so the press is classified before speeding up.
	clock.Sleep(env.clk, end.Add(time.Second).Sub(env.clk.Now()), ctx.Done())
	return nil
}

// wallClock is the simulated Pi's wall clock: the world's clock plus an
// offset the scenario steps. Waits are durations, untouched by a step, as
// Go's timers (on the monotonic clock) are on a real Pi.
type wallClock struct {
	base   *clock.Scaled
	mu     sync.Mutex
	offset time.Duration
	synced bool
}

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	o := c.offset
	c.mu.Unlock()
	return c.base.Now().Add(o)
}

func (c *wallClock) After(d time.Duration) <-chan time.Time { return c.base.After(d) }

func (c *wallClock) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced
}

func (c *wallClock) set(t time.Time) {
	now := c.base.Now()
	c.mu.Lock()
	c.offset = t.Sub(now)
	c.mu.Unlock()
}

func (c *wallClock) step(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func (c *wallClock) sync() {
	c.mu.Lock()
	c.offset, c.synced = 0, true
	c.mu.Unlock()
}

func (c *wallClock) setSynced(v bool) {
	c.mu.Lock()
	c.synced = v
	c.mu.Unlock()
}

// diskFaults are the disks whose spindle does not start.
type diskFaults struct {
	mu   sync.Mutex
	dead map[string]bool // kernel name → no spin-up
}

func (f *diskFaults) set(disk string, dead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead == nil {
		f.dead = map[string]bool{}
	}
	f.dead[disk] = dead
}

func (f *diskFaults) noSpinUp(dev string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead[filepath.Base(dev)]
}

// faultyTransport is the SCSI transport with a disk that does not come
// back: its bridge answers, but the drive fails every command that would
// start its spindle with HARDWARE ERROR (44h, internal target failure), as a
// drive with a seized motor or a dead head does.
type faultyTransport struct {
	usbdisk.Transport
	f *diskFaults
}

func (t faultyTransport) Command(dev string, cdb []byte, timeout time.Duration) error {
	if len(cdb) > 0 && t.f.noSpinUp(dev) && startsSpindle(cdb) {
		sense := []byte{0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0x00, 0, 0, 0, 0}
		if e, ok := usbdisk.DecodeSense(dev, cdb[0], sense); ok {
			return e
		}
	}
	return t.Transport.Command(dev, cdb, timeout)
}

// startsSpindle: START STOP UNIT with START or an active/idle power
// condition, or ATA IDLE IMMEDIATE (E1h) through ATA PASS-THROUGH.
func startsSpindle(cdb []byte) bool {
	switch cdb[0] {
	case 0x1B:
		if len(cdb) < 5 {
			return false
		}
		pc := cdb[4] >> 4
		return pc == 1 || pc == 2 || pc == 0 && cdb[4]&1 == 1
	case 0x85:
		return len(cdb) >= 15 && cdb[14] == 0xE1
	case 0xA1:
		return len(cdb) >= 10 && cdb[9] == 0xE1
	}
	return false
}

// simTimeHandler adds the simulated times to every log record: "sim" on
