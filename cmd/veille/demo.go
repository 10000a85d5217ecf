package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/mqtt"
	"periph.io/x/conn/v3/physic"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", "[--for DURATION] [--broker URL] [--speed N] [--scenario FILE]", `
Run veille on a simulated home server: a Raspberry Pi 5 with two USB disks,
INA power sensors on an emulated I2C bus, a GPIO button and an RTC. The real
drivers, scheduler, power sequences, MQTT and Home Assistant code run on top
of it; only the hardware is simulated. Simulated time runs fast: a night
passes in about a minute. Veille publishes to an embedded MQTT broker (or to
--broker), and this screen shows what it measures and decides, the decoded
telemetry it publishes, and at the end its energy count next to the exact
energy of the simulated load.

The story: at 21:30 the disks should sleep, but someone is logged in over
SSH; the disks sleep once the session ends. At 22:15 someone presses the
button (stay awake 1 h): the disks wake. At 23:15 veille halts the Pi with
the RTC set for 06:30; the night passes; the Pi boots and veille says why.

--scenario FILE replaces the story with your own: one JSON object per line
(blank lines and lines starting with # are skipped), in time order, each
happening at "at" on the simulated clock: "+1h30m" after the start, or a
time ("2026-10-25 02:30", RFC 3339) in the schedule's time zone. "do" says
what happens; events at the start ("+0s") are in place before veille starts.

  {"at":"+5m","do":"connect","id":"ssh","port":22,"remote":"192.168.1.23:51234"}
  {"at":"+20m","do":"disconnect","id":"ssh"}
  {"at":"+25m","do":"press","kind":"short"}          short, long or double
  {"at":"+30m","do":"open","id":"f","path":"/srv/media/film.mkv","process":"vlc"}
  {"at":"+40m","do":"close","id":"f"}                a file held open: a busy mount
  {"at":"+45m","do":"inhibit","id":"i","who":"apt","why":"upgrade"}
  {"at":"+50m","do":"release","id":"i"}
  {"at":"+55m","do":"io","disk":"sda","for":"2m","write":true}
  {"at":"+1h","do":"load","watts":4}                 a steady extra load on the Pi
  {"at":"+1h","do":"sensor","addr":"0x41","fault":"nack"}   nack, garbage, gone, none
  {"at":"+1h","do":"glitch","addr":"0x41","count":3}        the next 3 transfers NACK
  {"at":"+0s","do":"refuse-stop","unit":"jellyfin.service"} at the start only
  {"at":"+2h","do":"disk","disk":"sda","fault":"no-spin-up"} or "none"
  {"at":"+0s","do":"clock","set":"1970-01-01T00:00:00Z","synced":false}
  {"at":"+10m","do":"clock","sync":true}             back to the true time, synced
  {"at":"+3h","do":"clock","step":"-3h"}             the Pi's wall clock steps
  {"at":"+4h","do":"speed","speed":1000}
  {"at":"+5h","do":"mark","text":"anything"}         a line in the log
  {"at":"+6h","do":"stop"}                           end the demo

A disk that does not spin up answers START STOP UNIT and IDLE IMMEDIATE
with HARDWARE ERROR; the clock events move the Pi's wall clock (what veille
reads) while the world's time and every wait run on; a sync makes it true.

