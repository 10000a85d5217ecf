package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/veille/veille/drivers/button"
	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/activity"
	"github.com/veille/veille/internal/homeassistant"
	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/internal/platform"
	"github.com/veille/veille/internal/power"
	"github.com/veille/veille/scheduler"
	"github.com/veille/veille/systemd"
)

// standbyWatts is what a halted board is assumed to draw while nothing
// measures it (a Pi 5 with POWER_OFF_ON_HALT=1 draws about 15 mW, a Pi 4
// more), for the savings estimate of a night switched off.
const standbyWatts = 0.1

// dialSystem connects to systemd and logind on the system bus unless the
// hardware back-ends were given. Without a bus veille still measures and
// reports; it only cannot act.
func (a *Agent) dialSystem(ctx context.Context) {
	if a.hw.Units != nil && a.hw.Halter != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if a.hw.Units == nil {
		m, err := systemd.DialManager(dctx, systemd.Options{})
		if err != nil {
			a.log.Warn("systemd unreachable: disks cannot be put to sleep (units cannot be stopped)", "err", err)
		} else {
			a.hw.Units, a.timers = m, m
		}
	}
	if a.hw.Halter == nil {
		l, err := systemd.DialLogind(dctx, systemd.Options{})
		if err != nil {
			a.log.Warn("logind unreachable: the system cannot be powered off by veille", "err", err)
		} else {
			a.hw.Halter, a.logind = l, l
		}
	}
}

// buildPower makes the power controller from the [[disk]] and [power]
// sections; nil with a logged reason when it cannot act.
func (a *Agent) buildPower() *power.Controller {
	c := a.cfg
	var disks []power.Disk
	var check []string
	for _, d := range c.Disks {
		pd := power.Disk{Name: d.Name, UUID: d.UUID, Label: d.Label, Units: d.Units, NoAutoUnits: !d.AutoUnits,
			CutPower: d.CutPower, PowerChannel: d.Channel}
		if d.SpinDown == "none" {
			pd.SkipSpinDown = true
		} else {
			pd.SpinDown = usbdisk.Mode(d.SpinDown)
		}
		if d.FSType != "" {
			pd.MountPoint, pd.FSType, pd.MountOptions = d.Mount, d.FSType, d.Options
		}
		if d.Check {
			check = []string{"fsck", "-a"}
		}
		disks = append(disks, pd)
	}
	opts := power.Options{
		Root: c.Root, StateDir: c.StateDir, Disks: disks,
		Transport: a.hw.Transport, Mounter: a.hw.Mounter, Units: a.hw.Units, Halter: a.hw.Halter,
		Meter: a, Check: check, Clock: a.clk, Log: a.log, DryRun: a.opts.DryRun,
		OnEvent: func(e power.Event) {
			a.log.Info("step", "sequence", e.Sequence, "disk", e.Disk, "step", e.Step, "outcome", e.Outcome, "detail", e.Detail, "took", e.Duration)
			a.observe(EventStep, e.String())
		},
		Notify: a.powerNotice,
	}
	if len(c.Disks) > 0 {
		for _, d := range c.Disks {
			if d.AppearTimeout.D() > opts.WaitTimeout {
				opts.WaitTimeout = d.AppearTimeout.D()
			}
		}
	}
	if opts.Mounter == nil {
		opts.Mounter = a.defaultMounter(disks)
	}
	if a.alarm != nil {
		opts.Alarm = a.alarm
	}
	ctl, err := power.New(opts)
	if err != nil {
		a.log.Error("cannot put anything to sleep", "err", err)
		return nil
	}
	return ctl
}

// powerNotice publishes availability and the next wake before the network
// goes down, and "online" again if the power-off was refused.
func (a *Agent) powerNotice(n power.Notice) {
	if a.session == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.Online {
		if err := a.session.Publish(ctx, a.session.Topics().Status(), 1, true, []byte(mqtt.Online)); err != nil {
			a.log.Warn("could not publish online after a refused power-off", "err", err)
		}
		return
	}
	if a.ha != nil {
		a.ha.SetSchedule(ctx, homeassistant.Schedule{NextWake: n.NextWake, Window: a.currentWindow()})
	}
	if err := a.session.Offline(ctx); err != nil {
		a.log.Warn("could not publish offline before power-off", "err", err)
	}
}

func (a *Agent) currentWindow() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.Decision.Window
}

