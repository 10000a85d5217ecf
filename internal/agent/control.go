package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/activity"
	"github.com/veille/veille/internal/power"
	"github.com/veille/veille/internal/telemetry"
	"github.com/veille/veille/scheduler"
)

// Action is something a person asked for, from Home Assistant or the button.
type Action struct {
	Name string // one of config.Actions or a Home Assistant command
	// StayAwake is the length of a stay_awake request (0 cancels).
	StayAwake time.Duration
	// On is the schedule switch's position.
	On bool
	// Source says who asked: "button", "homeassistant".
	Source string
}

// controlState is what the control loop keeps across restarts (rarely
// written: only when a person changes something).
type controlState struct {
	ScheduleEnabled *bool `json:"schedule_enabled,omitempty"`
	// ConfigEnabled is [schedule] enabled when the switch was last set: an
	// edit of the file since then wins over the switch.
	ConfigEnabled  bool             `json:"config_enabled"`
	StayAwakeUntil time.Time        `json:"stay_awake_until,omitzero"`
	Memory         scheduler.Memory `json:"scheduler"`
}

// control is the one goroutine that decides and acts: activity checks, the
// scheduler, power sequences and people's requests all meet here, so no two
// sequences ever run at once and every trigger goes through the same steps.
type control struct {
	a       *Agent
	ctl     *power.Controller
	checks  *activity.Set // run when the plan would sleep deeper
	rates   *activity.Set // run every step: they measure between two runs
	idle    *usbdisk.IdleMonitor
	idleMap map[string]int // kernel disk name → index in cfg.Disks

	state     scheduler.Depth // what is realised now
	mem       scheduler.Memory
	enabled   bool
	stayUntil time.Time
	awakeMono time.Duration // CLOCK_BOOTTIME of the last wake
	failUntil time.Time     // after a failed sequence, no retry before this
	manual    *manualHold   // a person's sleep_disks / sleep_now
	timers    []scheduler.Timer
	timersAt  time.Time
	last      scheduler.Decision
	diskState []telemetry.DiskState
}

// manualHold keeps a state a person asked for until the schedule's next
// transition, or until they ask otherwise.
type manualHold struct {
	depth scheduler.Depth
	until time.Time
}

func (a *Agent) controlFile() string { return filepath.Join(a.cfg.StateDir, "control.json") }

func (c *control) load() {
	b, err := os.ReadFile(c.a.controlFile())
	if err != nil {
		return
	}
	var st controlState
	if err := json.Unmarshal(b, &st); err != nil {
		c.a.log.Warn("control state unreadable; starting from the configuration", "file", c.a.controlFile(), "err", err)
		return
	}
	if st.ScheduleEnabled != nil && st.ConfigEnabled == c.a.policy.Enabled {
		c.enabled = *st.ScheduleEnabled
	}
	c.stayUntil = st.StayAwakeUntil
	c.mem = st.Memory
}

func (c *control) save() {
	en := c.enabled
	b, _ := json.Marshal(controlState{ScheduleEnabled: &en, ConfigEnabled: c.a.policy.Enabled, StayAwakeUntil: c.stayUntil, Memory: c.mem})
	if err := writeAtomic(c.a.controlFile(), b); err != nil {
		c.a.log.Warn("control state not saved (a restart would forget the last request)", "err", err)
	}
}

// run is the control loop.
func (c *control) run(ctx context.Context) error {
	a := c.a
	poll := time.Minute
	for {
		now := a.clk.Now()
		c.step(ctx, now)
		wait := poll
		for _, t := range []time.Time{c.last.Next.At, c.last.RetryAt, c.failUntil} {
			if !t.IsZero() && t.After(now) && t.Sub(now) < wait {
				wait = t.Sub(now)
			}
		}
		if c.idle != nil {
			wait = min(wait, c.idlePoll())
		}
		select {
		case <-ctx.Done():
			return nil
		case act := <-a.actions:
			c.do(ctx, act)
		case <-a.clk.After(wait):
		}
	}
}

func (c *control) policy() *scheduler.Policy {
	p := *c.a.policy
	p.Enabled = c.enabled
	return &p
}

