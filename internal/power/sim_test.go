package power

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/clock"
)

// The closed loop against the simulated world (drivers/sim): its disks
// interpret the CDBs, its ports cut the disks' rails, its mounts, units,
// RTC and logind are the back-ends, and its rails are the meter. The world
// records a violation if power is ever cut under a mounted filesystem.

// simTransport is the agent's wiring of the world's SCSI answers: the
// world returns its own sense type, which usbdisk decodes from the raw
// sense bytes.
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

// railMeter reads a rail of the world, as the agent reads an INA channel.
type railMeter struct{ w *sim.World }

func (m railMeter) Power(_ context.Context, rail string) (float64, error) {
	p, err := m.w.RailPower(rail)
	return float64(p) / float64(physic.Watt), err
}

type simWorld struct {
	t     *testing.T
	clk   *clock.Fake
	world *sim.World
	opts  Options
	c     *Controller

	mu  sync.Mutex
	now time.Time // the world's time: a step ahead of clk while the files catch up
}

func (s *simWorld) worldNow() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// step moves time on by a second: the world first, so its files show the
// new present before anything waiting on the clock wakes and reads them.
func (s *simWorld) step() { s.t.Helper(); s.stepBy(time.Second) }

func (s *simWorld) stepBy(d time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	s.now = s.clk.Now().Add(d)
	s.mu.Unlock()
	if err := s.world.Sync(); err != nil {
		s.t.Fatal(err)
	}
	s.clk.Advance(d)
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	clk := clock.NewFake(t0)
	s := &simWorld{t: t, clk: clk, now: t0}
	o := sim.DefaultOpts(s.worldNow)
	o.After = clk.After
	o.Root = t.TempDir()
	world, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { world.Close() })
	s.world = world
	s.opts = Options{
		Root:     world.Root(),
		StateDir: filepath.Join(t.TempDir(), "state"),
		Disks: []Disk{
			{Name: "media", UUID: "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", CutPower: true, PowerChannel: "sda", MinSaving: 2},
			{Name: "cloud", Label: "cloud", CutPower: true, PowerChannel: "sdb", MinSaving: 2},
		},
		Transport: simTransport{world},
		Mounter:   world,
		Units:     world,
		Halter:    world,
		Alarm:     &rtc.WakeAlarm{Root: world.Root(), WriteFile: world.WriteFile},
		Meter:     railMeter{world},
		Clock:     clk,
		Settle:    5 * time.Second,
	}
	c, err := New(s.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

// pump runs f while moving the clock on by a second whenever f waits, and
// brings the world's files up to date each time.
func (s *simWorld) pump(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if s.clk.Waiters() > 0 {
			s.step()
		} else {
			runtime.Gosched()
		}
	}
}

func (s *simWorld) advance(d time.Duration) {
	s.t.Helper()
	for end := s.clk.Now().Add(d); s.clk.Now().Before(end); {
		s.step()
	}
}

func (s *simWorld) noViolations() {
	s.t.Helper()
	for _, v := range s.world.Violations() {
		s.t.Errorf("violation: %s", v)
	}
}

func (s *simWorld) awake() {
	s.t.Helper()
	for _, m := range []string{"/srv/media", "/srv/cloud"} {
		if !s.world.Mounted(m) {
			s.t.Errorf("%s not mounted", m)
		}
	}
	for _, u := range []string{"jellyfin.service", "nextcloud-cron.timer", "ssh.service"} {
		if on, err := s.world.UnitActive(u); err != nil || !on {
			s.t.Errorf("%s not active (%v)", u, err)
		}
	}
}