// Power is the measured confirmation's meter: the watts of a channel in the
// first reading whose averaging window began after the call, so a spin-down
// is not diluted by the time before it.
func (a *Agent) Power(ctx context.Context, channel string) (float64, error) {
	idx := -1
	var period time.Duration
	for i, ch := range a.channels {
		if ch.Name == channel {
			idx = i
		}
	}
	if idx < 0 {
		return 0, fmt.Errorf("no channel %q", channel)
	}
	for _, s := range a.sensors {
		if idx >= s.first && idx < s.first+s.n {
			period = s.period
		}
	}
	after := a.clk.Now().Add(max(period, a.cfg.Sampling.Interval.D()))
	for {
		a.mu.Lock()
		t, ch := a.snap.Time, a.snap.Channels
		var c ChannelState
		if idx < len(ch) {
			c = ch[idx]
		}
		a.mu.Unlock()
		if !t.Before(after) {
			if !c.OK {
				return 0, fmt.Errorf("channel %q unavailable", channel)
			}
			return c.Watts, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-a.clk.After(a.cfg.Sampling.Interval.D() / 4):
		}
	}
}

// buildChecks makes the activity checks of [checks]: the ones that measure a
// rate between two runs, and the others.
func (a *Agent) buildChecks() (checks, rates *activity.Set) {
	c := a.cfg
	k := c.Checks
	set := &activity.Set{Log: a.log}
	rates = &activity.Set{Log: a.log}
	if len(k.Ports) > 0 {
		conn := &activity.Connections{Root: c.Root, Containers: k.Containers}
		for _, p := range k.Ports {
			conn.Ports = append(conn.Ports, activity.Port{Number: uint16(p), Service: activity.WellKnownPorts[uint16(p)]})
		}
		set.Checks = append(set.Checks, conn)
	}
	if k.NetworkRate > 0 {
		rates.Checks = append(rates.Checks, &activity.Throughput{Root: c.Root, Exclude: []string{"docker*", "veth*", "br-*", "podman*", "virbr*"}, Threshold: float64(k.NetworkRate)})
	}
	if k.DiskIORate > 0 {
		rates.Checks = append(rates.Checks, &activity.DiskIO{Root: c.Root, Threshold: float64(k.DiskIORate)})
	}
	if k.LoadAverage > 0 {
		set.Checks = append(set.Checks, &activity.Load{Root: c.Root, Minutes: 5, Threshold: k.LoadAverage})
	}
	if len(k.Processes) > 0 {
		set.Checks = append(set.Checks, &activity.Processes{Root: c.Root, Names: k.Processes})
	}
	if a.logind != nil {
		lg := logindAdapter{a.logind}
		if k.Sessions {
			set.Checks = append(set.Checks, &activity.Sessions{Logind: lg})
		}
		if k.Inhibitors {
			set.Checks = append(set.Checks, &activity.Inhibitors{Logind: lg})
		}
	}
	if k.SmartSelfTest && len(c.Disks) > 0 {
		st := &activity.SelfTest{Smartctl: k.Smartctl}
		f := usbdisk.Finder{Root: c.Root}
		for _, d := range c.Disks {
			var disk *usbdisk.Disk
			var err error
			if d.UUID != "" {
				disk, err = f.ByUUID(d.UUID)
			} else {
				disk, err = f.ByLabel(d.Label)
			}
			if err == nil {
				st.Devices = append(st.Devices, disk.Dev)
			}
		}
		if len(st.Devices) > 0 {
			set.Checks = append(set.Checks, st)
		}
	}
	if len(k.Command) > 0 {
		set.Checks = append(set.Checks, &activity.Command{Argv: k.Command, Timeout: k.CommandTimeout.D()})
	}
	return set, rates
}

// logindAdapter gives the activity checks the logind client's lists.
type logindAdapter struct{ l *systemd.Logind }

func (l logindAdapter) ListSessions(ctx context.Context) ([]activity.Session, error) {
	ss, err := l.l.ListSessions(ctx)
	out := make([]activity.Session, len(ss))
	for i, s := range ss {
		out[i] = activity.Session{ID: s.ID, User: s.User, TTY: s.TTY, Remote: s.Remote, RemoteHost: s.RemoteHost,
			Service: s.Service, Class: s.Class, State: s.State, Idle: s.Idle}
	}
	return out, err
}

func (l logindAdapter) ListInhibitors(ctx context.Context) ([]activity.Inhibitor, error) {
	is, err := l.l.ListInhibitors(ctx)
	out := make([]activity.Inhibitor, len(is))
	for i, x := range is {
		out[i] = activity.Inhibitor{What: x.What, Who: x.Who, Why: x.Why, Mode: x.Mode, UID: x.UID, PID: x.PID}
	}
	return out, err
}

