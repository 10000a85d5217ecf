package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// The state directory tests take the agent's persistence away while it
// runs: the directory fills up (ENOSPC, on a tiny tmpfs the test mounts,
// root only) or becomes read-only (a remount, or as a non-root user a
// directory without write permission). The agent must keep measuring and
// reporting, say what it cannot persist (in its log and in the Home
// Assistant state), never publish energy counters that go backwards, and
// persist again once it can.

// tmpfs mounts a tmpfs of size bytes at a new directory; it is unmounted
// at the end of the test. It skips the test when not root.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		fmt.Printf("faults: %s: skipped: mounting a small tmpfs (for ENOSPC) needs root; CI runs as root\n", t.Name())
		t.Skip("needs root to mount a tmpfs (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput(); err != nil {
		fmt.Printf("faults: %s: skipped: cannot mount a tmpfs: %v %s\n", t.Name(), err, bytes.TrimSpace(out))
		t.Skipf("cannot mount a tmpfs at %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", dir).Run(); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem is full.
func fill(t *testing.T, dir string) (string, int64) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return p, n
		}
	}
}

// persistRun runs the demo on state, calls block after the first checkpoint,
// waits while the state directory stays blocked, calls unblock, and checks
// what the agent did meanwhile. cause is the errno text the log must show.
func persistRun(t *testing.T, state, what, cause string, block, unblock func()) {
	const speed = 300.0
	b := startBroker(t, false)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-state"}, "veille/demo/tele", "veille/demo/state")
	from := time.Date(2026, 6, 1, 10, 0, 0, 0, peers.Paris)
	conf := peers.Config{Enabled: false, Checkpoint: "1m", StateInterval: "5s"}.Write(t)
	runFor := 80 * time.Minute
	d := startDemo(t, "--config", conf, "--state-dir", state, "--from", from.Format("2006-01-02 15:04"),
		"--speed", fmt.Sprint(speed), "--broker", b.URL(), "--for", "0",
		"--scenario", scenario(t, fmt.Sprintf(`{"at":"+%s","do":"stop"}`, runFor)))
	if !peers.Within(20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(state, "energy.json"))
		return err == nil
	}) {
		t.Fatalf("no first checkpoint")
	}
	time.Sleep(time.Second)
	blockedAt := time.Now()
	block()
	time.Sleep(6 * time.Second) // 30 simulated minutes
	framesBlocked := len(sub.On("veille/demo/tele", 0))
	statesBlocked := haStates(t, sub, "veille/demo/state")
	unblock()
	unblockedAt := time.Now()
	d.wait(time.Duration(float64(runFor)/speed) + 60*time.Second)
	time.Sleep(500 * time.Millisecond)

	var errs []error
	warnings := 0
	for _, r := range d.records("energy counters cannot be saved; measuring and reporting go on, published counters wait for the next successful save") {
		warnings++
		if !strings.Contains(r.str("err"), cause) {
			errs = append(errs, fmt.Errorf("the warning says %q, not %q", r.str("err"), cause))
			break
		}
	}
	if warnings == 0 {
		errs = append(errs, fmt.Errorf("nothing in the log says the energy counters cannot be saved"))
	}
	// Said, not shouted: a retry every sample must not write a warning
	// every sample into a journal that may sit on the same full card.
	if warnings > 3 {
		errs = append(errs, fmt.Errorf("%d warnings in about 30 simulated minutes: the same failure is logged at every sample", warnings))
	}
	// Measuring and reporting go on while blocked.
	fs := sub.Frames(t, "veille/demo/tele")
	during, samples := 0, 0
	for _, f := range fs {
		if f.At.After(blockedAt.Add(500*time.Millisecond)) && f.At.Before(unblockedAt) {
			during++
			for _, c := range f.Channels {
				for _, w := range c.MW {
					if w != nil {
						samples++
					}
				}
			}
		}
	}
	if during < 10 {
		errs = append(errs, fmt.Errorf("%d frames in the %s the state directory was %s: reporting stopped", during, unblockedAt.Sub(blockedAt).Round(time.Second), what))
	}
	seen := map[uint64]bool{}
	for _, f := range fs {
		seen[f.Seq] = true
	}
	if n := len(fs); n > 0 && len(seen) != int(fs[n-1].Seq-fs[0].Seq+1) {
		errs = append(errs, fmt.Errorf("frames missing: %d distinct of seq %d..%d", len(seen), fs[0].Seq, fs[n-1].Seq))
	}
	// Never backwards; held while nothing can be saved.
	maxWh := map[uint64]uint64{}
	back := 0
	for _, f := range fs {
		for _, c := range f.Channels {
			if c.MWh < maxWh[c.ID] {
				back++
			}
			maxWh[c.ID] = max(maxWh[c.ID], c.MWh)
		}
	}
	if back > 0 {
		errs = append(errs, fmt.Errorf("published energy counters went back %d times", back))
	}
	// The Home Assistant state says it, and stops saying it once saved.
	said := 0
	for _, s := range statesBlocked {
		if s.at.After(blockedAt) && strings.Contains(s.Reason, "energy") {
			said++
		}
	}
	if said == 0 {
		last := ""
		if len(statesBlocked) > 0 {
			last = statesBlocked[len(statesBlocked)-1].Reason
		}
		errs = append(errs, fmt.Errorf("no Home Assistant state while %s says the energy counters are not saved (last reason %q)", what, last))
	}
	all := haStates(t, sub, "veille/demo/state")
	if len(all) > 0 && strings.Contains(all[len(all)-1].Reason, "not saved") {
		errs = append(errs, fmt.Errorf("saving works again, but Home Assistant still reads %q", all[len(all)-1].Reason))
	}
	if err := intactState(filepath.Join(state, "energy.json")); err != nil {
		errs = append(errs, fmt.Errorf("energy.json at the end: %v", err))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: state directory %s for %s (about %.0f simulated minutes)", what, unblockedAt.Sub(blockedAt).Round(100*time.Millisecond),
		unblockedAt.Sub(blockedAt).Minutes()*speed)
	report(t, "counted: %d frames (%d samples) published meanwhile, %d log warnings, %d Home Assistant states saying it, counters back %d, frames %d before / %d after unblocking",
		during, samples, warnings, said, back, framesBlocked, len(fs))
}

