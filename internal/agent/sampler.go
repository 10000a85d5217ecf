package agent

import (
	"context"
	"time"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/telemetry"
	"github.com/veille/veille/scheduler"
	"periph.io/x/conn/v3/physic"
)

// sampler holds the buffers of the sampling hot path, reused every sample
// so that steady state allocates nothing.
type sampler struct {
	// readings and ok are the latest read of every channel.
	readings []ina.Reading
	ok       []bool
	// sum and n add up a channel's good readings since the last sample:
	// several when the sensors are read every step of an interval (see
	// readStep); mean and meanOK are what the sample reports.
	sum    []ina.Reading
	n      []int
	mean   []ina.Reading
	meanOK []bool
	tele   []telemetry.Reading
	slot   time.Time // the interval of the last sample
	lastT  time.Time
	// persistErr and persistLogged keep a failing checkpoint (retried at
	// every read) to one warning per cause and hour.
	persistErr    string
	persistLogged time.Time
}

func newSampler(channels int) *sampler {
	return &sampler{readings: make([]ina.Reading, channels), ok: make([]bool, channels),
		sum: make([]ina.Reading, channels), n: make([]int, channels),
		mean: make([]ina.Reading, channels), meanOK: make([]bool, channels),
		tele: make([]telemetry.Reading, channels)}
}

// sampleLoop reads every sensor on the grid of a.step until ctx ends and
// reports a sample on the interval grid. It is the main loop: it pets the
// systemd watchdog, so a hung loop gets veille restarted.
func (a *Agent) sampleLoop(ctx context.Context) error {
	interval := a.cfg.Sampling.Interval.D()
	s := newSampler(len(a.channels))
	for {
		now := a.clk.Now()
		a.sampleOnce(ctx, s, now)
		if a.watchdog != nil {
			a.watchdog.Alive()
		}
		if !clock.Sleep(a.clk, nextRead(now, interval, a.step).Sub(a.clk.Now()), ctx.Done()) {
			a.flushTelemetry()
			return nil
		}
	}
}

// nextRead is the read after now on the grid of step inside each interval;
// the last step of an interval ends on the interval's boundary even when
// step does not divide it exactly.
func nextRead(now time.Time, interval, step time.Duration) time.Time {
	slot := now.Truncate(interval)
	end := slot.Add(interval)
	if step >= interval {
		return end
	}
	next := slot.Add((now.Sub(slot)/step + 1) * step)
	if end.Sub(next) < step/2 {
		return end
	}
	return next
}

// sampleOnce reads every sensor into the ledger and, on the first read of an
// interval (every read when the sensors are read once per interval), reports
// the mean of the readings since the previous sample.
func (a *Agent) sampleOnce(ctx context.Context, s *sampler, now time.Time) {
	a.readOnce(s, now)
	interval := a.cfg.Sampling.Interval.D()
	slot := now.Truncate(interval)
	if a.step < interval && slot.Equal(s.slot) {
		return // within the interval of the last sample
	}
	s.slot = slot
	for i := range s.mean {
		n := int64(s.n[i])
		s.meanOK[i] = n > 0
		if n > 0 {
			m := &s.mean[i]
			sum := &s.sum[i]
			m.Bus, m.Current, m.Power = sum.Bus/physic.ElectricPotential(n), sum.Current/physic.ElectricCurrent(n), sum.Power/physic.Power(n)
			m.Overflow = sum.Overflow
		}
		s.sum[i], s.n[i] = ina.Reading{}, 0
	}
	a.report(s, now)
}

// readOnce reads every sensor and adds the readings to the energy ledger,
// the savings estimate and the sample's sums; it checkpoints the counters
// when due.
func (a *Agent) readOnce(s *sampler, now time.Time) {
	for i := range s.ok {
		s.ok[i] = false
	}
	for _, sn := range a.sensors {
		good := sn.read(now, s.readings, a.log)
		for j := sn.first; j < sn.first+sn.n; j++ {
			s.ok[j] = good
		}
	}
	led := a.keeper.Ledger
	var total float64
	for i := range a.channels {
		r := &s.readings[i]
		led.Add(i, now, energy.Reading{Power: r.Power, Accumulated: r.Energy, HasAccumulator: r.HasEnergy}, s.ok[i])
		if !s.ok[i] {
			continue
		}
		if r.Power > 0 {
			total += float64(r.Power) / float64(physic.Watt)
		}
		sum := &s.sum[i]
		sum.Bus += r.Bus
		sum.Current += r.Current
		sum.Power += r.Power
		sum.Overflow = sum.Overflow || r.Overflow
		s.n[i]++
	}
	if !s.lastT.IsZero() && now.After(s.lastT) {
		a.keeper.Savings.Observe(total, min(now.Sub(s.lastT), led.MaxGap), a.currentState() != scheduler.Awake)
	}
	s.lastT = now
	if err := a.keeper.Maybe(now); err != nil {
		if err.Error() != s.persistErr || now.Sub(s.persistLogged) >= time.Hour || now.Before(s.persistLogged) {
			a.log.Warn("energy counters cannot be saved; measuring and reporting go on, published counters wait for the next successful save", "err", err)
			s.persistErr, s.persistLogged = err.Error(), now
		}
	} else if s.persistErr != "" && a.keeper.Err() == nil {
		a.log.Info("energy counters saved again", "after", now.Sub(s.persistLogged).Round(time.Second))
		s.persistErr = ""
	}
}