func TestSimDisksNightAndMorning(t *testing.T) {
	s := newSimWorld(t)
	var events []Event
	s.c.o.OnEvent = func(e Event) { events = append(events, e) }
	ctx := context.Background()
	s.advance(30 * time.Second) // let the disks spin up after power-on

	if err := s.pump(func() error { return s.c.DisksAsleep(ctx) }); err != nil {
		t.Fatal(err)
	}
	for _, rail := range []string{"sda", "sdb"} {
		p, err := s.world.RailPower(rail)
		if err != nil || p > 10*physic.MilliWatt {
			t.Errorf("rail %s draws %v after the port cut (%v)", rail, p, err)
		}
	}
	if on, _ := s.world.UnitActive("jellyfin.service"); on {
		t.Error("jellyfin still active")
	}
	var saved float64
	for _, e := range events {
		if e.Step == StepConfirm {
			if e.Outcome != OK {
				t.Errorf("confirmation: %s", e)
			}
			saved += e.Saving
		}
	}
	// Two disks at 4 W idle, measured down to nothing.
	if saved < 7.5 || saved > 8.5 {
		t.Errorf("measured saving %.2f W, want about 8 W", saved)
	}
	s.noViolations()

	if err := s.pump(func() error { return s.c.DisksAwake(ctx) }); err != nil {
		t.Fatal(err)
	}
	s.awake()
	s.noViolations()
}

func TestSimBusyFileRollsBack(t *testing.T) {
	s := newSimWorld(t)
	s.advance(30 * time.Second)
	f := s.world.Open("/srv/cloud/data/upload.part", "rsync")
	defer f.Close()
	err := s.pump(func() error { return s.c.DisksAsleep(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "unmount /srv/cloud: busy: open by rsync (pid ") ||
		!strings.Contains(err.Error(), "): /srv/cloud/data/upload.part") {
		t.Fatalf("err = %v", err)
	}
	s.awake()
	if st, _ := s.world.DiskState("sda"); st == sim.DiskStandby || st == sim.DiskOff {
		t.Errorf("sda left %s", st)
	}
	s.noViolations()
}

func TestSimSleepUntilAlarm(t *testing.T) {
	s := newSimWorld(t)
	s.advance(30 * time.Second)
	wake := s.clk.Now().Add(6 * time.Hour)
	if err := s.pump(func() error { return s.c.Sleep(context.Background(), wake) }); err != nil {
		t.Fatal(err)
	}
	if at, ok := s.world.WakeAt(); !ok || !at.Equal(wake) {
		t.Errorf("world's alarm %v %v, want %v", at, ok, wake)
	}
	s.advance(time.Minute)
	if st := s.world.BoardState(); st == sim.BoardRunning {
		t.Fatalf("board %s after power-off", st)
	}
	// Halted, nothing runs: jump to the alarm as the demo does, then let
	// the board boot.
	s.stepBy(wake.Sub(s.clk.Now()))
	s.advance(time.Minute)
	if st := s.world.BoardState(); st != sim.BoardRunning {
		t.Fatalf("board %s after the alarm", st)
	}
	s.awake() // the boot mounts the fstab entries and starts the units
	rep, err := TakeWakeReport(s.opts.Root, s.opts.StateDir, s.clk.Now())
	if err != nil || rep == nil || rep.Reason != "rtc alarm" || rep.Slept < 6*time.Hour {
		t.Errorf("wake report %+v, %v", rep, err)
	}
	s.noViolations()
}

func TestSimSleepRefusedByInhibitor(t *testing.T) {
	s := newSimWorld(t)
	s.advance(30 * time.Second)
	in := s.world.Inhibit("borg", "backup running")
	defer in.Release()
	err := s.pump(func() error { return s.c.Sleep(context.Background(), s.clk.Now().Add(time.Hour)) })
	if err == nil || !strings.Contains(err.Error(), "borg") || !strings.Contains(err.Error(), "power-off") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := s.world.WakeAt(); ok {
		t.Error("alarm left armed")
	}
	s.advance(time.Minute)
	s.awake()
	if st := s.world.BoardState(); st != sim.BoardRunning {
		t.Errorf("board %s", st)
	}
	s.noViolations()
}