--stats FILE appends a JSON line every --stats-every of simulated time:
real and simulated time, RSS, heap, goroutines, boots, each channel's
published energy next to the exact energy of its rail while the Pi was up,
energy checkpoints written and the size of the telemetry spool.`, stderr)
	dur := fs.Duration("for", 55*time.Second, "how long to run (real time); 0 runs until Ctrl-C or the scenario's stop")
	broker := fs.String("broker", "", "publish to this MQTT broker (tcp://host:port) instead of an embedded one")
	speed := fs.Float64("speed", 200, "simulated seconds per real second")
	cfgPath := fs.String("config", "", "a veille.toml to simulate instead of the built-in demo configuration")
	from := fs.String("from", "", "simulated start time (default: today 21:10 in the schedule's time zone)")
	verbose := fs.Bool("v", false, "also print veille's log")
	scenarioPath := fs.String("scenario", "", "play this scenario instead of the story (see above)")
	statsPath := fs.String("stats", "", "append resource and energy figures to this file as JSON lines")
	statsEvery := fs.Duration("stats-every", time.Hour, "simulated time between two --stats lines")
	stateDir := fs.String("state-dir", "", "keep veille's state in this directory (default: a temporary one, removed at the end)")
	logFormat := fs.String("log", "text", "log format with -v: text, or json (one object per line, with the simulated time)")
	heapProfile := fs.String("heap-profile", "", "write a pprof heap profile (in-use memory) to this file at the end")
	if done, err := parse(fs, args); done {
		return err
	}
	if err := brokerFlag(*broker, "mqtt.password_file in a --config file"); err != nil {
		return err
	}
	if *speed <= 0 || *speed > 100000 {
		return fmt.Errorf("--speed: %g is out of range (0-100000]", *speed)
	}
	if *heapProfile != "" {
		runtime.MemProfileRate = 4096 // fine enough to see what a long run keeps
	}
	if *logFormat != "text" && *logFormat != "json" {
		return fmt.Errorf("--log: %q is not text or json", *logFormat)
	}
	if *statsEvery < time.Minute {
		return fmt.Errorf("--stats-every: %s is shorter than a simulated minute", *statsEvery)
	}
	var c *config.Config
	var err error
	if *cfgPath != "" {
		c, err = config.Load(*cfgPath)
	} else {
		c, err = config.Parse("demo.toml", agent.DemoConfig)
	}
	if err != nil {
		return err
	}
	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o755); err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		c.StateDir = *stateDir
	} else {
		if c.StateDir, err = agent.DemoStateDir(); err != nil {
			return err
		}
		defer os.RemoveAll(c.StateDir)
	}
	loc, _ := c.Schedule.Location()
	start := time.Now().In(loc)
	start = time.Date(start.Year(), start.Month(), start.Day(), 21, 10, 0, 0, loc)
	if *from != "" {
		if start, err = parseTime(*from, loc); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	var sc *scenario
	if *scenarioPath != "" {
		if sc, err = loadScenario(*scenarioPath, start, loc); err != nil {
			return err
		}
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	clk := clock.NewScaled(start, *speed)
	wall := &wallClock{base: clk, synced: true}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(stderr, hopts)
	if *logFormat == "json" {
		handler = simTimeHandler{slog.NewJSONHandler(stderr, hopts), clk, wall}
	}
	logger := slog.New(handler)
	wo := agent.WorldOpts(c, clk)
	if sc != nil {
		if err := sc.shape(&wo); err != nil {
			return err
		}
	}
	w, err := sim.New(wo)
	if err != nil {
		return fmt.Errorf("simulated world: %w", err)
	}
	defer w.Close()
	c.Root = w.Root()

	url := *broker
	if url == "" {
		b, err := mqtt.StartBroker(mqtt.BrokerOptions{Addr: "127.0.0.1:0", Logger: logger})
		if err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
		url = b.URL()
		go b.Run(ctx)
	}
	v := &view{out: stdout, loc: loc, every: 10 * time.Minute}
	fmt.Fprintf(stdout, "veille %s demo — simulated %s, %gx real time, broker %s\n", version, start.Format("Mon 2 Jan 15:04 MST"), *speed, url)
	fmt.Fprintf(stdout, "state dir %s, simulated root %s\n\n", c.StateDir, w.Root())

	d := &agent.Demo{Config: c, World: w, Clock: clk, Logger: logger, Observe: v.event, Broker: url, Version: version}
	faults := &diskFaults{}
	if sc != nil {
		d.Wall, d.ClockSynced = wall, wall.Synced
		d.Hardware = func(h agent.Hardware) agent.Hardware {
			h.Transport = faultyTransport{h.Transport, faults}
			return h
		}
	}
	env := &scenarioEnv{w: w, clk: clk, wall: wall, faults: faults, log: logger, observe: v.event, stop: stop,
		conns: map[string]*sim.Conn{}, files: map[string]*sim.OpenFile{}, locks: map[string]*sim.Inhibitor{}}
	if sc != nil {
		sc.setup(env) // what is in place before veille starts
	}
	go w.Run(ctx, 20*time.Millisecond)
	if sc != nil {
		go sc.play(ctx, env)
	} else {
		go scriptDemo(ctx, w, clk, start)
	}
	// An independent consumer decodes what veille publishes: the telemetry
	// lines below come from the broker, not from inside the agent.
	lopts := mqtt.ListenOptions{Prefix: c.MQTT.TopicPrefix, Node: c.Node, Logger: logger}
	lopts.Broker = url
	lopts.ClientID = "veille-demo-listener"
	go mqtt.Listen(ctx, lopts, v.teleWriter())

	var st *statsWriter
	if *statsPath != "" {
		if st, err = newStatsWriter(*statsPath, d, w, c, clk, wall, start); err != nil {
			return err
		}
		defer st.close()
		d.Observe = func(e agent.Event) { st.observe(e); v.event(e) }
		go st.run(ctx, *statsEvery)
	}
	runErr := d.Run(ctx)
	if st != nil {
		st.write()
	}
	if *heapProfile != "" {
		if err := writeHeapProfile(*heapProfile); err != nil {
			fmt.Fprintf(stderr, "veille demo: --heap-profile: %v\n", err)
		}
	}
	v.summary(w, c, start, clk.Now(), d)
	return runErr
}

// scriptDemo plays the people in the story on the simulated clock.
func scriptDemo(ctx context.Context, w *sim.World, clk *clock.Scaled, start time.Time) {
	at := func(h, m int) time.Time {
		return time.Date(start.Year(), start.Month(), start.Day(), h, m, 0, 0, start.Location())
	}
	wait := func(t time.Time) bool { return clock.Sleep(clk, t.Sub(clk.Now()), ctx.Done()) }
	if !wait(at(21, 20)) {
		return
	}
	conn, err := w.Connect(22, "192.168.1.23:51234", 200, 2000)
	if err != nil {
		return
	}
	if !wait(at(21, 41)) {
		return
	}
	conn.Close()
	// A person's press lasts a few hundred milliseconds: time runs at its
	// real pace around it, as the button driver waits in real time.
	b := w.Button()
	if b == nil || !wait(at(22, 15).Add(-2*time.Second)) {
		return
	}
	speed := clk.Speed()
	clk.SetSpeed(1)
	b.Press(at(22, 15), 300*time.Millisecond) // short: stay awake
	wait(at(22, 15).Add(2 * time.Second))
	clk.SetSpeed(speed)
}

// view prints the demo's screen: one line per ten simulated minutes of
// measurements, every decision, step and request as it happens, and the
// decoded telemetry from the broker.
type view struct {
	mu       sync.Mutex
	out      io.Writer
	loc      *time.Location
	every    time.Duration
	lastLine time.Time
	lastTele time.Time
	frames   int
	buf      bytes.Buffer
}

func (v *view) stamp(t time.Time) string { return t.In(v.loc).Format("Mon 15:04") }

func (v *view) event(e agent.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case agent.EventSample:
		s := e.Snapshot
		if !v.lastLine.IsZero() && s.Time.Sub(v.lastLine) < v.every && s.Time.After(v.lastLine) {
			return
		}
		v.lastLine = s.Time
		var parts []string
		var total float64
		for _, ch := range s.Channels {
			if !ch.OK {
				parts = append(parts, fmt.Sprintf("%s unavailable", ch.Name))
				continue
			}
			total += ch.Watts
			parts = append(parts, fmt.Sprintf("%s %5.2f V %5.3f A %5.2f W", ch.Name, ch.Volts, ch.Amps, ch.Watts))
		}
		disks := ""
		for _, d := range s.Disks {
			disks += fmt.Sprintf(" │ disk %s %s", d.Name, d.State)
		}
		temp := ""
		if s.HasSoCTemp {
			temp = fmt.Sprintf(" │ SoC %.1f °C", s.SoCTemp)
		}
		fmt.Fprintf(v.out, "%s  %s │ total %5.2f W%s%s │ %.1f Wh, saved %.1f Wh\n", v.stamp(s.Time), strings.Join(parts, " │ "), total, disks, temp, s.TotalWh, s.SavedWh)
	case agent.EventDecision:
		fmt.Fprintf(v.out, "%s  ▶ schedule: %s\n", v.stamp(e.Time), e.Text)
	case agent.EventStep:
		fmt.Fprintf(v.out, "%s    · %s\n", v.stamp(e.Time), e.Text)
	case agent.EventButton, agent.EventCommand:
		fmt.Fprintf(v.out, "%s  ● %s\n", v.stamp(e.Time), e.Text)
	default:
		fmt.Fprintf(v.out, "%s  ◆ %s\n", v.stamp(e.Time), e.Text)
	}
}

// teleWriter receives `veille listen`'s JSON lines and prints one decoded
// frame per ten simulated minutes.
func (v *view) teleWriter() io.Writer { return teleFunc(v.tele) }

type teleFunc func([]byte) (int, error)

func (f teleFunc) Write(p []byte) (int, error) { return f(p) }

func (v *view) tele(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.buf.Write(p)
	for {
		line, err := v.buf.ReadBytes('\n')
		if err != nil {
			v.buf.Write(line) // incomplete: keep for the next write
			return len(p), nil
		}
		v.frames++
		var f struct {
			Seq      uint32    `json:"seq"`
			Start    time.Time `json:"start"`
			Samples  int       `json:"samples"`
			Channels []struct {
				ID int       `json:"id"`
				W  []float64 `json:"W"`
				Wh float64   `json:"Wh"`
			} `json:"channels"`
			Status struct {
				Scheduler string   `json:"scheduler"`
				Disks     []string `json:"disks"`
			} `json:"status"`
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &f) != nil || f.Error != "" {
			fmt.Fprintf(v.out, "          ✗ telemetry: %s", line)
			continue
		}
		if !v.lastTele.IsZero() && f.Start.Sub(v.lastTele) < v.every && f.Start.After(v.lastTele) {
			continue
		}
		v.lastTele = f.Start
		var chs []string
		for _, c := range f.Channels {
			chs = append(chs, fmt.Sprintf("ch%d %d×W last %.2f, %.3f Wh", c.ID, len(c.W), last(c.W), c.Wh))
		}
		fmt.Fprintf(v.out, "%s    ⇢ decoded from MQTT: frame %d (%d samples) %s │ scheduler %s disks %v\n",
			v.stamp(f.Start), f.Seq, f.Samples, strings.Join(chs, "; "), f.Status.Scheduler, f.Status.Disks)
	}
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// summary compares veille's energy count with the exact energy of the
// simulated load.
func (v *view) summary(w *sim.World, c *config.Config, start, end time.Time, d *agent.Demo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out, "\nsimulated %s → %s (%s), veille started %d times, %d telemetry frames decoded from the broker\n",
		v.stamp(start), v.stamp(end), end.Sub(start).Round(time.Minute), d.Boots, v.frames)
	st, err := (&energy.Store{Dir: c.StateDir}).Load()
	if err != nil {
		return
	}
	rails := map[string]string{}
	o := agent.WorldOpts(c, clock.Real{})
	for _, s := range o.Sensors {
		rails[channelName(c, s.Addr)] = s.Rail
	}
	for name, uj := range st.Channels {
		if rails[name] == "" {
			continue
		}
		// Compare over the time veille measured: not while the Pi was off.
		exact, err := w.ExactEnergy(rails[name], start, end)
		for _, off := range d.Off {
			e, _ := w.ExactEnergy(rails[name], off[0], off[1])
			exact -= e
		}
		if err != nil {
			continue
		}
		got := energy.Wh(uj)
		want := exact / 3600
		fmt.Fprintf(v.out, "energy %-6s veille %8.3f Wh │ exact load %8.3f Wh │ difference %+.2f%%\n", name, got, want, 100*(got-want)/want)
	}
	fmt.Fprintf(v.out, "saved by sleeping (estimate): %.1f Wh, %.1f gCO2e at %g g/kWh\n",
		energy.Wh(st.SavedEnergy), energy.CO2e(st.SavedEnergy, c.Energy.GridIntensity), c.Energy.GridIntensity)
	// What veille must never make a server do (none in the story).
	for _, vi := range w.Violations() {
		fmt.Fprintf(v.out, "VIOLATION: %s\n", vi)
	}
}

func channelName(c *config.Config, addr uint16) string {
	for _, s := range c.Sensors {
		if uint16(s.Address) == addr && s.Chip != "ina3221" {
			return s.Name
		}
	}
	return ""
}

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
// the world's clock, and "wall" when the Pi's wall clock differs from it.
type simTimeHandler struct {
	slog.Handler
	clk  *clock.Scaled
	wall *wallClock
}

func (h simTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	h.wall.mu.Lock()
	off := h.wall.offset
	h.wall.mu.Unlock()
	sim := h.clk.Now()
	r.AddAttrs(slog.Time("sim", sim))
	if off != 0 {
		r.AddAttrs(slog.Time("wall", sim.Add(off)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h simTimeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return simTimeHandler{h.Handler.WithAttrs(as), h.clk, h.wall}
}

func (h simTimeHandler) WithGroup(name string) slog.Handler {
	return simTimeHandler{h.Handler.WithGroup(name), h.clk, h.wall}
}

// statsWriter appends the soak figures to a file as JSON lines.
type statsWriter struct {
	f      *os.File
	d      *agent.Demo
	w      *sim.World
	c      *config.Config
	clk    *clock.Scaled
	wall   *wallClock
	start  time.Time
	real   time.Time
	rails  map[string]string // channel → rail
	maxGap time.Duration     // the longest interval a reading may stand for (the agent's rule)
	mu     sync.Mutex
	meas   map[string]*measured
	boots  int
}

// measured mirrors, from the samples veille takes, the time its ledger
// integrates: the exact energy of a channel's rail over exactly those
// intervals, and the time it cannot count (a sensor away, a sample later
// than maxGap on a loaded host at high speed).
type measured struct {
	last       time.Time // world time of the last good sample
	exactJ     float64
	unmeasured time.Duration
}

type statsLine struct {
	Sim        time.Time      `json:"sim"`
	Wall       time.Time      `json:"wall"`
	RealS      float64        `json:"real_s"`
	RSSKiB     int64          `json:"rss_kib"`
	HeapKiB    uint64         `json:"heap_kib"` // live, after a collection
	Goroutines int            `json:"goroutines"`
	Boots      int            `json:"boots"`
	Running    bool           `json:"running"`
	State      string         `json:"state,omitempty"`
	Channels   []statsChannel `json:"channels,omitempty"`
	// EnergyWrites is the checkpoint count energy.json carries.
	EnergyWrites uint64 `json:"energy_writes"`
	SpoolBytes   int64  `json:"spool_bytes"`
	PersistErr   string `json:"persist_err,omitempty"`
	Violations   int    `json:"violations"`
}

type statsChannel struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// VeilleWh is the published lifetime counter; ExactWh the exact energy of
	// the channel's rail since the demo started, while the Pi was up;
	// MeasuredExactWh the exact energy over the intervals veille's samples
	// cover (what its counter should hold, from 0 at the start), and
	// UnmeasuredS the time they do not.
	VeilleWh        float64 `json:"veille_wh"`
	ExactWh         float64 `json:"exact_wh"`
	MeasuredExactWh float64 `json:"measured_exact_wh"`
	UnmeasuredS     float64 `json:"unmeasured_s"`
}

func newStatsWriter(path string, d *agent.Demo, w *sim.World, c *config.Config, clk *clock.Scaled, wall *wallClock, start time.Time) (*statsWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--stats: %w", err)
	}
	rails := map[string]string{}
	for _, s := range agent.WorldOpts(c, clock.Real{}).Sensors {
		if n := channelName(c, s.Addr); n != "" {
			rails[n] = s.Rail
		}
	}
	return &statsWriter{f: f, d: d, w: w, c: c, clk: clk, wall: wall, start: start, real: time.Now(), rails: rails,
		maxGap: 3 * c.Sampling.Interval.D(), meas: map[string]*measured{}}, nil
}

// observe follows veille's samples as its ledger does: a good reading
// counts the time since the previous one, at most maxGap; a failed one, or
// a new start of the agent, begins afresh.
func (s *statsWriter) observe(e agent.Event) {
	if e.Kind != agent.EventSample || e.Snapshot == nil {
		return
	}
	s.wall.mu.Lock()
	off := s.wall.offset
	s.wall.mu.Unlock()
	t := e.Snapshot.Time.Add(-off) // on the world's clock
	boots, _ := s.d.Progress()
	s.mu.Lock()
	defer s.mu.Unlock()
	restarted := boots != s.boots
	s.boots = boots
	for _, ch := range e.Snapshot.Channels {
		m := s.meas[ch.Name]
		if m == nil {
			m = &measured{}
			s.meas[ch.Name] = m
		}
		rail := s.rails[ch.Name]
		if restarted {
			m.last = time.Time{}
		}
		if !ch.OK || rail == "" {
			if !m.last.IsZero() && t.After(m.last) {
				m.unmeasured += t.Sub(m.last)
			}
			m.last = time.Time{}
			continue
		}
		if !m.last.IsZero() && t.After(m.last) {
			from := m.last
			if gap := t.Sub(from); gap > s.maxGap {
				m.unmeasured += gap - s.maxGap
				from = t.Add(-s.maxGap)
			}
			if j, err := s.w.ExactEnergy(rail, from, t); err == nil {
				m.exactJ += j
			}
		}
		m.last = t
	}
}

func (s *statsWriter) run(ctx context.Context, every time.Duration) {
	for clock.Sleep(s.clk, every, ctx.Done()) {
		s.write()
	}
}

func (s *statsWriter) write() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.w.Now()
	l := statsLine{Sim: now, RealS: time.Since(s.real).Seconds(), Goroutines: runtime.NumGoroutine(), RSSKiB: rssKiB(),
		Violations: len(s.w.Violations())}
	var ms runtime.MemStats
	runtime.GC() // the live heap, not what the next collection frees
	runtime.ReadMemStats(&ms)
	l.HeapKiB = ms.HeapAlloc / 1024
	boots, off := s.d.Progress()
	l.Boots = boots
	snap, ok := s.d.Snapshot()
	l.Running = ok && s.w.BoardState() == sim.BoardRunning
	if ok {
		l.Wall, l.State, l.PersistErr = snap.Time, snap.State.String(), snap.PersistErr
		for _, ch := range snap.Channels {
			sc := statsChannel{Name: ch.Name, OK: ch.OK, VeilleWh: ch.EnergyWh}
			if rail := s.rails[ch.Name]; rail != "" {
				// Up to the agent's last sample, while the Pi was up.
				exact, err := s.w.ExactEnergy(rail, s.start, snap.Time)
				for _, o := range off {
					if o[1].Before(snap.Time) {
						e, _ := s.w.ExactEnergy(rail, o[0], o[1])
						exact -= e
					}
				}
				if err == nil {
					sc.ExactWh = exact / 3600
				}
			}
			if m := s.meas[ch.Name]; m != nil {
				sc.MeasuredExactWh, sc.UnmeasuredS = m.exactJ/3600, m.unmeasured.Seconds()
			}
			l.Channels = append(l.Channels, sc)
		}
	}
	if st, err := (&energy.Store{Dir: s.c.StateDir}).Load(); err == nil {
		l.EnergyWrites = st.Writes
	}
	filepath.WalkDir(filepath.Join(s.c.StateDir, "spool"), func(_ string, e iofs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				l.SpoolBytes += info.Size()
			}
		}
		return nil
	})
	b, _ := json.Marshal(l)
	s.f.Write(append(b, '\n'))
}

func (s *statsWriter) close() { s.f.Close() }

// rssKiB is the process's resident set (VmRSS), 0 where /proc is absent.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// writeHeapProfile writes the in-use heap after a collection, so a soak can
// tell what holds memory: veille, or the simulated world's history (it
// keeps every step of its load model for the exact energy).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