// report publishes a sample of s.mean: the telemetry batcher (and a frame
// when one is full), the snapshot and Home Assistant.
func (a *Agent) report(s *sampler, now time.Time) {
	for i := range a.channels {
		r := &s.mean[i]
		s.tele[i] = telemetry.Reading{Voltage: r.Bus, Current: r.Current, Power: r.Power,
			EnergyMilliWh: a.keeper.Published(i) / 3600000, OK: s.meanOK[i], Overflow: r.Overflow}
	}
	a.teleMu.Lock()
	a.batcher.SetStatus(a.status())
	f, err := a.batcher.Add(now, s.tele)
	if err != nil {
		a.log.Error("telemetry", "err", err)
	}
	if f != nil {
		a.sendFrameLocked(f)
	}
	a.teleMu.Unlock()
	a.updateSnapshot(now, s)
}

// flushTelemetry sends the samples of an unfinished frame (before a halt,
// at stop). The sampler and the control loop both call it.
func (a *Agent) flushTelemetry() {
	a.teleMu.Lock()
	defer a.teleMu.Unlock()
	if f := a.batcher.Flush(); f != nil {
		a.sendFrameLocked(f)
	}
}

// sendFrameLocked encodes and publishes a frame; teleMu is held.
func (a *Agent) sendFrameLocked(f *telemetry.Frame) {
	b, err := a.enc.Encode(f)
	if err != nil {
		a.log.Error("encode frame", "err", err)
		return
	}
	if a.session != nil {
		a.session.PublishTelemetry(b) // copies b
	}
}

// status is the node status carried at the end of each frame. Its disk list
// is the agent's buffer: the batcher copies it.
func (a *Agent) status() telemetry.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := telemetry.Status{Throttled: a.snap.Throttled, Scheduler: schedulerState(a.snap.ScheduleEnabled, a.snap.State, a.snap.Decision)}
	a.statusDisks = a.statusDisks[:0]
	for _, d := range a.snap.Disks {
		a.statusDisks = append(a.statusDisks, d.State)
	}
	st.Disks = a.statusDisks
	if a.snap.HasSoCTemp {
		st.SoCTemp, st.HasSoCTemp = int32(a.snap.SoCTemp*10), true
	}
	return st
}

func schedulerState(enabled bool, d scheduler.Depth, dec scheduler.Decision) telemetry.SchedulerState {
	switch {
	case !enabled:
		return telemetry.SchedulerDisabled
	case d == scheduler.DisksAsleep:
		return telemetry.SchedulerDisksAsleep
	case d == scheduler.SystemHalted:
		return telemetry.SchedulerHalting
	case dec.Window != "":
		return telemetry.SchedulerHeld // in a window but awake: activity, stay-awake, just woke
	}
	return telemetry.SchedulerAwake
}

func (a *Agent) currentState() scheduler.Depth {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.State
}

func (a *Agent) updateSnapshot(now time.Time, s *sampler) {
	a.mu.Lock()
	snap := &a.snap
	snap.Time = now
	if len(snap.Channels) != len(a.channels) {
		snap.Channels = make([]ChannelState, len(a.channels))
	}
	led := a.keeper.Ledger
	for i := range a.channels {
		r := &s.mean[i]
		snap.Channels[i] = ChannelState{Name: a.channels[i].Name, OK: s.meanOK[i],
			Volts: float64(r.Bus) / float64(physic.Volt), Amps: float64(r.Current) / float64(physic.Ampere),
			Watts:    float64(r.Power) / float64(physic.Watt),
			EnergyWh: energy.Wh(a.keeper.Published(i)), TodayWh: energy.Wh(a.keeper.PublishedToday(i))}
	}
	snap.TotalWh = energy.Wh(led.Total())
	snap.SavedWh = energy.Wh(a.keeper.Savings.Saved)
	snap.CO2eG = energy.CO2e(led.Total(), a.cfg.Energy.GridIntensity)
	snap.SavedCO2eG = energy.CO2e(a.keeper.Savings.Saved, a.cfg.Energy.GridIntensity)
	snap.PersistErr = ""
	if err := a.keeper.Err(); err != nil {
		snap.PersistErr = err.Error()
	}
	var cp *Snapshot
	if a.opts.Observe != nil {
		c := *snap
		c.Channels = append([]ChannelState(nil), snap.Channels...)
		c.Disks = append([]DiskState(nil), snap.Disks...)
		cp = &c
	}
	ha := a.ha != nil && a.decided
	if ha {
		a.fillHAState(snap)
	}
	a.mu.Unlock()
	if cp != nil {
		a.opts.Observe(Event{Time: now, Kind: EventSample, Snapshot: cp})
	}
	if ha {
		a.ha.Update(a.haState) // copies its slices
	}
}

// Snapshot returns a copy of the latest state.
func (a *Agent) Snapshot() Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.snap
	c.Channels = append([]ChannelState(nil), a.snap.Channels...)
	c.Disks = append([]DiskState(nil), a.snap.Disks...)
	return c
}
