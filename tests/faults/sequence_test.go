package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// The sequence tests make a power sequence fail half-way: a file held open
// on the disk (the unmount is refused), a unit that refuses to stop, a disk
// whose spindle does not start when it is woken. Each time the sequence
// aborts and undoes what it did, the server stays awake and serving (units
// running, filesystem mounted: read from the simulated world's own files),
// the failing step is named in the log and in the Home Assistant state's
// reason, veille retries, and it succeeds once the cause is gone.

const seqSpeed = 300.0

var seqFrom = time.Date(2026, 6, 1, 21, 20, 0, 0, peers.Paris)

// seqDemo runs the demo from 21:20 with a disks window 21:30–wake.
func seqDemo(t *testing.T, wake string, lines ...string) (*demo, *peers.Recorder) {
	t.Helper()
	b := startBroker(t, false)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-seq"}, "veille/demo/state")
	conf := peers.Config{Enabled: true, Windows: peers.Window("evening", "21:30", wake, "disks"), StateInterval: "5s"}.Write(t)
	d := startDemo(t, "--config", conf, "--scenario", scenario(t, lines...), "--from", seqFrom.Format("2006-01-02 15:04"),
		"--speed", fmt.Sprint(seqSpeed), "--broker", b.URL(), "--for", "0")
	return d, sub
}

// failedStep is the first failed step of a sequence run.
func failedStep(d *demo, sequence string) record {
	for _, r := range d.steps(sequence) {
		if r.str("outcome") == "failed" {
			return r
		}
	}
	return nil
}

