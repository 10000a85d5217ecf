package agent

import (
	"context"
	"time"

	"github.com/veille/veille/internal/homeassistant"
	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/scheduler"
	"golang.org/x/sync/errgroup"
)

// startHA builds the Home Assistant reporter on the MQTT session and routes
// its commands to the control loop.
func (a *Agent) startHA(ctx context.Context, g *errgroup.Group) error {
	c := a.cfg
	t := a.session.Topics()
	opts := homeassistant.Options{
		Topics:          homeassistant.Topics(t),
		DiscoveryPrefix: c.HomeAssistant.DiscoveryPrefix,
		Device:          homeassistant.Device{Name: c.Node, Manufacturer: "veille", Model: a.boardModel(), SWVersion: a.opts.Version},
		StateInterval:   c.HomeAssistant.StateInterval.D(),
		Clock:           a.clk,
		Logger:          a.log,
		OnCommand: func(cmd homeassistant.Command) {
			a.request(Action{Name: cmd.Name, On: cmd.On, StayAwake: cmd.StayAwake, Source: "homeassistant"})
		},
	}
	if c.HomeAssistant.Discovery == "component" {
		opts.Mode = homeassistant.EntityDiscovery
	}
	for i, ch := range a.channels {
		if ch.hidden {
			continue
		}
		opts.Channels = append(opts.Channels, homeassistant.Channel{ID: uint16(i), Key: homeassistant.Key(ch.Name), Name: ch.Name})
	}
	for _, d := range c.Disks {
		opts.Disks = append(opts.Disks, homeassistant.Disk{Key: homeassistant.Key(d.Name), Name: d.Name})
	}
	r, err := homeassistant.New(opts, a.session)
	if err != nil {
		return err
	}
	a.ha = r
	a.session.Subscribe(t.CmdFilter(), 1, func(m mqtt.Message) { r.HandleCommand(m.Topic, m.Payload) })
	a.session.Subscribe(r.BirthTopic(), 0, func(m mqtt.Message) { r.HandleBirth(m.Topic, m.Payload) })
	// Discovery, schedule and state go out after every connect, not only
	// when Home Assistant asks: a device that waits for the birth message
	// stays missing from an HA that is already running. The hook may come
	// after the first connect: then announce now (twice is harmless).
	announce := func() {
		if err := r.Announce(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("Home Assistant discovery not published; it is sent again at the next connect", "err", err)
		}
	}
	a.session.OnConnect(func() { go announce() })
	if a.session.Stats().Connected {
		go announce()
	}
	g.Go(func() error { return r.Run(ctx) })
	return nil
}

// request hands a person's request to the control loop without blocking the
// MQTT client or the button: a full queue drops it with a log line.
func (a *Agent) request(act Action) {
	select {
	case a.actions <- act:
	default:
		a.log.Warn("request dropped: too many pending", "action", act.Name, "source", act.Source)
	}
}

// fillHAState builds the Home Assistant state from the snapshot into the
// agent's own buffers (no allocation per sample); the reporter decides the
// cadence: slow, plus significant changes. a.mu is held; only the sampler
// calls it.
func (a *Agent) fillHAState(s *Snapshot) {
	st := &a.haState
	*st = homeassistant.State{
		SoCTemp: s.SoCTemp, HasSoCTemp: s.HasSoCTemp, Throttled: s.Throttled,
		Scheduler:       schedulerState(s.ScheduleEnabled, s.State, s.Decision),
		Reason:          s.Decision.Reason,
		ScheduleEnabled: s.ScheduleEnabled,
		SavedMilliWh:    uint64(s.SavedWh * 1000),
		CO2eGrams:       uint64(s.SavedCO2eG),
		Channels:        st.Channels[:0],
		Disks:           st.Disks[:0],
	}
	if s.Reason != "" {
		st.Reason = s.Reason
	}
	if s.PersistErr != "" {
		st.Reason = "energy counters not saved (" + s.PersistErr + "); " + st.Reason
	}
	if !s.StayAwakeUntil.IsZero() && s.StayAwakeUntil.After(s.Time) {
		st.StayAwake = s.StayAwakeUntil.Sub(s.Time)
	}
	for i, ch := range s.Channels {
		if a.channels[i].hidden {
			continue
		}
		st.Channels = append(st.Channels, homeassistant.ChannelState{
			MilliVolts: int32(ch.Volts * 1000), MilliAmps: int32(ch.Amps * 1000), MilliWatts: int32(ch.Watts * 1000),
			EnergyMilliWh: a.keeper.Published(i) / 3600000, TodayMilliWh: uint64(ch.TodayWh * 1000), OK: ch.OK})
	}
	for _, d := range s.Disks {
		st.Disks = append(st.Disks, d.State)
	}
}

// scheduleOf is the retained next sleep / next wake.
func scheduleOf(d scheduler.Decision, p *scheduler.Policy, now time.Time) homeassistant.Schedule {
	var s homeassistant.Schedule
	s.Window = d.Window
	if d.State != scheduler.Awake {
		s.NextWake = d.Next.At
		if !d.WakeAt.IsZero() {
			s.NextWake = d.WakeAt
		}
		return s
	}
	for _, t := range scheduler.Preview(p, now, 8) {
		if t.State != scheduler.Awake && s.NextSleep.IsZero() {
			s.NextSleep, s.Window = t.At, t.Window
		} else if t.State == scheduler.Awake && !s.NextSleep.IsZero() {
			s.NextWake = t.At
			break
		}
	}
	return s
}

// setReason records the outcome of a failed request or sequence for people.
func (a *Agent) setReason(r string) {
	a.mu.Lock()
	a.snap.Reason = r
	a.mu.Unlock()
}

// boardModel reads the device-tree model for Home Assistant's device page.
func (a *Agent) boardModel() string {
	if a.cfg.Simulation.Sensors {
		return "simulated Raspberry Pi"
	}
	return a.model
}
