package agent

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// DemoConfig is the demo's configuration (the same schema as veille.toml).
//
//go:embed demo.toml
var DemoConfig []byte

// WorldOpts describes the simulated home server matching a configuration:
// the reference Pi 5 with two USB disks behind a hub, and an emulated chip
// for each [[sensor]], fed by the rail of the disk whose channel it is, or by
// the Pi's own supply.
func WorldOpts(c *config.Config, clk clock.Clock) sim.Opts {
	o := sim.DefaultOpts(clk.Now)
	o.After = clk.After
	diskRail := map[string]string{} // channel name → rail
	for _, d := range c.Disks {
		for _, sd := range o.Disks {
			for _, p := range sd.Partitions {
				if d.Channel != "" && (d.UUID != "" && p.UUID == d.UUID || d.Label != "" && p.Label == d.Label) {
					diskRail[d.Channel] = sd.Rail
				}
			}
		}
	}
	rail := func(channel string) string {
		if r, ok := diskRail[channel]; ok {
			return r
		}
		return o.Board.Rail
	}
	o.Sensors = nil
	for _, s := range c.Sensors {
		so := sim.SensorOpts{Addr: uint16(s.Address), Chip: sim.Chip(s.Chip), Shunt: s.ShuntResistance.V(), Rail: rail(s.Name)}
		if s.Chip == "ina3221" {
			for _, ch := range s.Channels {
				so.Channels[ch.Number-1] = sim.ChannelOpts{Rail: rail(ch.Name), Shunt: ch.ShuntResistance.V()}
			}
		}
		if s.Chip == "ina230" || s.Chip == "ina231" {
			so.Chip = sim.ChipINA226 // register-compatible
		}
		o.Sensors = append(o.Sensors, so)
	}
	if c.Button.Enabled {
		o.Button = &sim.ButtonOpts{Name: fmt.Sprintf("GPIO%d", c.Button.Line), Number: c.Button.Line, WakesBoard: true}
	} else {
		o.Button = nil
	}
	return o
}

// SimHardware wires the agent to a simulated world: its I2C bus, its button,
// and its SCSI, mount, unit and power back-ends. Everything above is the code
// that runs on a Pi.
func SimHardware(w *sim.World, boot func() time.Time) Hardware {
	return Hardware{
		OpenBus: func(int) (i2c.Bus, error) { return w.Bus(), nil },
		Button: func() (gpio.PinIn, error) {
			if b := w.Button(); b != nil {
				return b, nil
			}
			return nil, errors.New("the simulated board has no button")
		},
		Transport:   simTransport{w},
		Mounter:     w,
		Units:       w,
		Halter:      w,
		Notify:      func(string) error { return nil },
		ClockSynced: func() bool { return true },
		SinceBoot:   func() time.Duration { return w.Now().Sub(boot()) },
		WriteFile:   w.WriteFile,
	}
}

// simTransport hands the world's SCSI answers to usbdisk the way the SG_IO
// transport does: a CHECK CONDITION as usbdisk's decoded sense error.
type simTransport struct{ w *sim.World }

func (s simTransport) Command(dev string, cdb []byte, timeout time.Duration) error {
	err := s.w.Command(dev, cdb, timeout)
	var se *sim.SenseError
	if errors.As(err, &se) {
		if d, ok := usbdisk.DecodeSense(se.Dev, se.Opcode, se.Raw); ok {
			return d
		}
	}
	return err
}

// simSensors gives `[simulation] sensors = true` its emulated bus: a world
// whose only use is the chips and the load model; sysfs, systemd, logind and
// the RTC stay the machine's own.
func (a *Agent) simSensors() {
	if !a.cfg.Simulation.Sensors || a.hw.OpenBus != nil {
		return
	}
	var once sync.Once
	var bus i2c.Bus
	var err error
	a.hw.OpenBus = func(int) (i2c.Bus, error) {
		once.Do(func() {
			o := WorldOpts(a.cfg, a.clk)
			o.Units, o.Button = nil, nil
			// Only the chips read the load model, and only their recent
			// windows: a daemon running for months keeps a day of it.
			o.History = 24 * time.Hour
			var w *sim.World
			if w, err = sim.New(o); err == nil {
				bus = w.Bus()
				a.simWorld = w
				a.log.Info("simulation: sensors are on an emulated I2C bus fed by a load model", "root", w.Root())
			}
		})
		return bus, err
	}
}