// step observes, decides and acts once.
func (c *control) step(ctx context.Context, now time.Time) {
	a := c.a
	mono := a.hw.SinceBoot()
	obs := scheduler.Observations{
		Now: now, ClockSynced: a.hw.ClockSynced(), StayAwakeUntil: c.stayUntil, Monotonic: mono,
		AwakeSince: now.Add(-(mono - c.awakeMono)),
	}
	obs.Timers = c.watchedTimers(ctx, now)
	d, mem := scheduler.Decide(c.policy(), c.mem, obs)
	// Activity only matters when the plan would sleep deeper than now: the
	// checks (reading every socket and process) run only then, not all day.
	// The rate checks (network, disk I/O) compare with their previous
	// reading, so they run every step to keep it recent; they are cheap.
	var acts []activity.Activity
	if c.rates != nil {
		var err error
		if acts, err = c.rates.Run(ctx, now); err != nil && ctx.Err() == nil {
			a.log.Debug("activity checks", "err", err)
		}
	}
	if d.State > c.state {
		if c.checks != nil {
			more, err := c.checks.Run(ctx, now)
			if err != nil && ctx.Err() == nil {
				a.log.Debug("activity checks", "err", err)
			}
			acts = append(acts, more...)
		}
		if len(acts) > 0 {
			for _, x := range acts {
				obs.Active = append(obs.Active, scheduler.Activity{Check: x.Check, Detail: x.Detail})
			}
			d, mem = scheduler.Decide(c.policy(), c.mem, obs)
		}
	}
	c.mem = mem
	target := d.State
	if h := c.manual; h != nil {
		if !now.Before(h.until) || !c.stayUntil.IsZero() && now.Before(c.stayUntil) {
			c.manual = nil
		} else if h.depth > target {
			target = h.depth
			d.Reason = "asked by a person until the schedule's next change; " + d.Reason
		}
	}
	if decisionKey(d) != decisionKey(c.last) {
		a.observe(EventDecision, fmt.Sprintf("%s — %s", d.State, d.Reason))
		a.log.Info("decision", "state", d.State, "reason", d.Reason, "window", d.Window, "next", d.Next.At, "next_state", d.Next.State)
		c.publishSchedule(ctx, d)
	}
	c.last = d
	c.idleSpinDown(ctx, now)
	if target != c.state && !now.Before(c.failUntil) {
		c.reach(ctx, target, d)
	}
	c.publishState(d)
}

// errCannotAct: the power controller could not be built (its cause was
// logged at start: no systemd to stop units, a disk configuration it refused).
var errCannotAct = errors.New("veille cannot put anything to sleep on this machine (see the log at start)")

// reach runs the sequence from the realised state to target.
func (c *control) reach(ctx context.Context, target scheduler.Depth, d scheduler.Decision) {
	a := c.a
	var err error
	switch {
	case c.ctl == nil:
		err = errCannotAct
	case target == scheduler.SystemHalted:
		err = c.sleepSystem(ctx, d.WakeAt)
	case target == scheduler.DisksAsleep && c.state == scheduler.Awake:
		err = c.ctl.DisksAsleep(ctx)
		if err == nil {
			c.setState(scheduler.DisksAsleep)
		}
	case target == scheduler.Awake && c.state == scheduler.DisksAsleep:
		err = c.ctl.DisksAwake(ctx)
		if err == nil {
			c.setState(scheduler.Awake)
			c.awakeMono = a.hw.SinceBoot()
		}
	}
	if err != nil && ctx.Err() == nil {
		retry := a.policy.RetryEvery
		c.failUntil = a.clk.Now().Add(retry)
		a.log.Warn("sequence failed; the system stays as it was and serving", "target", target, "err", err, "retry_at", c.failUntil)
		a.observe(EventNotice, fmt.Sprintf("%s failed, retry at %s: %v", target, c.failUntil.Format("15:04"), err))
		a.setReason(fmt.Sprintf("%s failed: %v", target, err))
	} else if err == nil && target == c.state {
		a.setReason("") // the failure people were told about is over
	}
}

func (c *control) setState(s scheduler.Depth) {
	c.state = s
	for i := range c.diskState {
		switch {
		case s == scheduler.Awake:
			c.diskState[i] = telemetry.DiskActive
		case c.a.cfg.Disks[i].CutPower:
			c.diskState[i] = telemetry.DiskOff
		default:
			c.diskState[i] = telemetry.DiskStandby
		}
	}
	c.a.mu.Lock()
	c.a.snap.State = s
	c.a.mu.Unlock()
}

// sleepSystem halts the Pi until wakeAt: the telemetry taken so far is sent,
// the schedule and "offline" are published while the network is still up, then
// the power controller runs the whole sequence (disks, alarm, power-off).
func (c *control) sleepSystem(ctx context.Context, wakeAt time.Time) error {
	a := c.a
	a.flushTelemetry()
	err := c.ctl.Sleep(ctx, wakeAt)
	if err != nil {
		return err
	}
	c.setState(scheduler.SystemHalted)
	a.log.Info("powering off; the RTC wakes the system", "wake_at", wakeAt)
	return nil
}

