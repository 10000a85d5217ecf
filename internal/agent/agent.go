// Package agent is veille's composition root: it builds every part from the
// configuration and runs them together. It is the only package that knows
// them all; each part takes plain options and small consumer interfaces.
//
// The same code runs on a Pi and in the demo: Hardware holds the lowest-level
// back-ends (the I2C bus, the GPIO line, the SCSI transport, mounting, systemd
// and logind), real by default and simulated when the demo passes its world.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/veille/veille/drivers/hwmon"
	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/homeassistant"
	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/internal/telemetry"
	"github.com/veille/veille/scheduler"
	"github.com/veille/veille/systemd"
	"golang.org/x/sync/errgroup"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// Options configure an Agent.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	Clock  clock.Clock // nil: the wall clock
	// DryRun logs every sleep and wake step without touching anything.
	DryRun bool
	// Hardware holds the back-ends; a zero field means the real one.
	Hardware Hardware
	// Observe, when set, receives what the agent measures and decides (the
	// demo's live view). It must not block.
	Observe func(Event)
	// Version is reported in the meta topic and to Home Assistant.
	Version string
	// Broker overrides the configured broker URL (the demo's embedded one).
	Broker string
}

// Hardware are the lowest-level back-ends: real on a Pi, simulated in the
// demo and the tests. Nothing above them is faked.
type Hardware struct {
	OpenBus   func(bus int) (i2c.Bus, error)
	Button    func() (gpio.PinIn, error)
	Transport usbdisk.Transport
	Mounter   Mounter
	Units     Units
	Halter    Halter
	// Notify sends sd_notify states ("READY=1", "WATCHDOG=1"...).
	Notify func(state string) error
	// ClockSynced reports whether the wall clock can be trusted.
	ClockSynced func() bool
	// Now returns the time since boot (monotonic), to tell a wake from a
	// clock step; nil uses the process start.
	SinceBoot func() time.Duration
	// WriteFile writes the wake alarm's sysfs attribute; nil: os.WriteFile.
	// The simulated world applies it at once, as the kernel does.
	WriteFile func(name string, data []byte, perm fs.FileMode) error
}

// Mounter mounts and unmounts (the contract of docs/ARCHITECTURE.md).
type Mounter interface {
	Mount(source, target, fstype, options string) error
	Unmount(target string) error
}

// Units controls systemd units.
type Units interface {
	StopUnit(ctx context.Context, name string) error
	StartUnit(ctx context.Context, name string) error
	UnitsForMount(ctx context.Context, path string) ([]string, error)
}

// Halter powers the machine off.
type Halter interface {
	PowerOff(ctx context.Context) error
	Reboot(ctx context.Context) error
}

// Event is what the agent tells an observer.
type Event struct {
	Time time.Time
	Kind EventKind
	// Snapshot is set for EventSample.
	Snapshot *Snapshot
	// Text is a human sentence for the other kinds.
	Text string
}

// EventKind classifies events.
type EventKind int

const (
	EventSample   EventKind = iota // a sample was taken (Snapshot)
	EventDecision                  // the scheduler's decision changed
	EventStep                      // a sleep/wake step ran
	EventButton                    // a button press
	EventCommand                   // a command arrived (MQTT)
	EventNotice                    // anything else worth showing
)

// Snapshot is the latest state of everything measured and decided.
type Snapshot struct {
	Time     time.Time
	Channels []ChannelState
	// SoCTemp in °C, when known.
	SoCTemp    float64
	HasSoCTemp bool
	Throttled  uint32
	// PMICWatts is the Pi 5 PMIC's partial board power (no USB loads).
	PMICWatts float64
	HasPMIC   bool
	State     scheduler.Depth
	Decision  scheduler.Decision
	Disks     []DiskState
	// Energy figures in Wh and grams.
	TotalWh, SavedWh, CO2eG, SavedCO2eG float64
	StayAwakeUntil                      time.Time
	ScheduleEnabled                     bool
	PersistErr                          string
	// Reason is the outcome of the last failed request or sequence.
	Reason string
}

// ChannelState is one channel's latest reading.
type ChannelState struct {
	Name               string
	OK                 bool
	Volts, Amps, Watts float64
	EnergyWh, TodayWh  float64
}

// DiskState is one disk's power state.
type DiskState struct {
	Name  string
	State telemetry.DiskState
}

