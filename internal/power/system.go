package power

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Sleep puts the whole system to sleep until wakeAt: disks asleep (unless
// they already are), arm the wake alarm (read back), tell the agent (which
// publishes "offline" and the wake time), write the sleep record, and ask
// logind to power off. If logind refuses (a block inhibitor) or any step
// fails, everything is undone: alarm cleared, disks woken, agent told the
// system is back, and the error says why.
func (c *Controller) Sleep(ctx context.Context, wakeAt time.Time) error {
	if wakeAt.IsZero() {
		return errors.New("sleep: no wake time (use Shutdown to power off for good)")
	}
	return c.systemDown(ctx, "sleep", wakeAt)
}

// Shutdown powers the system off with no wake alarm, after putting the
// disks to sleep; it comes back only by the button or a power cycle. An
// armed alarm is cleared (and re-armed if the shutdown is refused).
func (c *Controller) Shutdown(ctx context.Context) error {
	return c.systemDown(ctx, "shutdown", time.Time{})
}

// Reboot asks logind to reboot. The disks are left to systemd, which stops
// the services and unmounts them cleanly; spinning them down first would
// only make them spin up again a minute later.
func (c *Controller) Reboot(ctx context.Context) error {
	return c.systemDown(ctx, "reboot", time.Time{})
}

func (c *Controller) systemDown(ctx context.Context, kind string, wakeAt time.Time) error {
	r, end, err := c.begin(ctx, kind)
	if err != nil {
		return err
	}
	defer end()
	if c.o.Halter == nil {
		return &StepError{Sequence: kind, Step: StepPowerOff, Err: errors.New("no power control (logind) configured")}
	}
	if kind == "sleep" {
		if c.o.Alarm == nil {
			err := errors.New("this system has no wake alarm (RTC) to wake it; use Shutdown, or fit an RTC")
			r.note("", StepAlarm, Failed, err.Error())
			return &StepError{Sequence: kind, Step: StepAlarm, Err: err}
		}
		if err := c.checkWakeTime(wakeAt); err != nil {
			r.note("", StepAlarm, Failed, err.Error())
			return &StepError{Sequence: kind, Step: StepAlarm, Err: err}
		}
	}
	if err := c.goDown(r, kind, wakeAt); err != nil {
		return r.rollback(err)
	}
	return nil
}

func (c *Controller) goDown(r *run, kind string, wakeAt time.Time) error {
	if kind != "reboot" && c.asleep == nil && len(c.o.Disks) > 0 {
		if _, err := c.disksAsleep(r); err != nil {
			return err
		}
	}
	if c.o.Alarm != nil && kind != "reboot" {
		if err := c.setAlarm(r, kind, wakeAt); err != nil {
			return err
		}
	}

	notice := Notice{Online: false, Kind: kind, NextWake: wakeAt}
	if c.o.Notify != nil {
		what := "tell the agent: going offline for " + kind
		if !wakeAt.IsZero() {
			what += ", back at " + wakeAt.Format(time.RFC3339)
		}
		_ = r.do("", StepNotify, what, func() (result, error) {
			c.o.Notify(notice)
			return result{}, nil
		})
		r.pushUndo("", StepNotify, "tell the agent: back online", func(context.Context) error {
			c.o.Notify(Notice{Online: true, Kind: kind})
			return nil
		})
	}

	recPath := filepath.Join(c.o.StateDir, sleepRecordFile)
	rec := SleepRecord{Kind: kind, At: c.o.Clock.Now(), WakeAt: wakeAt, BootID: bootID(c.o.Root)}
	err := r.do("", StepRecord, "write "+recPath+" (temp file, fsync, rename, fsync dir)", func() (result, error) {
		b, err := json.Marshal(rec)
		if err != nil {
			return result{}, err
		}
		return result{}, writeAtomic(recPath, b)
	})
	if err != nil {
		return err
	}
	r.pushUndo("", StepRecord, "remove "+recPath, func(context.Context) error { return removeDurable(recPath) })

	step, what, call := StepPowerOff, "ask logind to power off", c.o.Halter.PowerOff
	if kind == "reboot" {
		step, what, call = StepReboot, "ask logind to reboot", c.o.Halter.Reboot
	}
	return r.do("", step, what, func() (result, error) {
		return result{}, call(r.ctx)
	})
}

// setAlarm arms the wake alarm for a sleep, or clears it for a shutdown,
// and knows how to put back what was there.
func (c *Controller) setAlarm(r *run, kind string, wakeAt time.Time) error {
	prev, armed, err := c.o.Alarm.Read()
	if err != nil && !c.o.DryRun {
		r.note("", StepAlarm, Failed, err.Error())
		return &StepError{Sequence: r.seq, Step: StepAlarm, Err: err}
	}
	restore := func(context.Context) error {
		if armed && prev.After(c.o.Clock.Now()) {
			return c.o.Alarm.Set(prev)
		}
		return c.o.Alarm.Clear()
	}
	undoWhat := "clear the wake alarm"
	if armed {
		undoWhat = "re-arm the wake alarm for " + prev.Format(time.RFC3339)
	}
	// Undone even if the step fails half-way: Set and Clear write 0
	// first, which already removed the earlier alarm.
	r.pushUndo("", StepAlarm, undoWhat, restore)
	if kind == "shutdown" {
		return r.do("", StepAlarm, "clear the wake alarm (write 0)", func() (result, error) {
			return result{}, c.o.Alarm.Clear()
		})
	}
	return r.do("", StepAlarm, fmt.Sprintf("arm the wake alarm for %s (write 0, then %d; read back)", wakeAt.Format(time.RFC3339), wakeAt.Unix()), func() (result, error) {
		// Checked again: the disks took their time.
		if err := c.checkWakeTime(wakeAt); err != nil {
			return result{}, err
		}
		if err := c.o.Alarm.Set(wakeAt); err != nil {
			return result{}, err
		}
		got, ok, err := c.o.Alarm.Read()
		if err != nil {
			return result{}, err
		}
		if !ok || got.Unix() != wakeAt.Unix() {
			return result{}, fmt.Errorf("the alarm reads back %v (armed: %v)", got, ok)
		}
		return result{detail: "reads back " + got.Format(time.RFC3339)}, nil
	})
}

// MinSleep is the shortest sleep Sleep accepts: an alarm that fires before
// the board has finished halting is lost (it is one shot), and the board
// would stay off until someone presses the button.
const MinSleep = 2 * time.Minute

func (c *Controller) checkWakeTime(wakeAt time.Time) error {
	now := c.o.Clock.Now()
	if wakeAt.Sub(now) < MinSleep {
		return fmt.Errorf("wake time %s is less than %s after now (%s): the alarm could fire before the halt completes",
			wakeAt.Format(time.RFC3339), MinSleep, now.Format(time.RFC3339))
	}
	return nil
}
