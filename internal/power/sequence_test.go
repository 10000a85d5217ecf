package power

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

func TestDisksAsleepAndAwake(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	ctx := context.Background()

	if err := w.pump(func() error { return c.DisksAsleep(ctx) }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"media find ok", "backup find ok",
		"media stop-unit ok", "media stop-unit ok", // smbd (configured), jellyfin (RequiresMountsFor)
		"media sync ok", "media unmount ok", "media spin-down ok", "media confirm ok",
		"backup stop-unit ok", "backup sync ok", "backup unmount ok", "backup spin-down ok", "backup confirm ok",
		"backup port-cut ok", "backup confirm ok",
	}
	if got := w.steps(); !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, u := range []string{"jellyfin.service", "smbd.service", "restic.timer"} {
		if s := w.unitState(u); s != "inactive" {
			t.Errorf("%s is %s after sleep", u, s)
		}
	}
	if w.unitState("ssh.service") != "active" {
		t.Error("ssh.service was stopped")
	}
	if w.mounted("/srv/media") || w.mounted("/srv/backup") {
		t.Error("still mounted")
	}
	if got := w.bridge.commands(); !reflect.DeepEqual(got, []string{"sda 1b 00 00 00 00 00", "sdb 1b 00 00 00 00 00"}) {
		t.Errorf("CDBs %v", got)
	}
	if v := w.tree.Read("/sys/bus/usb/devices/2-3:1.0/2-3-port2/disable"); v != "1" {
		t.Errorf("backup's port disable = %s", v)
	}
	if v := w.tree.Read("/sys/bus/usb/devices/2-3:1.0/2-3-port1/disable"); v != "0" {
		t.Errorf("media's port disable = %s (not configured to be cut)", v)
	}
	confirms := w.eventsWith(StepConfirm, OK)
	if len(confirms) != 3 || confirms[0].Saving != 3.4 || confirms[2].Saving != 0.6 {
		t.Errorf("confirmations %+v", confirms)
	}
	if !strings.Contains(confirms[0].Detail, "fell from 4.00 W to 0.60 W: 3.40 W saved") {
		t.Errorf("confirmation detail %q", confirms[0].Detail)
	}
	if !c.DisksAreAsleep() {
		t.Error("controller does not know the disks sleep")
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, disksRecordFile)); err != nil {
		t.Errorf("no disks record: %v", err)
	}

	// Asking again does nothing.
	w.resetEvents()
	if err := c.DisksAsleep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.steps(); !reflect.DeepEqual(got, []string{"- find skipped"}) {
		t.Errorf("second sleep: %v", got)
	}

	w.resetEvents()
	if err := w.pump(func() error { return c.DisksAwake(ctx) }); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"backup port-restore ok",
		"backup wait ok", "backup spin-up ok", "backup check ok", "backup mount ok", "backup start-unit ok",
		"media wait ok", "media spin-up ok", "media check ok", "media mount ok", "media start-unit ok", "media start-unit ok",
	}
	if got := w.steps(); !reflect.DeepEqual(got, want) {
		t.Errorf("wake steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	w.assertAwake()
	if got := w.mnt.mounts; !reflect.DeepEqual(got, []string{
		"/dev/sdb1 /srv/backup ext4 rw,relatime",
		"/dev/sda1 /srv/media ext4 rw,noatime",
	}) {
		t.Errorf("mounts %q", got)
	}
	// Units start in the reverse of their stop order.
	var started []string
	for _, j := range w.env.Systemd.Jobs() {
		if j.Type == "start" {
			started = append(started, j.Unit)
		}
	}
	if !reflect.DeepEqual(started, []string{"restic.timer", "jellyfin.service", "smbd.service"}) {
		t.Errorf("start order %v", started)
	}
	if c.DisksAreAsleep() {
		t.Error("controller thinks the disks still sleep")
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, disksRecordFile)); !os.IsNotExist(err) {
		t.Errorf("disks record left after wake: %v", err)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	w := newWorld(t)
	w.opts.DryRun = true
	c := w.controller()
	if err := c.DisksAsleep(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.assertAwake()
	if cmds := w.bridge.commands(); len(cmds) != 0 {
		t.Errorf("CDBs sent in a dry run: %v", cmds)
	}
	if jobs := w.env.Systemd.Jobs(); len(jobs) != 0 {
		t.Errorf("unit jobs in a dry run: %+v", jobs)
	}
	if c.DisksAreAsleep() {
		t.Error("a dry run put the disks to sleep")
	}
	var details []string
	for _, e := range w.eventsWith("", "") {
		details = append(details, e.Detail)
	}
	w.mu.Lock()
	for _, e := range w.events {
		if e.Step != StepFind && e.Outcome != DryRun {
			t.Errorf("%s: outcome %s in a dry run", e.Step, e.Outcome)
		}
		details = append(details, e.Detail)
	}
	w.mu.Unlock()
	all := strings.Join(details, "\n")
	for _, want := range []string{
		"would stop smbd.service",
		"would stop jellyfin.service",
		"would sync /srv/media (syncfs)",
		"would unmount /srv/backup",
		"would send START STOP UNIT (stop) [1b 00 00 00 00 00] (if rejected, ATA STANDBY IMMEDIATE (0xE0) [85 06 00 00 00 00 00 00 00 00 00 00 00 40 e0 00], then ATA STANDBY IMMEDIATE (0x94) [85 06 00 00 00 00 00 00 00 00 00 00 00 40 94 00]) to " + w.tree.Path("/dev/sda"),
		"would switch off USB port 2-3.2 (write 1 to " + w.tree.Path("/sys/bus/usb/devices/2-3:1.0/2-3-port2/disable") + ")",
		"find the filesystem with UUID " + mediaUUID + ": sda1 on disk sda (WD Elements 25A2), on USB port 2-3.1",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("dry run does not say %q; it said:\n%s", want, all)
		}
	}

	// The whole-system sleep too.
	w.resetEvents()
	if err := c.Sleep(context.Background(), t0.Add(7*time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.assertAwake()
	if acts := w.env.Login.Actions(); len(acts) != 0 {
		t.Errorf("logind asked to %v in a dry run", acts)
	}
	if got := w.tree.Read("/sys/class/rtc/rtc0/wakealarm"); got != "" {
		t.Errorf("alarm armed in a dry run: %q", got)
	}
	if len(w.notices) != 0 {
		t.Errorf("notices in a dry run: %v", w.notices)
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, sleepRecordFile)); !os.IsNotExist(err) {
		t.Error("sleep record written in a dry run")
	}
	if len(w.eventsWith(StepPowerOff, DryRun)) != 1 || len(w.eventsWith(StepAlarm, DryRun)) != 1 {
		t.Errorf("system steps: %v", w.steps())
	}
}

// failSleep runs DisksAsleep, expects it to fail at step for disk, and
// checks the system is awake again.
func failSleep(t *testing.T, w *world, disk string, step Step, wantMsg string) {
	t.Helper()
	c := w.controller()
	err := w.pump(func() error { return c.DisksAsleep(context.Background()) })
	var se *StepError
	if !errors.As(err, &se) || se.Disk != disk || se.Step != step {
		t.Fatalf("err = %v, want a %s failure of %s", err, step, disk)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("error %q does not say %q", err, wantMsg)
	}
	if !strings.Contains(err.Error(), "rolled back, the system is awake") {
		t.Errorf("error %q does not say it rolled back", err)
	}
	w.assertAwake()
	if c.DisksAreAsleep() {
		t.Error("controller thinks the disks sleep")
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, disksRecordFile)); !os.IsNotExist(err) {
		t.Error("disks record written by a failed sequence")
	}
}

func TestUnitRefusesToStop(t *testing.T) {
	w := newWorld(t)
	if err := w.env.Systemd.AddUnit(dbustest.Unit{Name: "restic.timer", StopResult: "timeout"}); err != nil {
		t.Fatal(err)
	}
	failSleep(t, w, "backup", StepStopUnit, "disks-asleep: disk backup: stop-unit: stop restic.timer")
	var je *systemd.JobError
	c := w.controller()
	err := w.pump(func() error { return c.DisksAsleep(context.Background()) })
	if !errors.As(err, &je) {
		t.Errorf("the cause is not systemd's job error: %v", err)
	}
	// media was asleep and came back: its filesystem was mounted again.
	if len(w.eventsWith(StepMount, Undone)) == 0 || len(w.eventsWith(StepSpinUp, Undone)) == 0 {
		t.Errorf("rollback steps: %v", w.steps())
	}
}

func TestBusyFilesystem(t *testing.T) {
	w := newWorld(t)
	w.tree.OpenFile(4321, "rsync", 7, "/srv/backup/2026-01-15.tar")
	failSleep(t, w, "backup", StepUnmount, "unmount /srv/backup: busy: open by rsync (pid 4321): /srv/backup/2026-01-15.tar")
	if len(w.bridge.commands()) != 2 { // media down, media up
		t.Errorf("CDBs %v", w.bridge.commands())
	}
}

func TestUnmountError(t *testing.T) {
	w := newWorld(t)
	w.mnt.failUnmount["/srv/backup"] = syscall.EIO
	failSleep(t, w, "backup", StepUnmount, "unmount /srv/backup: umount /srv/backup: input/output error")
}

func TestDiskDoesNotAnswer(t *testing.T) {
	w := newWorld(t)
	w.bridge.fail["sdb"] = errors.New("host adapter: timed out (DID_TIME_OUT)")
	failSleep(t, w, "backup", StepSpinDown, "spin down "+w.tree.Path("/dev/sdb")+": START STOP UNIT (stop): host adapter: timed out")
	// Not retried with ATA commands: a disk that does not answer is not hammered.
	for _, c := range w.bridge.commands() {
		if strings.HasPrefix(c, "sdb 85") {
			t.Errorf("ATA fallback sent to a disk that did not answer: %v", c)
		}
	}
}

func TestDiskDoesNotComeBack(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	ctx := context.Background()
	if err := w.pump(func() error { return c.DisksAsleep(ctx) }); err != nil {
		t.Fatal(err)
	}
	// The kernel saw the port go off; the disk never re-enumerates.
	w.tree.Unplug("2-3.2", "sdb")
	w.resetEvents()
	err := w.pump(func() error { return c.DisksAwake(ctx) })
	var se *StepError
	if !errors.As(err, &se) || se.Disk != "backup" || se.Step != StepWait || !strings.Contains(err.Error(), "did not come back within 1m0s") {
		t.Fatalf("err = %v", err)
	}
	// The other disk is served again; the missing one's unit stays
	// stopped instead of running on an empty mount point.
	if !w.mounted("/srv/media") || w.unitState("jellyfin.service") != "active" || w.unitState("smbd.service") != "active" {
		t.Errorf("media not back: %v", w.steps())
	}
	if w.unitState("restic.timer") != "inactive" {
		t.Error("restic.timer started without its disk")
	}
	if len(w.eventsWith(StepStartUnit, Skipped)) != 1 {
		t.Errorf("steps %v", w.steps())
	}
	if v := w.tree.Read("/sys/bus/usb/devices/2-3:1.0/2-3-port2/disable"); v != "0" {
		t.Errorf("port left off: %s", v)
	}
	// The record keeps the missing disk so a later request can retry.
	if !c.DisksAreAsleep() {
		t.Error("the missing disk is forgotten")
	}
	c2 := w.controller() // after an agent restart, same boot
	if !c2.DisksAreAsleep() {
		t.Error("the record of the missing disk was not kept")
	}
}

func TestPortCutRefusedBeforeTouchingAnything(t *testing.T) {
	w := newWorld(t)
	// A third disk on the same hub, mounted and not in the sequence, with
	// the hub switching all its ports together.
	w.tree.Disk("2-3.3", "sdc", 32, usbdisktestPart("sdc1", "photos"))
	w.tree.Mount("sdc1", "/srv/photos", "ext4")
	w.opts.GangedHubs = []string{"2-3"}
	c := w.controller()
	err := w.pump(func() error { return c.DisksAsleep(context.Background()) })
	want := "port 2-3.2 also powers sdc (sdc1 mounted at /srv/photos): hub 2-3 switches all its ports together (configured as ganged)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if jobs := w.env.Systemd.Jobs(); len(jobs) != 0 {
		t.Errorf("units touched before the refusal: %+v", jobs)
	}
	w.assertAwake()
}