// Agent is veille running.
type Agent struct {
	opts  Options
	cfg   *config.Config
	log   *slog.Logger
	clk   clock.Clock
	hw    Hardware
	start time.Time

	policy   *scheduler.Policy
	sensors  []*sensor
	channels []channelInfo
	// step is how often the sensors are read (readStep): the sampling
	// interval, or a fraction of it for chips that cannot average so long.
	step     time.Duration
	keeper   *energy.Keeper
	batcher  *telemetry.Batcher
	enc      telemetry.Encoder
	teleMu   sync.Mutex // batcher and enc: the sampler and the control loop flush
	session  *mqtt.Session
	broker   *mqtt.Broker
	ha       *homeassistant.Reporter
	actions  chan Action
	alarm    *rtc.WakeAlarm
	timers   timerSource
	logind   *systemd.Logind
	model    string
	watchdog *systemd.Watchdog
	// stopBroker ends the embedded broker after the session said offline.
	stopBroker context.CancelFunc
	// simWorld is the emulated sensors' world ([simulation] sensors).
	simWorld interface{ Close() error }

	mu          sync.Mutex
	snap        Snapshot
	statusDisks []telemetry.DiskState // buffer of status()
	haState     homeassistant.State   // buffer of fillHAState
	// decided: the control loop has filled in its first decision; until
	// then the snapshot's schedule and disk states are zero values, which
	// Home Assistant must not be told (the switch would flip off and on).
	decided bool
}

// timerSource tells when systemd timers fire next.
type timerSource interface {
	NextTimerElapses(ctx context.Context, patterns ...string) ([]systemd.TimerElapse, error)
}