// servingNow reads the world: the disk is mounted and its unit runs, and
// the rest of the server (ssh, the other disk) too.
func servingNow(d *demo) error {
	var missing []string
	if !d.mounted("/srv/media") {
		missing = append(missing, "/srv/media not mounted")
	}
	if !d.mounted("/srv/cloud") {
		missing = append(missing, "/srv/cloud not mounted")
	}
	for _, p := range []string{"jellyfin", "sshd"} {
		if !d.running(p) {
			missing = append(missing, p+" not running")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not serving: %s", strings.Join(missing, ", "))
	}
	return nil
}

// reasons are the distinct Home Assistant reasons, in order. Each must
// fit Home Assistant's 255 characters for a state.
func reasons(t *testing.T, sub *peers.Recorder) []string {
	t.Helper()
	var out []string
	for _, s := range haStates(t, sub, "veille/demo/state") {
		if n := len([]rune(s.Reason)); n > 255 {
			t.Errorf("Home Assistant reason of %d characters (its states hold 255): %q", n, s.Reason)
		}
		if len(out) == 0 || out[len(out)-1] != s.Reason {
			out = append(out, s.Reason)
		}
	}
	return out
}

func anyContains(xs []string, sub ...string) bool {
	for _, x := range xs {
		all := true
		for _, s := range sub {
			all = all && strings.Contains(x, s)
		}
		if all {
			return true
		}
	}
	return false
}

// TestBusyDisk: a player holds a file open on /srv/media when the window
// starts; the unmount is refused (EBUSY), jellyfin is started again, the
// disk stays mounted; veille retries every 5 minutes and the disks sleep
// once the file is closed.
func TestBusyDisk(t *testing.T) {
	t.Parallel()
	d, sub := seqDemo(t, "22:30",
		`{"at":"+0s","do":"open","id":"film","path":"/srv/media/film.mkv","process":"vlc"}`,
		`{"at":"+35m","do":"close","id":"film"}`, // 21:55
		`{"at":"+75m","do":"stop"}`)
	f := d.waitLog(30*time.Second, "a failed disks-asleep sequence", func(r record) bool {
		return r.msg() == "sequence failed; the system stays as it was and serving"
	})
	serving := servingNow(d) // within the 5 minutes before the retry
	d.wait(time.Duration(float64(75*time.Minute)/seqSpeed) + 60*time.Second)

	var errs []error
	step := failedStep(d, "disks-asleep")
	if step == nil || step.str("step") != "unmount" {
		errs = append(errs, fmt.Errorf("the failed step is %v, want unmount", step))
	} else if !strings.Contains(step.str("detail"), "vlc") {
		errs = append(errs, fmt.Errorf("the unmount failure does not name the process holding the disk: %s", step.str("detail")))
	}
	if !strings.Contains(f.str("err"), "unmount") {
		errs = append(errs, fmt.Errorf("the failure says %q, not which step failed", f.str("err")))
	}
	if serving != nil {
		errs = append(errs, fmt.Errorf("after the failed sequence: %w", serving))
	}
	undone := 0
	for _, r := range d.steps("disks-asleep") {
		if r.str("outcome") == "undone" && r.str("step") == "start-unit" {
			undone++
		}
	}
	if undone == 0 {
		errs = append(errs, fmt.Errorf("jellyfin was stopped and never started again (no start-unit undo step)"))
	}
	fails := len(d.records("sequence failed; the system stays as it was and serving"))
	rs := reasons(t, sub)
	if !anyContains(rs, "unmount") {
		errs = append(errs, fmt.Errorf("no Home Assistant reason names the unmount: %q", rs))
	}
	asleepAt := time.Time{}
	for _, s := range d.steps("disks-asleep") {
		if s.str("step") == "spin-down" && s.str("outcome") == "ok" {
			asleepAt = s.sim()
		}
	}
	closeAt := d.applied(2)
	// The next retry (every 5 minutes; some more on a loaded host).
	if asleepAt.IsZero() || asleepAt.Before(closeAt) || asleepAt.After(closeAt.Add(12*time.Minute)) {
		errs = append(errs, fmt.Errorf("the disk spun down at %s; want at the first retry after the file closed at %s", asleepAt.Format("15:04:05"), closeAt.Format("15:04")))
	}
	if v := d.violations(); len(v) > 0 {
		errs = append(errs, fmt.Errorf("violations: %s", strings.Join(v, "; ")))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: a file held open by vlc on /srv/media from 21:20 to 21:55; window 21:30")
	report(t, "counted: %d failed disks-asleep sequences (unmount refused), %d units started again by the rollback, serving after the failure: %v; disks asleep at %s; reasons %q",
		fails, undone, serving == nil, asleepAt.In(peers.Paris).Format("15:04:05"), rs)
}

// TestUnitRefusesToStop: jellyfin's stop job fails; nothing is unmounted,
// the disk keeps serving, and every retry fails the same way and says so.
func TestUnitRefusesToStop(t *testing.T) {
	t.Parallel()
	d, sub := seqDemo(t, "22:30",
		`{"at":"+0s","do":"refuse-stop","unit":"jellyfin.service"}`,
		`{"at":"+40m","do":"stop"}`)
	d.waitLog(30*time.Second, "a failed disks-asleep sequence", func(r record) bool {
		return r.msg() == "sequence failed; the system stays as it was and serving"
	})
	serving := servingNow(d)
	d.wait(time.Duration(float64(40*time.Minute)/seqSpeed) + 60*time.Second)
	var errs []error
	step := failedStep(d, "disks-asleep")
	if step == nil || step.str("step") != "stop-unit" || !strings.Contains(step.str("detail"), "jellyfin") {
		errs = append(errs, fmt.Errorf("the failed step is %v, want stop-unit of jellyfin.service", step))
	}
	for _, r := range d.steps("disks-asleep") {
		if s := r.str("step"); s == "unmount" || s == "spin-down" {
			errs = append(errs, fmt.Errorf("%s ran although a unit of the disk still runs: %s", s, r))
		}
	}
	if serving != nil {
		errs = append(errs, serving)
	}
	fails := len(d.records("sequence failed; the system stays as it was and serving"))
	if fails < 3 {
		errs = append(errs, fmt.Errorf("%d failed attempts in 30 minutes of window, want a retry every 5 minutes", fails))
	}
	rs := reasons(t, sub)
	if !anyContains(rs, "jellyfin") {
		errs = append(errs, fmt.Errorf("no Home Assistant reason names jellyfin: %q", rs))
	}
	if v := d.violations(); len(v) > 0 {
		errs = append(errs, fmt.Errorf("violations: %s", strings.Join(v, "; ")))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: jellyfin.service refuses to stop; window 21:30–22:30, observed to 22:00")
	report(t, "counted: %d failed attempts (each at stop-unit, nothing unmounted), serving: %v, reasons %q", fails, serving == nil, rs)
}

// TestDiskDoesNotComeBack: the disks sleep at 21:30; at 21:40 the drive's
// spindle dies; at 21:50 the wake fails at spin-up: the disk is left
// unmounted with its unit stopped (its data is not there), the rest of the
// server keeps serving, veille retries, and once the drive answers again
// (22:05) the next retry mounts it and starts jellyfin.
func TestDiskDoesNotComeBack(t *testing.T) {
	t.Parallel()
	d, sub := seqDemo(t, "21:50",
		`{"at":"+20m","do":"disk","disk":"sda","fault":"no-spin-up"}`, // 21:40
		`{"at":"+45m","do":"disk","disk":"sda","fault":"none"}`,       // 22:05
		`{"at":"+65m","do":"stop"}`)
	f := d.waitLog(30*time.Second, "a failed disks-awake sequence", func(r record) bool {
		return r.msg() == "sequence failed; the system stays as it was and serving" && strings.Contains(r.str("target"), "awake")
	})
	// The rest serves; the disk whose data is not there does not.
	var during []string
	if d.mounted("/srv/media") {
		during = append(during, "/srv/media mounted without its disk")
	}
	if d.running("jellyfin") {
		during = append(during, "jellyfin started without its disk")
	}
	if !d.mounted("/srv/cloud") || !d.running("sshd") {
		during = append(during, "the rest of the server stopped serving")
	}
	// Once the drive answers (22:05), the next retry brings it back.
	d.waitLog(30*time.Second, "a successful disks-awake after the drive answered", func(r record) bool {
		return r.msg() == "step" && r.str("sequence") == "disks-awake" && r.str("step") == "start-unit" &&
			r.str("outcome") == "ok" && r.sim().After(seqFrom.Add(45*time.Minute))
	})
	back := servingNow(d)
	d.wait(time.Duration(float64(65*time.Minute)/seqSpeed) + 60*time.Second)

	var errs []error
	if len(during) > 0 {
		errs = append(errs, fmt.Errorf("while the disk is dead: %s", strings.Join(during, "; ")))
	}
	step := failedStep(d, "disks-awake")
	if step == nil || step.str("step") != "spin-up" {
		errs = append(errs, fmt.Errorf("the failed step is %v, want spin-up", step))
	}
	if !strings.Contains(f.str("err"), "spin up") && !strings.Contains(f.str("err"), "spin-up") {
		errs = append(errs, fmt.Errorf("the failure says %q, not that the disk did not spin up", f.str("err")))
	}
	fails := 0
	for _, r := range d.records("sequence failed; the system stays as it was and serving") {
		if strings.Contains(r.str("target"), "awake") {
			fails++
		}
	}
	if back != nil {
		errs = append(errs, fmt.Errorf("after the drive answered again: %w", back))
	}
	rs := reasons(t, sub)
	if !anyContains(rs, "spin") {
		errs = append(errs, fmt.Errorf("no Home Assistant reason names the spin-up: %q", rs))
	}
	last := rs[len(rs)-1]
	if strings.Contains(last, "failed") {
		errs = append(errs, fmt.Errorf("the disk is back and serving, but Home Assistant still reads %q", last))
	}
	if v := d.violations(); len(v) > 0 {
		errs = append(errs, fmt.Errorf("violations: %s", strings.Join(v, "; ")))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: sda's spindle does not start from 21:40 to 22:05; disks window 21:30–21:50")
	report(t, "counted: %d failed disks-awake attempts (step %s), disk unmounted and jellyfin stopped meanwhile, serving again at the end: %v; reasons %q",
		fails, step.str("step"), back == nil, rs)
}