// checkPlatform reads the board, warns about what would stop it waking, and
// refuses `system` windows on a machine that cannot wake itself: they are
// kept as `disks` windows, so nothing is halted that would not come back.
func (a *Agent) checkPlatform(ctx context.Context) {
	c := a.cfg
	rep, err := platform.Detect(ctx, platform.Options{Root: c.Root, SkipBootloader: !c.Power.EEPROMCheck || c.Simulation.Sensors})
	if err != nil {
		a.log.Warn("platform detection", "err", err)
		return
	}
	a.model = rep.Model
	for _, f := range rep.Findings {
		a.log.Warn(f.String())
	}
	buses := []int{}
	for _, s := range c.Sensors {
		buses = append(buses, s.Bus)
	}
	if c.Button.Enabled {
		for _, f := range platform.CheckButton(platform.ButtonFacts{Board: rep.Board, ButtonGPIO: c.Button.Line, SensorBuses: buses, I2C1Enabled: rep.I2C1}) {
			a.log.Warn(f.String())
		}
	}
	w := &rtc.WakeAlarm{Root: c.Root, Name: c.Power.RTC, WriteFile: a.hw.WriteFile}
	if ok, _ := w.Capable(); ok {
		a.alarm = w
	}
	hasSystem := false
	for _, win := range a.policy.Windows {
		hasSystem = hasSystem || win.Depth == scheduler.SystemHalted
	}
	if ok, why := rep.CanWake(); hasSystem && (!ok || a.alarm == nil) {
		if a.alarm == nil && ok {
			why = fmt.Sprintf("%s has no wakealarm (power.rtc = %q)", w.Path(), c.Power.RTC)
		}
		a.log.Error("`system` sleep windows refused: this machine cannot wake itself from a halt, so they only put the disks to sleep. "+why, "board", rep.Board)
		p := *a.policy
		p.Windows = append([]scheduler.Window(nil), p.Windows...)
		for i := range p.Windows {
			if p.Windows[i].Depth == scheduler.SystemHalted {
				p.Windows[i].Depth = scheduler.DisksAsleep
			}
		}
		a.policy = &p
	}
}

// wakeReport logs why and when the system came back after a halt, and
// counts the night it was off in the savings.
func (a *Agent) wakeReport() {
	rep, err := power.TakeWakeReport(a.cfg.Root, a.cfg.StateDir, a.clk.Now())
	if err != nil {
		a.log.Warn("sleep record unreadable", "err", err)
		return
	}
	if rep == nil {
		return
	}
	a.log.Info("back after "+rep.Record.Kind, "reason", rep.Reason, "slept", rep.Slept.Round(time.Second))
	a.observe(EventNotice, "woke: "+rep.String())
	if rep.Record.Kind == "sleep" && rep.Slept > 0 {
		a.keeper.Savings.Halted(rep.Slept, standbyWatts)
	}
}

// buttonLoop turns presses into the configured actions, and tells Home
// Assistant's event entity.
func (a *Agent) buttonLoop(ctx context.Context) error {
	c := a.cfg.Button
	if !c.Enabled {
		return nil
	}
	pin, err := a.hw.Button()
	if err != nil {
		a.log.Warn("button unavailable; veille goes on without it", "err", err)
		return nil
	}
	dev, err := button.New(pin, &button.Opts{Debounce: c.Debounce.D(), LongPress: c.LongPress.D(), DoubleGap: c.DoublePress.D(),
		ActiveHigh: !c.ActiveLow, Now: a.clk.Now})
	if err != nil {
		a.log.Warn("button unavailable; veille goes on without it", "err", err)
		return nil
	}
	events := make(chan button.Press, 8)
	go func() {
		if err := dev.Run(ctx, events); err != nil && ctx.Err() == nil {
			a.log.Warn("button stopped", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-events:
			var act string
			var kind string
			switch p.Kind {
			case button.Short:
				act, kind = c.Short, homeassistant.PressShort
			case button.Long:
				act, kind = c.Long, homeassistant.PressLong
			case button.Double:
				act, kind = c.Double, homeassistant.PressDouble
			}
			a.log.Info("button", "press", kind, "action", act)
			a.observe(EventButton, fmt.Sprintf("button %s press → %s", kind, act))
			if a.ha != nil {
				go a.ha.PublishEvent(ctx, kind)
			}
			a.request(Action{Name: act, Source: "button", StayAwake: time.Duration(c.StayAwakeHours * float64(time.Hour))})
		}
	}
}
