package agent

import (
	"context"
	"errors"
	"time"

	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/pisys"
)

// systemLoop reads the Pi's own sensors (SoC temperature, throttling, Pi 5
// PMIC) on a slow cadence: they change slowly and vcgencmd costs a process.
// Each is optional; a machine without them simply does not report them.
func (a *Agent) systemLoop(ctx context.Context) error {
	c := a.cfg.System
	if !c.SocTemperature && !c.Throttling && !c.PMIC {
		return nil
	}
	b := pisys.Board{Root: a.cfg.Root, Vcgencmd: c.Vcgencmd}
	if a.cfg.Simulation.Sensors {
		b.Vcgencmd = "/nonexistent/vcgencmd" // the simulated board has no firmware
	}
	every := min(30*time.Second, a.cfg.HomeAssistant.StateInterval.D())
	said := map[string]bool{}
	note := func(what string, err error) bool {
		if err == nil {
			return true
		}
		if !said[what] {
			said[what] = true
			if errors.Is(err, pisys.ErrNotAvailable) {
				a.log.Info(what+" not available on this machine; not reported", "why", err)
			} else {
				a.log.Warn(what+" unreadable", "err", err)
			}
		}
		return false
	}
	for {
		var temp float64
		var hasTemp bool
		var thr uint32
		if c.SocTemperature {
			if t, err := b.SoCTemperature(); note("SoC temperature", err) {
				temp, hasTemp = t.Celsius(), true
			}
		}
		if c.Throttling {
			if t, err := b.Throttled(ctx); note("throttling flags", err) {
				thr = uint32(t)
			}
		}
		if c.PMIC {
			if p, err := b.PMIC(ctx); note("Pi 5 PMIC rails", err) {
				a.mu.Lock()
				a.snap.PMICWatts, a.snap.HasPMIC = p.PartialPower(), true
				a.mu.Unlock()
			}
		}
		a.mu.Lock()
		a.snap.SoCTemp, a.snap.HasSoCTemp, a.snap.Throttled = temp, hasTemp, thr
		a.mu.Unlock()
		if !clock.Sleep(a.clk, every, ctx.Done()) {
			return nil
		}
	}
}