func TestNoMeasuredDropWarns(t *testing.T) {
	w := newWorld(t)
	w.meter.stuck = true
	w.opts.Disks[1].CutPower = false
	c := w.controller()
	if err := w.pump(func() error { return c.DisksAsleep(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	warns := w.eventsWith(StepConfirm, Warning)
	if len(warns) != 2 || !strings.Contains(warns[0].Detail, "did not drop: 4.00 W then 4.00 W (expected at least 2.00 W less)") {
		t.Errorf("warnings %+v", warns)
	}
}

func TestBusyController(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	ctx := context.Background()
	if err := w.pump(func() error { return c.DisksAsleep(ctx) }); err != nil {
		t.Fatal(err)
	}
	w.tree.Unplug("2-3.2", "sdb")
	// The wake now waits for sdb on the fake clock, which nobody advances.
	done := make(chan error, 1)
	go func() { done <- c.DisksAwake(ctx) }()
	for w.clk.Waiters() == 0 {
		runtimeGosched()
	}
	if c.Running() != "disks-awake" {
		t.Errorf("running %q", c.Running())
	}
	for _, f := range []func() error{
		func() error { return c.DisksAsleep(ctx) },
		func() error { return c.Sleep(ctx, t0.Add(time.Hour)) },
		func() error { return c.Reboot(ctx) },
	} {
		if err := f(); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "(disks-awake since 23:00:") {
			t.Errorf("second request: %v", err)
		}
	}
	if !c.Abort() {
		t.Fatal("Abort found nothing running")
	}
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("aborted wake: %v", err)
	}
	if c.Running() != "" || c.Abort() {
		t.Error("still running after abort")
	}
}

func TestRecordOfEarlierBootIsForgotten(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	if err := w.pump(func() error { return c.DisksAsleep(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	w.tree.Write("/proc/sys/kernel/random/boot_id", "boot-2\n")
	if w.controller().DisksAreAsleep() {
		t.Error("a record of an earlier boot was believed")
	}
	if _, err := os.Stat(filepath.Join(w.opts.StateDir, disksRecordFile)); !os.IsNotExist(err) {
		t.Error("stale record not removed")
	}
}

func TestWakeUnrecordedMountsConfiguredDisk(t *testing.T) {
	w := newWorld(t)
	w.tree.Unmount("/srv/backup")
	w.opts.Disks[1].MountPoint, w.opts.Disks[1].FSType, w.opts.Disks[1].MountOptions = "/srv/backup", "ext4", "rw,noatime"
	w.opts.Disks[0].MountPoint = "" // mounted: left alone
	c := w.controller()
	if err := w.pump(func() error { return c.DisksAwake(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	if got := w.mnt.mounts; !reflect.DeepEqual(got, []string{"/dev/sdb1 /srv/backup ext4 rw,noatime"}) {
		t.Errorf("mounts %q", got)
	}
	w.opts.Disks[1].MountPoint = ""
	w.tree.Unmount("/srv/backup")
	err := w.controller().DisksAwake(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk backup: mount: not mounted, and neither a sleep record nor the configuration says where it belongs") {
		t.Errorf("err = %v", err)
	}
}

func TestSpinDownWaitsForQuiet(t *testing.T) {
	w := newWorld(t)
	w.opts.Disks[1].CutPower = false
	// media's last writes stop after 3 s; backup keeps being written.
	writes := 0
	w.onAdvance = func() {
		writes++
		media := min(writes, 3)
		w.tree.Diskstats(
			"8 0 sda 10 0 80 0 0 0 0 0 0 0 0",
			fmt.Sprintf("8 1 sda1 10 0 80 0 %d 0 %d 0 0 0 0", media, 8*media),
			fmt.Sprintf("8 17 sdb1 5 0 40 0 %d 0 %d 0 0 0 0", writes, 8*writes),
		)
	}
	w.onAdvance()
	c := w.controller()
	if err := w.pump(func() error { return c.DisksAsleep(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	ok := w.eventsWith(StepSpinDown, OK)
	if len(ok) != 1 || ok[0].Disk != "media" || !strings.Contains(ok[0].Detail, ": no I/O for 1s; stopped with START STOP UNIT (stop)") {
		t.Errorf("media spin-down: %+v", ok)
	}
	warn := w.eventsWith(StepSpinDown, Warning)
	if len(warn) != 1 || warn[0].Disk != "backup" || !strings.Contains(warn[0].Detail, "I/O still going on after 15s") {
		t.Errorf("backup spin-down: %+v", warn)
	}
	if w.bridge.isSpinning("sdb") {
		t.Error("backup not spun down (a busy raw device is no reason to stay up)")
	}
}

func TestSpinDownIdle(t *testing.T) {
	w := newWorld(t)
	c := w.controller()
	ctx := context.Background()
	if err := w.pump(func() error { return c.SpinDownIdle(ctx, "media") }); err != nil {
		t.Fatal(err)
	}
	if w.bridge.isSpinning("sda") || !w.mounted("/srv/media") || w.unitState("jellyfin.service") != "active" {
		t.Error("idle spin-down must only stop the spindle")
	}
	if got := w.steps(); !reflect.DeepEqual(got, []string{"media find ok", "media spin-down ok", "media confirm ok"}) {
		t.Errorf("steps %v", got)
	}
	if err := c.SpinDownIdle(ctx, "nope"); err == nil {
		t.Error("unknown disk accepted")
	}
	w.bridge.fail["sdb"] = errors.New("host adapter: timed out (DID_TIME_OUT)")
	var se *StepError
	if err := c.SpinDownIdle(ctx, "backup"); !errors.As(err, &se) || se.Step != StepSpinDown {
		t.Errorf("err = %v", err)
	}
}
