package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/mqtt"
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
energy checkpoints written and the size of the telemetry spool.

The simulated world remembers the last --history of its load (default two
days plus two --stats-every) for these exact figures and folds what is
older into running totals, so a run of weeks keeps a flat footprint.`, stderr)
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
	history := fs.Duration("history", 0, "simulated time the world remembers of its load for the exact energy (default 48h + 2 × --stats-every)")
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
	if *history == 0 {
		*history = demoHistory(*statsEvery)
	} else if *history < 10*time.Minute {
		return fmt.Errorf("--history: %s is shorter than 10 simulated minutes", *history)
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
	wo.History = *history
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

	cov := newCoverage(d, w, c, wall)
	d.Observe = func(e agent.Event) { cov.observe(e); v.event(e) }
	var st *statsWriter
	if *statsPath != "" {
		if st, err = newStatsWriter(*statsPath, d, w, c, clk, wall, start, cov); err != nil {
			return err
		}
		defer st.close()
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
	v.summary(c, start, clk.Now(), d, cov)
	return runErr
}

// demoHistory is how much of its load model's past the simulated world
// keeps, so that a demo of weeks holds days of it, not weeks. Every
// exact-energy question the demo asks is about the recent past: the
// summary's coverage integrates from one sample to the next (at most three
// sampling intervals), the --stats lines keep running totals and subtract
// each night off at the first line after it (a night's halt, then up to
// --stats-every): two days, plus two --stats intervals, is ample. A halt
// longer than that is still subtracted exactly, from the cumulative energy
// the --stats writer records as the Pi halts.
func demoHistory(statsEvery time.Duration) time.Duration {
	return 48*time.Hour + 2*statsEvery
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
// simulated load over the time veille measured (not while the Pi was off,
// nor before a chip's first averaged reading).
func (v *view) summary(c *config.Config, start, end time.Time, d *agent.Demo, cov *coverage) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out, "\nsimulated %s → %s (%s), veille started %d times, %d telemetry frames decoded from the broker\n",
		v.stamp(start), v.stamp(end), end.Sub(start).Round(time.Minute), d.Boots, v.frames)
	st, err := (&energy.Store{Dir: c.StateDir}).Load()
	if err != nil {
		return
	}
	names := make([]string, 0, len(st.Channels))
	for name := range st.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want, unmeasured, ok := cov.exact(name)
		if !ok || want == 0 {
			continue
		}
		got := energy.Wh(st.Channels[name])
		fmt.Fprintf(v.out, "energy %-6s veille %8.3f Wh │ exact load over the same time %8.3f Wh │ difference %+.2f%%", name, got, want, 100*(got-want)/want)
		if unmeasured > time.Minute {
			fmt.Fprintf(v.out, " (%s unmeasured: the Pi off, a sensor warming up or away)", unmeasured.Round(time.Minute))
		}
		fmt.Fprintln(v.out)
	}
	fmt.Fprintf(v.out, "saved by sleeping (estimate): %.1f Wh, %.1f gCO2e at %g g/kWh\n",
		energy.Wh(st.SavedEnergy), energy.CO2e(st.SavedEnergy, c.Energy.GridIntensity), c.Energy.GridIntensity)
}

func channelName(c *config.Config, addr uint16) string {
	for _, s := range c.Sensors {
		if uint16(s.Address) == addr && s.Chip != "ina3221" {
			return s.Name
		}
	}
	return ""
}
