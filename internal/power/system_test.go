package power

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

func TestSleepPowersOff(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	wake := t0.Add(7*time.Hour + 30*time.Minute)
	if err := w.pump(func() error { return c.Sleep(context.Background(), wake) }); err != nil {
		t.Fatal(err)
	}
	if acts := w.env.Login.Actions(); len(acts) != 1 || !strings.HasPrefix(acts[0].Method, "PowerOff") {
		t.Errorf("logind actions %+v", acts)
	}
	if got := w.tree.Read("/sys/class/rtc/rtc0/wakealarm"); got != strconv.FormatInt(wake.Unix(), 10) {
		t.Errorf("wakealarm %q, want %d", got, wake.Unix())
	}
	if !reflect.DeepEqual(w.notices, []Notice{{Online: false, Kind: "sleep", NextWake: wake}}) {
		t.Errorf("notices %+v", w.notices)
	}
	b, err := os.ReadFile(filepath.Join(w.opts.StateDir, sleepRecordFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec SleepRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Kind != "sleep" || !rec.WakeAt.Equal(wake) || rec.BootID != "boot-1" || rec.At.Before(t0) {
		t.Errorf("record %+v", rec)
	}
	// Disks went down before the alarm, the notice and the power-off.
	steps := w.steps()
	tail := steps[len(steps)-4:]
	if !reflect.DeepEqual(tail, []string{"- alarm ok", "- notify ok", "- record ok", "- power-off ok"}) {
		t.Errorf("last steps %v", tail)
	}
	if w.mounted("/srv/media") || w.unitState("jellyfin.service") != "inactive" {
		t.Error("disks not asleep before the power-off")
	}

	// The next boot: woken by the alarm.
	w.tree.Write("/proc/sys/kernel/random/boot_id", "boot-2\n")
	rep, err := TakeWakeReport(w.tree.Root, w.opts.StateDir, wake.Add(25*time.Second))
	if err != nil || rep == nil || rep.Reason != "rtc alarm" {
		t.Fatalf("wake report %+v, %v", rep, err)
	}
	if !strings.HasPrefix(rep.String(), "woke after sleep of 7h30m") {
		t.Errorf("report %q", rep)
	}
}

// failSystem runs f, expects it to fail at step, and checks that the
// system stays up: disks awake, alarm cleared, no sleep record, the agent
// told it is back online.
func failSystem(t *testing.T, w *world, f func(*Controller) error, step Step, wantMsg string) error {
	t.Helper()
	c := w.controller()
	err := w.pump(func() error { return f(c) })
	var se *StepError
	if !errors.As(err, &se) || se.Step != step {
		t.Fatalf("err = %v, want a %s failure", err, step)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("error %q does not say %q", err, wantMsg)
	}
	w.assertAwake()
	if got := w.tree.Read("/sys/class/rtc/rtc0/wakealarm"); got != "" {
		t.Errorf("wake alarm left armed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, sleepRecordFile)); !os.IsNotExist(err) {
		t.Error("sleep record left behind")
	}
	if n := len(w.notices); n > 0 && !w.notices[n-1].Online {
		t.Errorf("the agent was told the system is going, and not that it stayed: %+v", w.notices)
	}
	return err
}

func TestSleepRTCBusy(t *testing.T) {
	w := newWorld(t)
	w.rtc.forceBusy = true
	defer func() {
		// The clear-then-set left no alarm; the rollback cleared again.
		if got := w.rtc.writes; len(got) < 3 || got[len(got)-1] != "0" {
			t.Errorf("wakealarm writes %q", got)
		}
	}()
	err := failSystem(t, w, func(c *Controller) error { return c.Sleep(context.Background(), t0.Add(8*time.Hour)) },
		StepAlarm, "sleep: alarm: arm the wake alarm for 2026-01-16T07:00:00Z")
	if !errors.Is(err, syscall.EBUSY) {
		t.Errorf("EBUSY lost: %v", err)
	}
	if len(w.notices) != 0 {
		t.Errorf("notified before the alarm was armed: %+v", w.notices)
	}
	if acts := w.env.Login.Actions(); len(acts) != 0 {
		t.Errorf("powered off anyway: %+v", acts)
	}
}

func TestSleepRefusedByInhibitor(t *testing.T) {
	w := newWorld(t)
	release := w.env.Login.HoldInhibitor(dbustest.Inhibitor{What: "shutdown:sleep", Who: "borg", Why: "backup running", Mode: "block", UID: 1000, PID: 4242})
	defer release()
	err := failSystem(t, w, func(c *Controller) error { return c.Sleep(context.Background(), t0.Add(8*time.Hour)) },
		StepPowerOff, "borg")
	var inh *systemd.InhibitedError
	if !errors.As(err, &inh) {
		t.Errorf("not logind's refusal: %v", err)
	}
	if !reflect.DeepEqual(w.notices, []Notice{
		{Online: false, Kind: "sleep", NextWake: t0.Add(8 * time.Hour)},
		{Online: true, Kind: "sleep"},
	}) {
		t.Errorf("notices %+v", w.notices)
	}
	for _, s := range []Step{StepRecord, StepNotify, StepAlarm, StepStartUnit, StepMount} {
		if len(w.eventsWith(s, Undone)) == 0 {
			t.Errorf("no %s undone: %v", s, w.steps())
		}
	}
}

func TestShutdownClearsAlarmAndRestoresIt(t *testing.T) {
	w := newWorld(t)
	armed := t0.Add(10 * time.Hour)
	if err := w.alarm.Set(armed); err != nil {
		t.Fatal(err)
	}
	release := w.env.Login.HoldInhibitor(dbustest.Inhibitor{What: "shutdown", Who: "apt", Why: "upgrading", Mode: "block", UID: 0, PID: 99})
	c := w.controller()
	err := w.pump(func() error { return c.Shutdown(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "apt") {
		t.Fatalf("err = %v", err)
	}
	// Refused: the alarm that was armed is armed again.
	if got := w.tree.Read("/sys/class/rtc/rtc0/wakealarm"); got != strconv.FormatInt(armed.Unix(), 10) {
		t.Errorf("wakealarm %q after a refused shutdown, want the earlier alarm", got)
	}
	release()
	w.resetEvents()
	if err := w.pump(func() error { return c.Shutdown(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	if got := w.tree.Read("/sys/class/rtc/rtc0/wakealarm"); got != "" {
		t.Errorf("wakealarm %q after shutdown", got)
	}
	if acts := w.env.Login.Actions(); len(acts) != 1 {
		t.Errorf("actions %+v", acts)
	}
}

func TestReboot(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	if err := c.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acts := w.env.Login.Actions(); len(acts) != 1 || !strings.HasPrefix(acts[0].Method, "Reboot") {
		t.Errorf("actions %+v", acts)
	}
	// systemd unmounts on the way down: the disks are left alone.
	if len(w.bridge.commands()) != 0 || len(w.env.Systemd.Jobs()) != 0 {
		t.Errorf("reboot touched the disks: %v %v", w.bridge.commands(), w.env.Systemd.Jobs())
	}
	w.tree.Write("/proc/sys/kernel/random/boot_id", "boot-2\n")
	if rep, err := TakeWakeReport(w.tree.Root, w.opts.StateDir, t0.Add(time.Minute)); err != nil || rep.Reason != "reboot" {
		t.Errorf("report %+v, %v", rep, err)
	}
}

func TestSleepWithoutAlarm(t *testing.T) {
	w := newWorld(t)
	w.opts.Alarm = nil
	c := w.controller()
	err := c.Sleep(context.Background(), t0.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "no wake alarm") {
		t.Errorf("err = %v", err)
	}
	w.opts.Alarm = w.alarm
	c = w.controller()
	for _, at := range []time.Time{t0.Add(-time.Hour), t0.Add(time.Minute)} {
		if err := c.Sleep(context.Background(), at); err == nil || !strings.Contains(err.Error(), "less than 2m0s after now") {
			t.Errorf("wake at %s: %v", at, err)
		}
	}
	if len(w.env.Systemd.Jobs()) != 0 {
		t.Error("disks touched before the alarm check")
	}
}

func TestNewChecksOptions(t *testing.T) {
	base := Options{StateDir: t.TempDir()}
	if _, err := New(base); err != nil {
		t.Errorf("no disks: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.StateDir = "" }, "no state directory"},
		{func(o *Options) { o.Disks = []Disk{{Name: "a", UUID: "u"}} }, "without a SCSI transport, mounter and unit control"},
		{func(o *Options) { o.Disks = []Disk{{Name: "a", UUID: "u", Label: "l"}} }, `disk "a": give exactly one of UUID and label`},
		{func(o *Options) { o.Disks = []Disk{{UUID: "u"}} }, "disk 1 has no name"},
		{func(o *Options) { o.Disks = []Disk{{Name: "a", UUID: "u"}, {Name: "a", UUID: "v"}} }, `disk "a" listed twice`},
		{func(o *Options) { o.Disks = []Disk{{Name: "a", UUID: "u", SpinDown: "jmicron"}} }, `disk "a": spin-down mode "jmicron"`},
		{func(o *Options) { o.Disks = []Disk{{Name: "a", UUID: "u", MountPoint: "/srv/a"}} }, `disk "a": a mount point needs a filesystem type`},
	} {
		o := base
		tc.mod(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestSleepWakeTimeTooCloseAfterDisks(t *testing.T) {
	w := newWorld(t)
	// Valid when asked; the disks' measured confirmations take 15 s of it.
	err := failSystem(t, w, func(c *Controller) error { return c.Sleep(context.Background(), t0.Add(MinSleep+5*time.Second)) },
		StepAlarm, "less than 2m0s after now")
	if acts := w.env.Login.Actions(); len(acts) != 0 {
		t.Errorf("powered off: %+v (%v)", acts, err)
	}
}