// TestStateDirFull fills the state directory's filesystem (ENOSPC).
func TestStateDirFull(t *testing.T) {
	t.Parallel()
	state := tmpfs(t, 256<<10)
	var filler string
	var filled int64
	persistRun(t, state, "full", "no space left on device",
		func() { filler, filled = fill(t, state) },
		func() { os.Remove(filler) })
	report(t, "filled the 256 KiB tmpfs with %d KiB", filled>>10)
}

// TestStateDirReadOnly makes the state directory read-only: a remount of
// its tmpfs as root, a directory without write permission otherwise.
func TestStateDirReadOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		state := tmpfs(t, 1<<20)
		persistRun(t, state, "read-only", "read-only file system",
			func() {
				if out, err := exec.Command("mount", "-o", "remount,ro", state).CombinedOutput(); err != nil {
					t.Fatalf("remount ro: %v %s", err, out)
				}
			},
			func() {
				if out, err := exec.Command("mount", "-o", "remount,rw", state).CombinedOutput(); err != nil {
					t.Fatalf("remount rw: %v %s", err, out)
				}
			})
		return
	}
	state := filepath.Join(t.TempDir(), "state")
	persistRun(t, state, "read-only", "permission denied",
		func() { os.Chmod(state, 0o555) },
		func() { os.Chmod(state, 0o755) })
}

// TestStateDirReadOnlyAtStart starts the agent on a state directory it can
// never write (a card the kernel remounted read-only before veille's first
// start): it must still measure and report, spooling telemetry elsewhere,
// and say that nothing is saved.
func TestStateDirReadOnlyAtStart(t *testing.T) {
	t.Parallel()
	var state string
	if os.Geteuid() == 0 {
		state = tmpfs(t, 1<<20)
		if out, err := exec.Command("mount", "-o", "remount,ro", state).CombinedOutput(); err != nil {
			t.Fatalf("remount ro: %v %s", err, out)
		}
	} else {
		state = filepath.Join(t.TempDir(), "state")
		os.MkdirAll(state, 0o555)
	}
	const speed = 300.0
	b := startBroker(t, false)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-state-ro"}, "veille/demo/tele", "veille/demo/state")
	conf := peers.Config{Enabled: false, Checkpoint: "1m", StateInterval: "5s"}.Write(t)
	tmp := t.TempDir()
	d := startDemoEnv(t, []string{"TMPDIR=" + tmp}, "--config", conf, "--state-dir", state, "--from", "2026-06-01 10:00",
		"--speed", fmt.Sprint(speed), "--broker", b.URL(), "--for", "0", "--scenario", scenario(t, `{"at":"+30m","do":"stop"}`))
	d.wait(time.Duration(float64(30*time.Minute)/speed) + 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	var errs []error
	fs := sub.Frames(t, "veille/demo/tele")
	if len(fs) < 10 {
		errs = append(errs, fmt.Errorf("%d frames in 30 simulated minutes on a read-only state directory", len(fs)))
	}
	moved := d.records("telemetry spool cannot be in the state directory; it is in " + filepath.Join(tmp, "veille-spool-demo") + " until a restart, and lost at a reboot")
	if len(fs) > 0 && len(moved) == 0 {
		errs = append(errs, fmt.Errorf("the log does not say where the spool went"))
	}
	said := 0
	for _, s := range haStates(t, sub, "veille/demo/state") {
		if strings.Contains(s.Reason, "energy counters not saved") {
			said++
		}
	}
	if said == 0 {
		errs = append(errs, fmt.Errorf("no Home Assistant state says the energy counters are not saved"))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: a state directory that is read-only from the start")
	report(t, "counted: %d frames published, spool moved to the temporary directory: %v, %d Home Assistant states say nothing is saved",
		len(fs), len(moved) > 0, said)
}
