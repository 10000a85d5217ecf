package agent

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/homeassistant"
	"github.com/veille/veille/internal/telemetry"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// benchConfig is a Pi with three measured rails (an INA228 on its input with
// the energy accumulator, an INA226 and an INA260 on the two disks' supplies)
// and Home Assistant on: the sampling path of a typical installation.
const benchConfig = `
version = 1
node = "bench"
[sampling]
interval = "10s"
[[sensor]]
name = "pi"
chip = "ina228"
address = 0x40
shunt_resistance = "15mΩ"
max_current = "10A"
[[sensor]]
name = "media"
chip = "ina226"
address = 0x41
shunt_resistance = "10mΩ"
max_current = "5A"
[[sensor]]
name = "cloud"
chip = "ina260"
address = 0x44
[[disk]]
name = "media"
label = "media"
mount = "/srv/media"
channel = "media"
[[disk]]
name = "cloud"
label = "cloud"
mount = "/srv/cloud"
channel = "cloud"
[homeassistant]
enabled = true
[telemetry]
batch = 30
`

type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, string, byte, bool, []byte) error { return nil }

// benchAgent builds an agent of benchConfig whose sampling path is ready.
func benchAgent(b testing.TB, ha bool, bus func(c *config.Config, clk *clock.Fake) i2c.Bus) (*Agent, *clock.Fake) {
	return sampleAgent(b, benchConfig, ha, bus)
}

// sampleAgent builds an agent of the configuration conf whose sampling path
// is ready (what Run sets up before its loops start), on the bus open
// returns, with a fake clock.
func sampleAgent(b testing.TB, conf string, ha bool, bus func(c *config.Config, clk *clock.Fake) i2c.Bus) (*Agent, *clock.Fake) {
	b.Helper()
	c, err := config.Parse("bench.toml", []byte(conf))
	if err != nil {
		b.Fatal(err)
	}
	c.StateDir = b.TempDir()
	c.HomeAssistant.Enabled = ha
	clk := clock.NewFake(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	i2cBus := bus(c, clk)
	hw := Hardware{OpenBus: func(int) (i2c.Bus, error) { return i2cBus, nil }, Notify: func(string) error { return nil },
		ClockSynced: func() bool { return true }, SinceBoot: func() time.Duration { return time.Hour }}
	a, err := New(Options{Config: c, Clock: clk, Hardware: hw})
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, len(a.channels))
	ids := make([]uint16, len(a.channels))
	for i, ch := range a.channels {
		names[i], ids[i] = ch.Name, uint16(i)
	}
	interval := c.Sampling.Interval.D()
	keeper, warn := energy.Open(&energy.Store{Dir: c.StateDir}, names, time.UTC, 3*interval, c.Energy.CheckpointInterval.D())
	if warn != nil {
		b.Fatal(warn)
	}
	a.keeper = keeper
	if a.batcher, err = telemetry.NewBatcher(telemetry.BatcherOptions{Channels: ids, Samples: c.Telemetry.Batch, Interval: interval, Run: 1}); err != nil {
		b.Fatal(err)
	}
	if ha {
		opts := homeassistant.Options{Topics: homeassistant.Topics{Prefix: "veille", Node: c.Node}, Clock: clk}
		for i, ch := range a.channels {
			opts.Channels = append(opts.Channels, homeassistant.Channel{ID: uint16(i), Key: homeassistant.Key(ch.Name), Name: ch.Name})
		}
		for _, d := range c.Disks {
			opts.Disks = append(opts.Disks, homeassistant.Disk{Key: homeassistant.Key(d.Name), Name: d.Name})
		}
		if a.ha, err = homeassistant.New(opts, discardPublisher{}); err != nil {
			b.Fatal(err)
		}
	}
	// The control loop's view, as in steady state: it has decided, the
	// schedule is on, the disks are awake.
	a.decided = true
	a.snap.ScheduleEnabled = true
	for _, d := range c.Disks {
		a.snap.Disks = append(a.snap.Disks, DiskState{Name: d.Name, State: telemetry.DiskActive})
	}
	return a, clk
}

// worldBus is the demo's: the simulated home server's I2C bus, whose chips
// follow its load model (the world's own bookkeeping runs on every transfer).
func worldBus(b testing.TB) func(*config.Config, *clock.Fake) i2c.Bus {
	return func(c *config.Config, clk *clock.Fake) i2c.Bus {
		w, err := sim.New(WorldOpts(c, clk))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close() })
		return w.Bus()
	}
}

// chipBus is the same chips on a standalone emulated bus with steady rails:
// only veille's path and the register emulation.
func chipBus(b testing.TB) func(*config.Config, *clock.Fake) i2c.Bus {
	return func(_ *config.Config, clk *clock.Fake) i2c.Bus {
		t0 := clk.Now().Add(-time.Minute)
		pi, disk := sim.NewTrace(t0, 5.1, 0.55), sim.NewTrace(t0, 5.0, 0.8)
		bus := sim.NewBus("I2C1", clk.Now)
		for _, d := range []struct {
			addr uint16
			dev  sim.Device
		}{
			{0x40, sim.NewINA228(pi, 15*physic.MilliOhm)},
			{0x41, sim.NewINA226(disk, 10*physic.MilliOhm)},
			{0x44, sim.NewINA260(disk)},
		} {
			if err := bus.Attach(d.addr, d.dev); err != nil {
				b.Fatal(err)
			}
		}
		return bus
	}
}

// BenchmarkSample is one tick of the agent's sampling path in steady state:
// every sensor read through the emulated I2C bus, the energy ledger, the
// savings estimate, the checkpoint (every 15 min of simulated time), the
// telemetry batcher (a frame encoded every 30 samples), the snapshot and,
// with Home Assistant on, the reporter's state update. The clock advances
// one interval per tick. Target: 0 allocs per sample.
func BenchmarkSample(b *testing.B) {
	for _, bc := range []struct {
		name string
		ha   bool
		bus  func(*config.Config, *clock.Fake) i2c.Bus
	}{
		{"chips/ha", true, chipBus(b)},
		{"chips/ha/no-checkpoint", true, chipBus(b)},
		{"chips/no-ha", false, chipBus(b)},
		{"world/ha", true, worldBus(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, clk := benchAgent(b, bc.ha, bc.bus)
			if strings.HasSuffix(bc.name, "/no-checkpoint") {
				// The ticks between two checkpoints: what every sample
				// costs (BenchmarkCheckpoint is the checkpoint's own).
				a.keeper.Interval = 1 << 62
			}
			interval := a.cfg.Sampling.Interval.D()
			n := len(a.channels)
			s := newSampler(n)
			ctx := context.Background()
			// Warm up: a whole frame, so every buffer has its size.
			for range a.cfg.Telemetry.Batch + 1 {
				clk.Advance(interval)
				a.sampleOnce(ctx, s, clk.Now())
			}
			for i := range n {
				if !s.ok[i] {
					b.Fatalf("channel %s unreadable after the warm-up", a.channels[i].Name)
				}
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				clk.Advance(interval)
				a.sampleOnce(ctx, s, clk.Now())
			}
			// CPU time (user + system, the whole process: the garbage
			// collector's share included) per tick: unlike ns/op it does
			// not grow when other work shares the machine.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
