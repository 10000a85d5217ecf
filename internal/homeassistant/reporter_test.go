package homeassistant

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/internal/telemetry"
)

// waitUntil polls cond; it waits for a goroutine to reach a state, never for
// a duration of fake time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The reporter's timing is tested in a testing/synctest bubble: time is
// virtual, advances only while every goroutine of the bubble is blocked, and
// synctest.Wait returns once the reporter has reacted to what the test did
// (a fake clock polled from outside cannot know that, and raced).
type runFixture struct {
	t   *testing.T
	rec *recorder
	r   *Reporter
}

// startReporter runs a Reporter on the bubble's clock; call it inside
// synctest.Test.
func startReporter(t *testing.T, mut func(*Options)) *runFixture {
	rec := &recorder{}
	o := testOptions(t)
	o.Clock = clock.Real{}
	o.MinInterval = 5 * time.Second
	if mut != nil {
		mut(&o)
	}
	r, err := New(o, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &runFixture{t: t, rec: rec, r: r}
}

// settle waits until the reporter has done all it can at this instant.
func (f *runFixture) settle() { synctest.Wait() }

// advance lets d of virtual time pass, then settles.
func (f *runFixture) advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// expect fails unless cond holds once the reporter has settled.
func (f *runFixture) expect(what string, cond func() bool) {
	f.t.Helper()
	synctest.Wait()
	if !cond() {
		f.t.Fatalf("%s: not so after the reporter settled", what)
	}
}

func (f *runFixture) states() int { return len(f.rec.on("veille/nas/state")) }

func TestReporterCadenceAndSignificantChange(t *testing.T) { synctest.Test(t, testReporterCadence) }

func testReporterCadence(t *testing.T) {
	f := startReporter(t, nil)
	s := sampleState()
	f.r.Update(s) // first state: significant
	f.expect("first state", func() bool { return f.states() == 1 })

	// A small change waits for the slow cadence.
	s.Channels[0].MilliWatts += 100 // +0.1 W
	s.Channels[0].EnergyMilliWh += 10
	f.r.Update(s)
	f.advance(30 * time.Second)
	f.settle()
	if n := f.states(); n != 1 {
		t.Fatalf("insignificant change published: %d states", n)
	}
	f.advance(30 * time.Second)
	f.expect("heartbeat state", func() bool { return f.states() == 2 })

	// A disk spinning up is significant: published within MinInterval.
	s.Disks = []telemetry.DiskState{telemetry.DiskActive}
	f.r.Update(s)
	f.advance(5 * time.Second)
	f.expect("significant state", func() bool { return f.states() == 3 })
	last := f.rec.on("veille/nas/state")[2]
	if !last.retained || !strings.Contains(string(last.payload), `"media":"active"`) {
		t.Errorf("state %s retained %v", last.payload, last.retained)
	}

	// Power: +2 W on 3.6 W is significant (≥ max(0.5 W, 20 %)).
	s.Channels[0].MilliWatts += 2000
	f.r.Update(s)
	f.advance(5 * time.Second)
	f.expect("power change", func() bool { return f.states() == 4 })
}

func TestThresholds(t *testing.T) {
	th := Thresholds{PowerW: 0.5, PowerRatio: 0.2, TempC: 3}
	base := sampleState()
	cases := []struct {
		name string
		mut  func(*State)
		want bool
	}{
		{"same", func(*State) {}, false},
		{"energy only", func(s *State) { s.Channels[0].EnergyMilliWh += 1000 }, false},
		{"0.4 W", func(s *State) { s.Channels[0].MilliWatts += 400 }, false},
		{"0.6 W on 3.6 W", func(s *State) { s.Channels[0].MilliWatts += 600 }, false},
		{"0.8 W on 3.6 W", func(s *State) { s.Channels[0].MilliWatts += 800 }, true},
		{"channel lost", func(s *State) { s.Channels[0].OK = false }, true},
		{"temp +2", func(s *State) { s.SoCTemp += 2 }, false},
		{"temp +3", func(s *State) { s.SoCTemp += 3 }, true},
		{"scheduler", func(s *State) { s.Scheduler = telemetry.SchedulerDisksAsleep }, true},
		{"reason", func(s *State) { s.Reason = "outside window" }, true},
		{"throttled", func(s *State) { s.Throttled |= telemetry.ThrottledNow }, true},
		{"schedule off", func(s *State) { s.ScheduleEnabled = false }, true},
		{"stay awake set", func(s *State) { s.StayAwake = 5 * time.Hour }, true},
	}
	for _, c := range cases {
		next := sampleState()
		next.Channels = append([]ChannelState(nil), next.Channels...)
		c.mut(&next)
		if got := th.significant(base, next); got != c.want {
			t.Errorf("%s: significant=%v, want %v", c.name, got, c.want)
		}
	}
}

func TestReporterBirthReannouncesAfterRandomDelay(t *testing.T) { synctest.Test(t, testReporterBirth) }

func testReporterBirth(t *testing.T) {
	f := startReporter(t, nil)
	f.r.birthRandom = func(max time.Duration) time.Duration {
		if max != 5*time.Second {
			t.Errorf("birth delay bound %v", max)
		}
		return 3 * time.Second
	}
	f.r.Update(sampleState())
	f.expect("first state", func() bool { return f.states() == 1 })
	f.r.HandleBirth("homeassistant/status", []byte("offline"))
	f.r.HandleBirth("homeassistant/status", []byte("online"))
	f.advance(2 * time.Second)
	f.settle()
	if n := len(f.rec.on("homeassistant/device/nas/config")); n != 0 {
		t.Fatalf("announced before the delay: %d", n)
	}
	f.advance(time.Second)
	f.expect("re-announce", func() bool { return len(f.rec.on("homeassistant/device/nas/config")) == 1 })
	f.expect("state after discovery", func() bool { return f.states() == 2 })
	cfg := f.rec.on("homeassistant/device/nas/config")[0]
	if !cfg.retained || cfg.qos != 1 {
		t.Errorf("discovery retained=%v qos=%d", cfg.retained, cfg.qos)
	}
}

func TestReporterEnergyNeverGoesBack(t *testing.T) { synctest.Test(t, testReporterEnergy) }

func testReporterEnergy(t *testing.T) {
	f := startReporter(t, nil)
	s := sampleState()
	f.r.Update(s)
	f.expect("first state", func() bool { return f.states() == 1 })
	s.Channels[0].EnergyMilliWh = 1000 // a lost checkpoint, say
	s.SavedMilliWh = 1
	s.Scheduler = telemetry.SchedulerAwake // make it go out now
	f.r.Update(s)
	f.advance(5 * time.Second)
	f.expect("second state", func() bool { return f.states() == 2 })
	var v struct {
		Ch map[string]struct {
			KWh float64 `json:"kwh"`
		}
		Saved float64 `json:"saved_kwh"`
	}
	json.Unmarshal(f.rec.on("veille/nas/state")[1].payload, &v)
	if v.Ch["pi"].KWh != 1.234567 || v.Saved != 2.5 {
		t.Errorf("counters went back: %+v", v)
	}
}

func TestScheduleAndEvents(t *testing.T) {
	rec := &recorder{}
	r, err := New(testOptions(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sc := Schedule{NextSleep: time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("CET", 3600)), Window: "night"}
	for range 2 {
		if err := r.SetSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.on("veille/nas/schedule")
	if len(got) != 1 || !got[0].retained || string(got[0].payload) != `{"next_sleep":"2026-03-01T23:30:00+01:00","next_wake":null,"window":"night"}` {
		t.Fatalf("schedule %+v", got)
	}
	if err := r.PublishEvent(ctx, PressDouble); err != nil {
		t.Fatal(err)
	}
	if err := r.PublishEvent(ctx, "triple"); err == nil {
		t.Error("unknown press accepted")
	}
	ev := rec.on("veille/nas/event")
	if len(ev) != 1 || ev[0].retained || string(ev[0].payload) != `{"event_type":"double"}` {
		t.Errorf("events %+v", ev)
	}
	// Announce republishes the retained schedule after discovery.
	if err := r.Announce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.on("veille/nas/schedule")) != 2 {
		t.Error("announce did not republish the schedule")
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestHandleCommand(t *testing.T) {
	var logs logBuffer
	var got []Command
	o := testOptions(t)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.OnCommand = func(c Command) { got = append(got, c) }
	r, err := New(o, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	r.HandleCommand("veille/nas/cmd/stay_awake", []byte("4"))
	r.HandleCommand("veille/nas/cmd/exec", []byte("/bin/sh"))
	r.HandleCommand("veille/nas/cmd/reboot", bytes.Repeat([]byte("x"), 4096))
	if len(got) != 1 || got[0].StayAwake != 4*time.Hour {
		t.Fatalf("commands %+v", got)
	}
	out := logs.b.String()
	for _, want := range []string{"topic=veille/nas/cmd/exec", `unknown command \"exec\"`, "topic=veille/nas/cmd/reboot", "payload of 4096 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestWithEmbeddedBroker wires the Reporter to a real Session: retained
// discovery reaches a late subscriber, and commands travel back.
func TestWithEmbeddedBroker(t *testing.T) {
	b, err := mqtt.StartBroker(mqtt.BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	o := testOptions(t)
	cmds := make(chan Command, 1)
	o.OnCommand = func(c Command) { cmds <- c }
	s, err := mqtt.NewSession(mqtt.Options{ConnOptions: mqtt.ConnOptions{Broker: b.URL()}, Topics: mqtt.Topics(o.Topics),
		Spool: mqtt.SpoolOptions{Dir: t.TempDir(), NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(o, s)
	if err != nil {
		t.Fatal(err)
	}
	r.Update(sampleState())
	s.Subscribe(o.Topics.CmdFilter(), 1, func(m mqtt.Message) { r.HandleCommand(m.Topic, m.Payload) })
	s.Subscribe(r.BirthTopic(), 1, func(m mqtt.Message) { r.HandleBirth(m.Topic, m.Payload) })
	announced := make(chan error, 1)
	s.OnConnect(func() { go func() { announced <- r.Announce(ctx) }() })
	sctx, stop := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- s.Run(sctx) }()
	select {
	case err := <-announced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no announce")
	}
	// HA, connecting later, gets the retained config and sends a command.
	ha := mqtt.Message{}
	var mu sync.Mutex
	haSession, err := mqtt.NewSession(mqtt.Options{ConnOptions: mqtt.ConnOptions{Broker: b.URL(), ClientID: "home-assistant"},
		Topics: mustTopics(t, "ha"), Spool: mqtt.SpoolOptions{Dir: t.TempDir(), NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	haSession.Subscribe("homeassistant/device/+/config", 1, func(m mqtt.Message) { mu.Lock(); ha = m; mu.Unlock() })
	hctx, hstop := context.WithCancel(ctx)
	hdone := make(chan error, 1)
	go func() { hdone <- haSession.Run(hctx) }()
	waitUntil(t, "retained discovery", func() bool { mu.Lock(); defer mu.Unlock(); return ha.Retained && len(ha.Payload) > 1000 })
	waitUntil(t, "HA session connected", func() bool { return haSession.Stats().Connected })
	if err := haSession.Publish(ctx, "veille/nas/cmd/schedule", 1, false, []byte("OFF")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-cmds:
		if c.Name != CmdSchedule || c.On {
			t.Errorf("command %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not arrive")
	}
	hstop()
	<-hdone
	stop()
	<-sdone
}

func mustTopics(t *testing.T, node string) mqtt.Topics {
	tp, err := mqtt.NewTopics("", node)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// TestRefusedCommandsCannotFloodTheLog: a burst of bad commands logs the
// first refusedPerMinute, then one line a minute with the count of the rest.
func TestRefusedCommandsCannotFloodTheLog(t *testing.T) {
	var logs logBuffer
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	o := testOptions(t)
	o.Clock = clk
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := New(o, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		r.HandleCommand("veille/nas/cmd/nope", []byte("x"))
	}
	if n := strings.Count(logs.b.String(), "refused MQTT command"); n != refusedPerMinute {
		t.Errorf("%d lines for 1000 refused commands, want %d", n, refusedPerMinute)
	}
	clk.Advance(time.Minute)
	r.HandleCommand("veille/nas/cmd/nope", []byte("x"))
	out := logs.b.String()
	if !strings.Contains(out, "refused MQTT commands not logged one by one") || !strings.Contains(out, fmt.Sprintf("count=%d", 1000-refusedPerMinute)) {
		t.Errorf("no summary of the quiet ones:\n%s", out)
	}
}