// Demo runs veille on a simulated home server, restarting the agent at every
// simulated boot: when veille halts the Pi, the clock jumps to the wake alarm
// and the world boots, as a Pi would.
type Demo struct {
	Config  *config.Config
	World   *sim.World
	Clock   *clock.Scaled
	Logger  *slog.Logger
	Observe func(Event)
	Broker  string // the broker the agent uses (outlives its restarts)
	Version string
	// Wall, when set, is the wall clock of the simulated Pi, which the agent
	// reads; Clock stays the world's time. A scenario steps Wall (a 1970
	// boot, an NTP correction) while the world runs on. nil: Clock.
	Wall clock.Clock
	// ClockSynced, when set, says whether the Pi's wall clock can be
	// trusted yet; nil: always.
	ClockSynced func() bool
	// Hardware, when set, adjusts the simulated back-ends at each start of
	// the agent (the demo's scenarios inject faults at these contracts).
	Hardware func(Hardware) Hardware
	// Boots counts the agent's starts.
	Boots int
	// Off lists the spans the Pi was halted (nothing measures it then).
	Off [][2]time.Time

	mu  sync.Mutex // guards cur, Boots and Off while Run runs
	cur *Agent
}

// Snapshot returns the running agent's latest state; false while the Pi is
// off or between two starts of the agent.
func (d *Demo) Snapshot() (Snapshot, bool) {
	d.mu.Lock()
	a := d.cur
	d.mu.Unlock()
	if a == nil {
		return Snapshot{}, false
	}
	return a.Snapshot(), true
}

// Progress returns Boots and a copy of Off; safe while Run runs.
func (d *Demo) Progress() (boots int, off [][2]time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Boots, append([][2]time.Time(nil), d.Off...)
}

func (d *Demo) setCurrent(a *Agent) {
	d.mu.Lock()
	d.cur = a
	d.mu.Unlock()
}

// Run runs the demo until ctx ends.
func (d *Demo) Run(ctx context.Context) error {
	var mu sync.Mutex
	bootAt := d.Clock.Now().Add(-time.Hour) // the Pi was up for an hour
	halted := make(chan time.Time, 1)
	booted := make(chan time.Time, 1)
	d.World.OnHalt(func(at time.Time) {
		select {
		case halted <- at:
		default:
		}
	})
	d.World.OnBoot(func(at time.Time) {
		mu.Lock()
		bootAt = at
		mu.Unlock()
		select {
		case booted <- at:
		default:
		}
	})
	boot := func() time.Time { mu.Lock(); defer mu.Unlock(); return bootAt }
	var wall clock.Clock = d.Clock
	if d.Wall != nil {
		wall = d.Wall
	}
	for {
		d.mu.Lock()
		d.Boots++
		d.mu.Unlock()
		actx, cancel := context.WithCancel(ctx)
		hw := SimHardware(d.World, boot)
		if d.ClockSynced != nil {
			hw.ClockSynced = d.ClockSynced
		}
		if d.Hardware != nil {
			hw = d.Hardware(hw)
		}
		a, err := New(Options{Config: d.Config, Logger: d.Logger, Clock: wall, Hardware: hw,
			Observe: d.Observe, Version: d.Version, Broker: d.Broker})
		if err != nil {
			cancel()
			return err
		}
		d.setCurrent(a)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		var haltAt time.Time
		select {
		case <-ctx.Done():
			cancel()
			return <-done
		case err := <-done:
			cancel()
			return err
		case haltAt = <-halted:
			cancel() // the Pi is off: veille stops with it
			err := <-done
			d.setCurrent(nil)
			if err != nil {
				return err
			}
		case at := <-booted:
			// A reboot: the board went down and up without halting. veille
			// went down with it and starts again, as systemd starts it.
			cancel()
			err := <-done
			d.setCurrent(nil)
			if err != nil {
				return err
			}
			d.emit(Event{Time: at, Kind: EventNotice, Text: "the Pi rebooted; veille starts again"})
			continue
		}
		wake, ok := d.World.WakeAt()
		if !ok {
			d.emit(Event{Time: haltAt, Kind: EventNotice, Text: "the Pi halted with no wake alarm: only the button would bring it back"})
			<-ctx.Done()
			return nil
		}
		d.emit(Event{Time: haltAt, Kind: EventNotice, Text: fmt.Sprintf("the Pi is off (%.3f W); the night passes until the RTC alarm at %s", d.haltedWatts(), wake.In(d.loc()).Format("15:04"))})
		if skip := wake.Sub(d.Clock.Now()); skip > 0 {
			d.Clock.Jump(skip)
		}
		d.World.Sync()
		select {
		case <-ctx.Done():
			return nil
		case at := <-booted:
			d.mu.Lock()
			d.Off = append(d.Off, [2]time.Time{haltAt, at})
			d.mu.Unlock()
			d.emit(Event{Time: at, Kind: EventNotice, Text: "RTC alarm: the Pi booted; veille starts again"})
		}
	}
}

func (d *Demo) loc() *time.Location {
	l, err := d.Config.Schedule.Location()
	if err != nil {
		return time.Local
	}
	return l
}

func (d *Demo) haltedWatts() float64 {
	p, err := d.World.RailPower("pi")
	if err != nil {
		return 0
	}
	return float64(p) / float64(physic.Watt)
}

func (d *Demo) emit(e Event) {
	if d.Observe != nil {
		d.Observe(e)
	}
}

// DemoStateDir makes the temporary state directory of a demo run.
func DemoStateDir() (string, error) { return os.MkdirTemp("", "veille-demo-state-") }
