package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/scheduler"
)

// These tests run the whole agent in-process on the simulated world with a
// fast clock: real drivers, real sequences, real MQTT over an embedded
// broker. They wait for outcomes with generous real-time limits and never
// assert on durations.

type harness struct {
	t      *testing.T
	cfg    *config.Config
	world  *sim.World
	clk    *clock.Scaled
	agent  *Agent
	events *eventLog
	cancel context.CancelFunc
	done   chan error
}

type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) find(kind EventKind, sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if e.Kind == kind && strings.Contains(e.Text, sub) {
			return true
		}
	}
	return false
}

func (l *eventLog) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.evs {
		if e.Kind != EventSample {
			fmt.Fprintf(&b, "%s %s\n", e.Time.Format("15:04:05"), e.Text)
		}
	}
	return b.String()
}

// start runs an agent on a world built from the demo configuration, changed
// by edit, from the given wall time at speed.
func start(t *testing.T, from string, speed float64, edit func(*config.Config, *sim.Opts), dry bool) *harness {
	t.Helper()
	cfg, err := config.Parse("demo.toml", DemoConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	cfg.Button.Enabled = false
	loc, _ := cfg.Schedule.Location()
	at, err := time.ParseInLocation("2006-01-02 15:04", from, loc)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewScaled(at, speed)
	o := WorldOpts(cfg, clk)
	if edit != nil {
		edit(cfg, &o)
	}
	w, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cfg.Root = w.Root()
	b, err := mqtt.StartBroker(mqtt.BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	go w.Run(ctx, 10*time.Millisecond)
	h := &harness{t: t, cfg: cfg, world: w, clk: clk, events: &eventLog{}, cancel: cancel, done: make(chan error, 1)}
	boot := at.Add(-time.Hour)
	a, err := New(Options{Config: cfg, Clock: clk, Hardware: SimHardware(w, func() time.Time { return boot }),
		Observe: h.events.add, Broker: b.URL(), DryRun: dry,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("agent: %v", err)
		}
		h.done <- nil
	case <-time.After(20 * time.Second):
		h.t.Error("agent did not stop")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// until waits for cond, failing with what happened after limit.
func (h *harness) until(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not reached (simulated %s); events:\n%s", what, h.clk.Now().Format("15:04:05"), h.events.dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) diskState() sim.DiskState {
	s, err := h.world.DiskState("sda")
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func TestDisksSleepInWindowAndMeasuredDrawDrops(t *testing.T) {
	h := start(t, "2026-12-01 21:25", 120, nil, false)
	var before float64
	h.until("a measured media channel", 20*time.Second, func() bool {
		s := h.agent.Snapshot()
		if len(s.Channels) == 2 && s.Channels[1].OK {
			before = s.Channels[1].Watts
			return true
		}
		return false
	})
	h.until("disks asleep", 90*time.Second, func() bool { return h.agent.Snapshot().State == scheduler.DisksAsleep })
	if s := h.diskState(); s != sim.DiskStandby {
		t.Errorf("disk %s after the disks-asleep sequence", s)
	}
	if h.world.Mounted("/srv/media") {
		t.Error("disk asleep but still mounted")
	}
	if active, _ := h.world.UnitActive("jellyfin.service"); active {
		t.Error("jellyfin still running on a sleeping disk")
	}
	h.until("lower draw", 30*time.Second, func() bool {
		s := h.agent.Snapshot()
		return s.Channels[1].OK && s.Channels[1].Watts < before-1
	})
	if !h.events.find(EventStep, "confirm: ok") {
		t.Errorf("no measured confirmation of the saving:\n%s", h.events.dump())
	}
	for _, v := range h.world.Violations() {
		t.Errorf("safety violation: %v", v)
	}
}

func TestSensorUnpluggedGoesUnavailableAndRecovers(t *testing.T) {
	h := start(t, "2026-12-01 12:00", 60, nil, false)
	ok := func(i int) func() bool {
		return func() bool { s := h.agent.Snapshot(); return len(s.Channels) == 2 && s.Channels[i].OK }
	}
	h.until("both channels read", 20*time.Second, func() bool { return ok(0)() && ok(1)() })
	if err := h.world.Bus().SetFault(0x41, sim.FaultGone); err != nil {
		t.Fatal(err)
	}
	h.until("media unavailable", 20*time.Second, func() bool { return !ok(1)() })
	if !ok(0)() {
		t.Error("the pi channel stopped with the media sensor")
	}
	if err := h.world.Bus().SetFault(0x41, sim.FaultNone); err != nil {
		t.Fatal(err)
	}
	h.until("media back", 60*time.Second, ok(1))
	// Garbage is also survived.
	h.world.Bus().SetFault(0x40, sim.FaultGarbage)
	time.Sleep(200 * time.Millisecond)
	h.world.Bus().SetFault(0x40, sim.FaultNone)
	h.until("pi back after garbage", 60*time.Second, ok(0))
}

func TestUnitRefusingToStopLeavesServerServing(t *testing.T) {
	h := start(t, "2026-12-01 21:28", 120, func(c *config.Config, o *sim.Opts) {
		for i := range o.Units {
			if o.Units[i].Name == "jellyfin.service" {
				o.Units[i].RefuseStop = true
			}
		}
	}, false)
	h.until("failed attempt", 60*time.Second, func() bool { return h.events.find(EventNotice, "failed") })
	if !h.world.Mounted("/srv/media") {
		t.Error("filesystem left unmounted after a refused stop")
	}
	if active, _ := h.world.UnitActive("jellyfin.service"); !active {
		t.Error("jellyfin not running after the rollback")
	}
	if s := h.diskState(); s == sim.DiskStandby {
		t.Error("disk spun down although its unit kept running")
	}
	if r := h.agent.Snapshot().Reason; !strings.Contains(r, "jellyfin.service") {
		t.Errorf("reason %q does not name the unit", r)
	}
}

func TestSystemWindowsRefusedWithoutWakeRTC(t *testing.T) {
	h := start(t, "2026-12-01 22:58", 60, func(c *config.Config, o *sim.Opts) { o.Board.NoRTC = true }, false)
	// The night would halt at 23:00; without a wake RTC it only keeps the
	// disks asleep.
	h.until("past 23:05", 60*time.Second, func() bool { return h.clk.Now().Hour() == 23 && h.clk.Now().Minute() >= 5 })
	if h.world.BoardState() != sim.BoardRunning {
		t.Fatalf("board %s: a Pi without a wake-capable RTC was halted", h.world.BoardState())
	}
	if s := h.agent.Snapshot().State; s != scheduler.DisksAsleep {
		t.Errorf("state %s, want the system window kept as a disks window", s)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	h := start(t, "2026-12-01 21:28", 120, nil, true)
	h.until("dry-run steps", 60*time.Second, func() bool { return h.events.find(EventStep, "unmount") })
	time.Sleep(500 * time.Millisecond)
	if !h.world.Mounted("/srv/media") || h.diskState() == sim.DiskStandby {
		t.Error("dry run unmounted or spun down the disk")
	}
	if active, _ := h.world.UnitActive("jellyfin.service"); !active {
		t.Error("dry run stopped a unit")
	}
}