// New builds an agent from its options; it opens nothing yet.
func New(opts Options) (*Agent, error) {
	c := opts.Config
	if c == nil {
		return nil, errors.New("agent: no configuration")
	}
	a := &Agent{opts: opts, cfg: c, log: opts.Logger, clk: opts.Clock, hw: opts.Hardware, actions: make(chan Action, 16)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clk == nil {
		a.clk = clock.Real{}
	}
	a.simSensors()
	a.fillHardware()
	a.start = a.clk.Now()
	var err error
	if a.policy, err = Policy(c); err != nil {
		return nil, err
	}
	a.sensors, a.channels, err = buildSensors(c, a.hw.OpenBus, hwmon.FS{Root: c.Root})
	if err != nil {
		return nil, err
	}
	a.step = readStep(c)
	return a, nil
}

// Run runs the agent until ctx ends. It returns nil on cancellation.
func (a *Agent) Run(ctx context.Context) error {
	c := a.cfg
	loc, _ := c.Schedule.Location()
	names := make([]string, len(a.channels))
	for i, ch := range a.channels {
		names[i] = ch.Name
	}
	interval := c.Sampling.Interval.D()
	if a.step < interval {
		a.log.Info("sensors are read several times per sampling interval: a chip cannot average over all of it; each sample is the mean of its readings",
			"interval", interval, "read_every", a.step)
	}
	// A late sample (a busy machine) is bridged with the latest average up to
	// three intervals; a longer gap (a halt, a sensor away) is unmeasured.
	keeper, warn := energy.Open(&energy.Store{Dir: c.StateDir}, names, loc, 3*interval, c.Energy.CheckpointInterval.D())
	if warn != nil {
		a.log.Warn("energy counters", "err", warn)
	}
	a.keeper = keeper
	ids := make([]uint16, len(a.channels))
	for i := range ids {
		ids[i] = uint16(i)
	}
	var rb [4]byte
	rand.Read(rb[:])
	a.batcher, _ = telemetry.NewBatcher(telemetry.BatcherOptions{
		Channels: ids, Samples: c.Telemetry.Batch, Interval: interval, Run: binary.BigEndian.Uint32(rb[:]),
	})
	g, ctx := errgroup.WithContext(ctx)
	if err := a.startMQTT(ctx, g); err != nil {
		return err
	}
	if c.HomeAssistant.Enabled {
		if err := a.startHA(ctx, g); err != nil {
			return err
		}
	}
	a.checkPlatform(ctx)
	a.wakeReport()
	a.dialSystem(ctx)
	ctl := &control{a: a, enabled: a.policy.Enabled, diskState: make([]telemetry.DiskState, len(c.Disks))}
	for i := range ctl.diskState {
		ctl.diskState[i] = telemetry.DiskActive
	}
	ctl.load()
	ctl.ctl = a.buildPower()
	ctl.checks, ctl.rates = a.buildChecks()
	if ctl.ctl != nil && ctl.ctl.DisksAreAsleep() {
		ctl.setState(scheduler.DisksAsleep) // asleep before a restart of veille
	}
	ctl.idle, ctl.idleMap = a.buildIdle()
	wd, err := systemd.WatchdogFromEnv()
	if err != nil {
		a.log.Warn("watchdog", "err", err)
	}
	a.watchdog = wd
	if wd != nil && wd.Enabled() {
		g.Go(func() error { return wd.Run(ctx) })
	}
	g.Go(func() error { return a.sampleLoop(ctx) })
	g.Go(func() error { return a.systemLoop(ctx) })
	g.Go(func() error { return ctl.run(ctx) })
	g.Go(func() error { return a.buttonLoop(ctx) })
	a.notify("READY=1")
	a.notify("STATUS=measuring")
	err = g.Wait()
	a.notify("STOPPING=1")
	if a.stopBroker != nil {
		a.stopBroker()
	}
	if a.simWorld != nil {
		a.simWorld.Close()
	}
	if cerr := a.keeper.Close(a.clk.Now()); cerr != nil {
		a.log.Warn("energy counters not saved at stop", "err", cerr)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *Agent) notify(state string) {
	if a.hw.Notify != nil {
		if err := a.hw.Notify(state); err != nil {
			a.log.Debug("sd_notify", "state", state, "err", err)
		}
	}
}

func (a *Agent) observe(kind EventKind, text string) {
	if a.opts.Observe != nil {
		a.opts.Observe(Event{Time: a.clk.Now(), Kind: kind, Text: text})
	}
}

func (a *Agent) startMQTT(ctx context.Context, g *errgroup.Group) error {
	c := a.cfg
	url := c.MQTT.Broker
	if a.opts.Broker != "" {
		url = a.opts.Broker
	}
	if url == "embedded" {
		b, err := mqtt.StartBroker(mqtt.BrokerOptions{Addr: c.MQTT.Listen, Logger: slog.New(minLevel{slog.LevelWarn, a.log.Handler()})})
		if err != nil {
			return fmt.Errorf("embedded broker on %s: %w", c.MQTT.Listen, err)
		}
		a.broker = b
		url = b.URL()
		// The broker outlives the session, so "offline" is said before it stops.
		bctx, stop := context.WithCancel(context.Background())
		a.stopBroker = stop
		go b.Run(bctx)
		a.log.Info("embedded MQTT broker", "url", url)
	}
	topics, err := mqtt.NewTopics(c.MQTT.TopicPrefix, c.Node)
	if err != nil {
		return err
	}
	opts := mqtt.Options{Topics: topics, Clock: a.clk, Logger: a.log,
		Spool: mqtt.SpoolOptions{Dir: filepath.Join(c.StateDir, "spool"), MaxBytes: int64(c.MQTT.SpoolMaxSize), MaxAge: c.MQTT.SpoolMaxAge.D()}}
	opts.Broker = url
	opts.ClientID = c.MQTT.ClientID
	opts.Username, opts.Password = c.MQTT.Username, c.MQTT.Password
	if c.MQTT.PasswordFile != "" {
		pw, err := readSecret(c.MQTT.PasswordFile)
		if err != nil {
			return c.Problem("mqtt.password_file", "%v", err)
		}
		opts.Password = pw
	}
	opts.CAFile, opts.CertFile, opts.KeyFile = c.MQTT.CAFile, c.MQTT.CertFile, c.MQTT.KeyFile
	opts.InsecureSkipVerify = c.MQTT.InsecureSkipVerify
	opts.KeepAlive = c.MQTT.KeepAlive.D()
	s, err := mqtt.NewSession(opts)
	var pe *fs.PathError
	if err != nil && errors.As(err, &pe) {
		// The state directory cannot hold the spool (a card the kernel
		// remounted read-only, a full one): spool in the temporary
		// directory, lost at a reboot, rather than not report at all.
		spool := opts.Spool.Dir
		opts.Spool.Dir = filepath.Join(os.TempDir(), "veille-spool-"+c.Node)
		if s2, err2 := mqtt.NewSession(opts); err2 == nil {
			a.log.Warn("telemetry spool cannot be in the state directory; it is in "+opts.Spool.Dir+" until a restart, and lost at a reboot", "err", err, "dir", spool)
			s, err = s2, nil
		}
	}
	if err != nil {
		return err
	}
	a.session = s
	s.OnConnect(func() { go a.announce(ctx) })
	g.Go(func() error { return s.Run(ctx) })
	return nil
}

// announce publishes the retained descriptions after each (re)connect.
func (a *Agent) announce(ctx context.Context) {
	meta := telemetry.Meta{Schema: telemetry.Version, Node: a.cfg.Node,
		IntervalMS: uint32(a.cfg.Sampling.Interval.D() / time.Millisecond), Samples: a.cfg.Telemetry.Batch,
		Units: telemetry.WireUnits(), Software: a.opts.Version}
	for i, ch := range a.channels {
		m := ch.Meta
		m.ID = uint16(i)
		meta.Channels = append(meta.Channels, m)
	}
	for i, d := range a.cfg.Disks {
		md := telemetry.MetaDisk{Index: i, Name: d.Name, UUID: d.UUID}
		for j, ch := range a.channels {
			if ch.Name == d.Channel && d.Channel != "" {
				id := uint16(j)
				md.Channel = &id
			}
		}
		meta.Disks = append(meta.Disks, md)
	}
	b, err := telemetry.MarshalMeta(meta)
	if err != nil {
		a.log.Error("meta", "err", err)
		return
	}
	if err := a.session.Publish(ctx, a.session.Topics().Meta(), 1, true, b); err != nil {
		a.log.Debug("publish meta", "err", err)
	}
}

// minLevel drops records below a level: the embedded broker's chatter.
type minLevel struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler           { return minLevel{m.min, m.h.WithAttrs(as)} }
func (m minLevel) WithGroup(n string) slog.Handler                 { return minLevel{m.min, m.h.WithGroup(n)} }
