package sim

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"
)

// BoardState is what the Raspberry Pi is doing.
type BoardState int

// Board states.
const (
	BoardRunning BoardState = iota
	BoardShuttingDown
	BoardHalted
	BoardBooting
)

func (s BoardState) String() string {
	switch s {
	case BoardRunning:
		return "running"
	case BoardShuttingDown:
		return "shutting down"
	case BoardHalted:
		return "halted"
	case BoardBooting:
		return "booting"
	}
	return fmt.Sprintf("BoardState(%d)", int(s))
}

// Thermal model of the SoC: °C above ambient per watt, and its time constant.
const (
	socKPerWatt = 8.0
	socTau      = 60.0
)

type board struct {
	o         BoardOpts
	state     BoardState
	since     time.Time
	bootStart time.Time // uptime counts from here
	burst     bool
	burstEv   *event
	stateEv   *event
	extra     float64 // W of scripted load
	extraRun  float64 // runnable tasks of scripted load
	boots     int

	temp                 lag
	load1, load5, load15 lag
}

// lag is a first-order low-pass filter of a piecewise-constant input, exact
// at any time: the SoC temperature and the load averages follow the board.
type lag struct {
	tau    float64 // s
	v      float64
	target float64
	at     time.Time
}

func (l *lag) value(t time.Time) float64 {
	dt := t.Sub(l.at).Seconds()
	if dt <= 0 {
		return l.v
	}
	return l.target + (l.v-l.target)*math.Exp(-dt/l.tau)
}

func (l *lag) set(t time.Time, target float64) {
	if t.After(l.at) {
		l.v = l.value(t)
		l.at = t
	}
	l.target = target
}

func (l *lag) reset(t time.Time, v float64) { l.v, l.target, l.at = v, v, t }

func watts(p physic.Power) float64 { return float64(p) / float64(physic.Watt) }

// power is the board's draw in W.
func (b *board) power() float64 {
	switch b.state {
	case BoardRunning:
		p := watts(b.o.Idle) + b.extra
		if b.burst {
			p += watts(b.o.Bursts.Power)
		}
		return p
	case BoardHalted:
		return watts(b.o.Halted)
	}
	return watts(b.o.Booting)
}

// runnable is the number of runnable tasks the load average follows.
func (b *board) runnable() float64 {
	switch b.state {
	case BoardRunning:
		r := 0.02 + b.extraRun
		if b.burst {
			r += 4
		}
		return r
	case BoardHalted:
		return 0
	}
	return 1.5
}

// BoardState returns what the board is doing.
func (w *World) BoardState() BoardState {
	w.lock()
	defer w.unlock()
	return w.board.state
}

// SetBoardLoad adds a steady load on the running board (a transcode, a
// backup): extra watts and runnable tasks on top of idle and bursts.
func (w *World) SetBoardLoad(extra physic.Power, runnable float64) {
	at := w.lock()
	defer w.unlock()
	w.board.extra, w.board.extraRun = watts(extra), runnable
	w.changed(at)
}

// nextBurst is the start of the first CPU burst at or after t.
func (w *World) nextBurst(t time.Time) (time.Time, bool) {
	bo := w.board.o.Bursts
	if bo.Every <= 0 || bo.Duration <= 0 || bo.Power <= 0 {
		return time.Time{}, false
	}
	span := bo.Every - bo.Duration
	k := t.Sub(w.origin) / bo.Every
	if k < 0 {
		k = 0
	}
	for {
		var off time.Duration
		if span > 0 {
			off = time.Duration(splitmix(w.seed^uint64(k)*0x2545f4914f6cdd1d) % uint64(span))
		}
		start := w.origin.Add(k*bo.Every + off)
		if !start.Before(t) {
			return start, true
		}
		k++
	}
}

func (w *World) scheduleBurst(at time.Time) {
	b := w.board
	b.burstEv.cancel()
	start, ok := w.nextBurst(at)
	if !ok {
		return
	}
	b.burstEv = w.schedule(start, func(t time.Time) {
		b.burst = true
		w.changed(t)
		b.burstEv = w.schedule(t.Add(b.o.Bursts.Duration), func(t time.Time) {
			b.burst = false
			w.changed(t)
			w.scheduleBurst(t)
		})
	})
}

func (w *World) stopBursts(at time.Time) {
	b := w.board
	b.burstEv.cancel()
	b.burstEv = nil
	if b.burst {
		b.burst = false
		w.changed(at)
	}
}

// PowerOff halts the board, as logind's PowerOff would: block inhibitors
// refuse it; otherwise the system shuts down (units stop, connections close,
// filesystems are unmounted) for ShutdownTime and the board halts. While it
// is halted the board draws BoardOpts.Halted, the sensors powered by it are
// off and, unless HaltKeepsUSB, so are its onboard USB ports. The wake alarm
// (see WakeAt) or a press of a waking button boots it again.
func (w *World) PowerOff(ctx context.Context) error {
	return w.powerAction(ctx, "power off", false)
}

// Reboot shuts the board down and boots it again.
func (w *World) Reboot(ctx context.Context) error {
	return w.powerAction(ctx, "reboot", true)
}