// do carries out a person's request.
func (c *control) do(ctx context.Context, act Action) {
	a := c.a
	now := a.clk.Now()
	a.log.Info("request", "action", act.Name, "source", act.Source)
	a.observe(EventCommand, fmt.Sprintf("%s asked: %s", act.Source, act.Name))
	var err error
	switch act.Name {
	case "sleep_disks", "wake_disks", "sleep_now", "shutdown", "reboot":
		if c.ctl == nil {
			err = errCannotAct
			break
		}
		err = c.act(ctx, act, now)
	case "none", "":
	case "stay_awake":
		if act.StayAwake <= 0 {
			c.stayUntil = time.Time{}
		} else {
			c.stayUntil = now.Add(act.StayAwake)
		}
		c.manual = nil
		c.save()
	case "schedule":
		c.enabled = act.On
		c.save()
	case "refresh":
		// The reporter announces again when it sees the command, at most
		// once per interval however many arrive.
	default:
		err = fmt.Errorf("unknown action %q", act.Name)
	}
	if err != nil {
		a.log.Warn("request failed; the system stays as it was", "action", act.Name, "source", act.Source, "err", err)
		a.setReason(fmt.Sprintf("%s (%s) failed: %v", act.Name, act.Source, err))
	}
	c.step(ctx, a.clk.Now())
}

// act runs a person's power request; the controller exists.
func (c *control) act(ctx context.Context, act Action, now time.Time) error {
	a := c.a
	switch act.Name {
	case "wake_disks":
		c.manual = nil
		c.awakeMono = a.hw.SinceBoot() // a manual wake holds sleep off for MinAwake
		if c.state == scheduler.DisksAsleep {
			if err := c.ctl.DisksAwake(ctx); err != nil {
				return err
			}
			c.setState(scheduler.Awake)
		}
	case "sleep_disks":
		return c.sleepDisks(ctx, now)
	case "sleep_now":
		wake := c.nextWake(now)
		if wake.IsZero() || a.alarm == nil {
			// No wake planned, or no RTC: keep the Pi up, sleep the disks.
			return c.sleepDisks(ctx, now)
		}
		return c.sleepSystem(ctx, wake)
	case "shutdown":
		a.flushTelemetry()
		return c.ctl.Shutdown(ctx)
	case "reboot":
		return c.ctl.Reboot(ctx)
	}
	return nil
}

// sleepDisks puts the disks to sleep until the schedule's next change.
func (c *control) sleepDisks(ctx context.Context, now time.Time) error {
	c.manual = &manualHold{depth: scheduler.DisksAsleep, until: c.holdUntil(now)}
	if c.state != scheduler.Awake {
		return nil
	}
	if err := c.ctl.DisksAsleep(ctx); err != nil {
		return err
	}
	c.setState(scheduler.DisksAsleep)
	return nil
}

// holdUntil is the end of a manual sleep: the schedule's next transition,
// or the next wake it plans.
func (c *control) holdUntil(now time.Time) time.Time {
	if w := c.nextWake(now); !w.IsZero() {
		return w
	}
	return now.Add(24 * time.Hour)
}

// nextWake is the next time the schedule plans to be awake after a sleep.
func (c *control) nextWake(now time.Time) time.Time {
	if c.last.State != scheduler.Awake && !c.last.Next.At.IsZero() {
		return c.last.Next.At
	}
	for _, t := range scheduler.Preview(c.a.policy, now, 6) {
		if t.State == scheduler.Awake {
			return t.At
		}
	}
	return time.Time{}
}

// watchedTimers asks systemd when the configured timers fire next, at most
// every ten minutes.
func (c *control) watchedTimers(ctx context.Context, now time.Time) []scheduler.Timer {
	a := c.a
	if len(a.cfg.Schedule.Timers) == 0 || a.timers == nil {
		return nil
	}
	if !c.timersAt.IsZero() && now.Sub(c.timersAt) < 10*time.Minute && now.After(c.timersAt) {
		return c.timers
	}
	c.timersAt = now
	els, err := a.timers.NextTimerElapses(ctx, a.cfg.Schedule.Timers...)
	if err != nil {
		a.log.Warn("systemd timers unreadable; not waking for them", "err", err)
		return c.timers
	}
	c.timers = c.timers[:0]
	for _, e := range els {
		c.timers = append(c.timers, scheduler.Timer{Name: e.Timer, Next: e.Next})
	}
	return c.timers
}

func (c *control) idlePoll() time.Duration {
	return max(30*time.Second, c.minIdle()/10)
}

func (c *control) minIdle() time.Duration {
	m := time.Duration(0)
	for _, d := range c.a.cfg.Disks {
		if v := d.IdleSpinDown.D(); v > 0 && (m == 0 || v < m) {
			m = v
		}
	}
	return m
}

// idleSpinDown spins down mounted disks that saw no I/O for their
// idle_spindown, like hd-idle: no unmount, the disk spins up on next access.
func (c *control) idleSpinDown(ctx context.Context, now time.Time) {
	if c.idle == nil || c.state != scheduler.Awake {
		return
	}
	a := c.a
	stats, err := usbdisk.ReadDiskstats(a.cfg.Root)
	if err != nil {
		a.log.Debug("diskstats", "err", err)
		return
	}
	obs := c.idle.Observe(now, stats)
	for _, name := range obs.Woke {
		if i, ok := c.idleMap[name]; ok {
			c.diskState[i] = telemetry.DiskActive
		}
	}
	for _, r := range obs.SpinDown {
		i, ok := c.idleMap[r.Disk]
		if !ok {
			continue
		}
		if c.ctl == nil {
			continue
		}
		err := c.ctl.SpinDownIdle(ctx, a.cfg.Disks[i].Name)
		c.idle.Done(r.Disk, now, err)
		if err != nil {
			a.log.Warn("idle spin-down failed", "disk", a.cfg.Disks[i].Name, "err", err)
			continue
		}
		if a.opts.DryRun {
			continue
		}
		c.diskState[i] = telemetry.DiskStandby
		a.log.Info("disk idle, spun down", "disk", a.cfg.Disks[i].Name, "idle", r.IdleFor)
		a.observe(EventStep, fmt.Sprintf("disk %s idle for %s: spun down", a.cfg.Disks[i].Name, r.IdleFor.Round(time.Minute)))
	}
}

// publishState refreshes the snapshot's decision and disk states.
func (c *control) publishState(d scheduler.Decision) {
	a := c.a
	a.mu.Lock()
	a.snap.Decision = d
	a.snap.State = c.state
	a.snap.ScheduleEnabled = c.enabled
	a.snap.StayAwakeUntil = c.stayUntil
	a.decided = true
	a.snap.Disks = a.snap.Disks[:0]
	for i, disk := range a.cfg.Disks {
		a.snap.Disks = append(a.snap.Disks, DiskState{Name: disk.Name, State: c.diskState[i]})
	}
	a.mu.Unlock()
}

func (c *control) publishSchedule(ctx context.Context, d scheduler.Decision) {
	a := c.a
	if a.ha == nil {
		return
	}
	s := scheduleOf(d, a.policy, a.clk.Now())
	go func() {
		if err := a.ha.SetSchedule(ctx, s); err != nil && ctx.Err() == nil {
			a.log.Debug("publish schedule", "err", err)
		}
	}()
}

// writeAtomic writes a small state file: temp, fsync, rename, fsync dir.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// buildIdle makes the idle spin-down monitor for disks with idle_spindown.
func (a *Agent) buildIdle() (*usbdisk.IdleMonitor, map[string]int) {
	var disks []usbdisk.IdleDisk
	idx := map[string]int{}
	minCycle := time.Duration(0)
	f := usbdisk.Finder{Root: a.cfg.Root}
	for i, d := range a.cfg.Disks {
		if d.IdleSpinDown.D() == 0 {
			continue
		}
		var disk *usbdisk.Disk
		var err error
		if d.UUID != "" {
			disk, err = f.ByUUID(d.UUID)
		} else {
			disk, err = f.ByLabel(d.Label)
		}
		if err != nil {
			a.log.Warn("idle spin-down: disk not found now; it is not watched", "disk", d.Name, "err", err)
			continue
		}
		disks = append(disks, usbdisk.IdleDisk{Name: disk.Name, Partitions: disk.Partitions, IdleAfter: d.IdleSpinDown.D()})
		idx[disk.Name] = i
		minCycle = max(minCycle, d.MinCycle.D())
	}
	if len(disks) == 0 {
		return nil, nil
	}
	m, err := usbdisk.NewIdleMonitor(usbdisk.IdleOpts{Disks: disks, PollInterval: time.Minute, MinInterval: minCycle})
	if err != nil {
		a.log.Warn("idle spin-down disabled", "err", err)
		return nil, nil
	}
	return m, idx
}

// decisionKey is what makes a decision worth telling: not the retry time
// that moves every minute while activity postpones a window.
func decisionKey(d scheduler.Decision) string {
	k := fmt.Sprintf("%s|%s|%t|%s", d.State, d.Window, d.GaveUp, d.Next.State)
	for _, p := range d.Postponed {
		k += "|" + p.Check + ":" + p.Detail
	}
	if len(d.Postponed) == 0 {
		k += "|" + d.Next.At.String()
	}
	return k
}