func (w *World) powerAction(ctx context.Context, what string, reboot bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: %s: %w", what, err)
	}
	at := w.lock()
	defer w.unlock()
	if w.board.state != BoardRunning {
		return fmt.Errorf("sim: %s: the board is %s", what, w.board.state)
	}
	if len(w.inhib) > 0 {
		var who []string
		for _, in := range w.inhib {
			who = append(who, fmt.Sprintf("%s (%s)", in.Who, in.Why))
		}
		return fmt.Errorf("sim: %s refused: blocked by inhibitor locks: %s", what, strings.Join(who, ", "))
	}
	w.shutdown(at, reboot)
	return w.render(false)
}

func (w *World) shutdown(at time.Time, reboot bool) {
	b := w.board
	w.log.Info("sim: board shutting down", "reboot", reboot, "at", at)
	b.state, b.since = BoardShuttingDown, at
	w.stopBursts(at)
	for _, u := range w.units {
		if u.active {
			w.deactivate(at, u)
		}
	}
	for _, c := range w.conns {
		c.closeLocked(at)
	}
	w.conns = nil
	for _, f := range w.files {
		f.closed = true
	}
	w.files = nil
	for i := len(w.mounts) - 1; i >= 0; i-- {
		if m := w.mounts[i]; m.part != nil {
			w.unmountLocked(at, m)
		}
	}
	w.changed(at)
	b.stateEv.cancel()
	b.stateEv = w.schedule(at.Add(b.o.ShutdownTime), func(t time.Time) {
		if reboot {
			w.boot(t)
			return
		}
		w.halt(t)
	})
	w.dirty = true
}

func (w *World) halt(at time.Time) {
	b := w.board
	w.accountNet(at)
	b.state, b.since = BoardHalted, at
	w.log.Info("sim: board halted", "at", at)
	w.updatePower(at)
	w.changed(at)
	w.dirty = true
	for _, f := range w.onHalt {
		f := f
		w.hooks = append(w.hooks, func() { f(at) })
	}
	_ = w.render(false)
}

func (w *World) boot(at time.Time) {
	b := w.board
	b.state, b.since, b.bootStart = BoardBooting, at, at
	b.boots++
	w.log.Info("sim: board booting", "at", at)
	for _, s := range w.sensors {
		if !s.o.ExternalSupply {
			if pc, ok := s.dev.(PowerCycler); ok {
				pc.PowerOn(at)
			}
		}
		if s.o.Kernel {
			s.probe(at) // the driver binds again at boot
		}
	}
	// The kernel enumerates every hub with its ports powered: a port veille
	// switched off before the halt is on again.
	for _, h := range w.hubs {
		for _, p := range h.ports {
			p.disabled = false
		}
	}
	w.net = netCounters{at: at}
	for _, d := range w.disks {
		// A new kernel enumerates every device again (a reboot included).
		d.present, d.link = false, false
		d.enumEv.cancel()
		d.enumEv = nil
		d.resetStats(at)
	}
	b.load1.reset(at, 0)
	b.load5.reset(at, 0)
	b.load15.reset(at, 0)
	w.updatePower(at)
	w.changed(at)
	b.stateEv.cancel()
	b.stateEv = w.schedule(at.Add(b.o.BootTime), w.bootDone)
	w.dirty = true
	_ = w.render(false)
}

func (w *World) bootDone(at time.Time) {
	b := w.board
	b.state, b.since = BoardRunning, at
	w.log.Info("sim: board up", "at", at)
	w.scheduleBurst(at)
	w.mountFstab(at)
	for _, u := range w.units {
		if u.o.Active && !u.active {
			if err := w.activate(at, u); err != nil {
				w.log.Warn("sim: unit failed at boot", "unit", u.o.Name, "err", err)
			}
		}
	}
	w.changed(at)
	w.dirty = true
	for _, f := range w.onBoot {
		f := f
		w.hooks = append(w.hooks, func() { f(at) })
	}
	_ = w.render(false)
}

// changed recomputes what follows the load: every rail's voltage and
// current, the SoC temperature and the load averages.
func (w *World) changed(at time.Time) {
	for _, r := range w.rails {
		w.updateRail(at, r)
	}
	b := w.board
	b.temp.set(at, b.o.AmbientC+socKPerWatt*b.power())
	run := b.runnable()
	b.load1.set(at, run)
	b.load5.set(at, run)
	b.load15.set(at, run)
}

// Inhibitor is a block inhibitor lock on shutdown (logind's Inhibit with
// mode "block"): PowerOff refuses while one is held.
type Inhibitor struct {
	w        *World
	Who, Why string
}

// Inhibit takes a block inhibitor lock.
func (w *World) Inhibit(who, why string) *Inhibitor {
	w.lock()
	defer w.unlock()
	in := &Inhibitor{w: w, Who: who, Why: why}
	w.inhib = append(w.inhib, in)
	return in
}

// Release drops the lock.
func (in *Inhibitor) Release() {
	w := in.w
	w.lock()
	defer w.unlock()
	for i, x := range w.inhib {
		if x == in {
			w.inhib = append(w.inhib[:i], w.inhib[i+1:]...)
			return
		}
	}
}
