package faults

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// The clock tests move the simulated Pi's wall clock (what veille reads)
// while the world's time runs on: a Pi without RTC that boots in 1970 and
// syncs later, steps back and forward by hours, and the two DST nights of
// Europe/Paris. No sleep may start while the clock is not trusted or within
// min_awake of a jump (waking is always allowed), wakes and sleeps
// alternate (no double wake), and a halt's RTC alarm is at the true time.

// seq is one power sequence as the log shows it.
type seq struct {
	name string
	at   time.Time // world time
	wall time.Time // the Pi's clock
}

func (s seq) String() string {
	return fmt.Sprintf("%s at %s (wall %s)", s.name, s.at.UTC().Format("01-02 15:04:05Z"), s.wall.In(peers.Paris).Format("15:04 MST"))
}

func seqs(d *demo) []seq {
	var out []seq
	for _, r := range d.sequences() {
		if n := r.str("sequence"); n != "idle-spin-down" {
			out = append(out, seq{name: n, at: r.sim(), wall: r.wall()})
		}
	}
	return out
}

var bootRE = regexp.MustCompile(`(?m)^\w{3} (\d\d:\d\d)  ◆ RTC alarm: the Pi booted`)

// boots are the local times at which the simulated Pi booted from a halt.
func boots(d *demo) []string {
	var out []string
	for _, m := range bootRE.FindAllStringSubmatch(d.Stdout(), -1) {
		out = append(out, m[1])
	}
	return out
}

// alternate checks that sleeps and wakes alternate: a disks-awake follows a
// disks-asleep, nothing sleeps twice in a row.
func alternate(ss []seq) error {
	asleep := false
	for _, s := range ss {
		switch s.name {
		case "disks-asleep", "sleep":
			if asleep && s.name == "disks-asleep" {
				return fmt.Errorf("%s while the disks already sleep", s)
			}
			asleep = true
		case "disks-awake":
			if !asleep {
				return fmt.Errorf("double wake: %s while awake", s)
			}
			asleep = false
		}
	}
	return nil
}

func names(ss []seq) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.String())
	}
	return strings.Join(out, "; ")
}

func failures(d *demo) int {
	return len(d.records("sequence failed; the system stays as it was and serving"))
}

// TestClock1970Boot: the Pi boots at 23:20 inside a system window with its
// clock in 1970 and not synchronised (no RTC); at 23:30 NTP sets it. Nothing
// may sleep before the sync (1970-01-01 01:00 in Paris is inside the night
// window too), nor within min_awake after the jump; then the Pi halts with
// its alarm at 06:30 of the true date, boots once at 06:30 and stays up.
func TestClock1970Boot(t *testing.T) {
	t.Parallel()
	const speed = 600.0
	b := startBroker(t, false)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-1970"}, "veille/demo/tele")
	from := time.Date(2026, 6, 1, 23, 20, 0, 0, peers.Paris)
	conf := peers.Config{Enabled: true, Windows: peers.Window("evening", "21:30", "23:00", "disks") + peers.Window("night", "23:00", "06:30", "system")}.Write(t)
	d := startDemo(t, "--config", conf, "--from", from.Format("2006-01-02 15:04"), "--speed", fmt.Sprint(speed),
		"--broker", b.URL(), "--for", "0", "--scenario", scenario(t,
			`{"at":"+0s","do":"clock","set":"1970-01-01T00:00:00Z","synced":false}`,
			`{"at":"+10m","do":"clock","sync":true}`, // 23:30
			`{"at":"+8h","do":"stop"}`))              // 07:20
	d.wait(time.Duration(float64(90*time.Minute)/speed) + 90*time.Second)

	sync := from.Add(10 * time.Minute)
	ss := seqs(d)
	var errs []error
	for _, s := range ss {
		if s.at.Before(sync) {
			errs = append(errs, fmt.Errorf("%s before the clock was synchronised", s))
		} else if s.at.Before(sync.Add(30 * time.Minute).Add(-time.Second)) {
			errs = append(errs, fmt.Errorf("%s within min_awake (30m) of the clock jump at sync", s))
		}
		if s.wall.Year() < 2020 {
			errs = append(errs, fmt.Errorf("%s on a clock in %d", s, s.wall.Year()))
		}
	}
	halts := 0
	for _, s := range ss {
		if s.name == "sleep" {
			halts++
		}
	}
	if halts != 1 {
		errs = append(errs, fmt.Errorf("%d halts, want 1: %s", halts, names(ss)))
	}
	bs := boots(d)
	if len(bs) != 1 || bs[0] != "06:30" {
		errs = append(errs, fmt.Errorf("the Pi booted at %v, want once at 06:30 (the RTC alarm at the true time)", bs))
	}
	if err := alternate(ss); err != nil {
		errs = append(errs, err)
	}
	// Telemetry: the frames taken in 1970 carry 1970, the counters never go back.
	fs := sub.Frames(t, "veille/demo/tele")
	old, back := 0, 0
	maxWh := map[uint64]uint64{}
	for _, f := range fs {
		if time.UnixMilli(f.T0).Year() == 1970 {
			old++
		}
		for _, c := range f.Channels {
			if c.MWh < maxWh[c.ID] {
				back++
			}
			maxWh[c.ID] = max(maxWh[c.ID], c.MWh)
		}
	}
	if old == 0 {
		errs = append(errs, fmt.Errorf("no frame stamped 1970: the clock step was not seen"))
	}
	if back > 0 {
		errs = append(errs, fmt.Errorf("energy counters went back %d times across the clock sync", back))
	}
	if f := failures(d); f > 0 {
		errs = append(errs, fmt.Errorf("%d failed sequences", f))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: boot at 23:20 with the clock at 1970-01-01 00:00 UTC, not synchronised, NTP sync at 23:30")
	report(t, "counted: sequences %s; boots at %v; %d frames stamped 1970 of %d; counters back %d", names(ss), bs, old, len(fs), back)
}

// TestClockSteps steps the wall clock back 1h30 while the disks sleep in
// their window (they wake: the window is not in force at the new time),
// forward 2h out of the window (they wake), and forward 21h30 into the next
// evening's window (they must not sleep before min_awake has passed since
// the jump).
func TestClockSteps(t *testing.T) {
	t.Parallel()
	const speed = 600.0
	b := startBroker(t, false)
	from := time.Date(2026, 6, 1, 21, 0, 0, 0, peers.Paris)
	conf := peers.Config{Enabled: true, Windows: peers.Window("evening", "21:30", "23:00", "disks")}.Write(t)
	steps := []string{
		`{"at":"+40m","do":"clock","step":"-1h30m"}`,  // world 21:40: wall 20:10
		`{"at":"+150m","do":"clock","step":"2h"}`,     // world 23:30: wall 22:00 → 00:00
		`{"at":"+155m","do":"clock","step":"21h30m"}`, // world 23:35: wall 00:05 → 21:35 the next day
	}
	end := 215 * time.Minute // world 00:35
	d := startDemo(t, "--config", conf, "--from", from.Format("2006-01-02 15:04"), "--speed", fmt.Sprint(speed),
		"--broker", b.URL(), "--for", "0", "--scenario", scenario(t, append(steps, fmt.Sprintf(`{"at":"+%s","do":"stop"}`, end))...))
	d.wait(time.Duration(float64(end)/speed) + 90*time.Second)

	ss := seqs(d)
	var errs []error
	// Each expectation starts at the event that causes it (a step happens a
	// little after its "at" on a loaded host) and leaves a few simulated
	// minutes (at 600x a stall of half a second is five of them); a wrong
	// decision is off by an hour or more.
	step1, step2, step3 := d.applied(1), d.applied(2), d.applied(3)
	const slack = 8 * time.Minute
	want := []struct {
		name     string
		from, to time.Time // world time
	}{
		{"disks-asleep", from.Add(30 * time.Minute), from.Add(30*time.Minute + slack)},   // 21:30, the window
		{"disks-awake", step1, step1.Add(slack)},                                         // the step back: 20:10 is outside
		{"disks-asleep", from.Add(120 * time.Minute), from.Add(120*time.Minute + slack)}, // wall 21:30 again (world 23:00)
		{"disks-awake", step2, step2.Add(slack)},                                         // the step forward: 00:00 is outside
		{"disks-asleep", step3.Add(30 * time.Minute), step3.Add(30*time.Minute + slack)}, // in the window by the jump, after min_awake (30m)
	}
	if len(ss) != len(want) {
		errs = append(errs, fmt.Errorf("%d sequences, want %d: %s", len(ss), len(want), names(ss)))
	}
	for i := range min(len(ss), len(want)) {
		w, s := want[i], ss[i]
		if s.name != w.name || s.at.Before(w.from) || s.at.After(w.to) {
			errs = append(errs, fmt.Errorf("sequence %d is %s, want %s between %s and %s (world)", i+1, s, w.name,
				w.from.In(peers.Paris).Format("15:04:05"), w.to.In(peers.Paris).Format("15:04:05")))
		}
	}
	if err := alternate(ss); err != nil {
		errs = append(errs, err)
	}
	if f := failures(d); f > 0 {
		errs = append(errs, fmt.Errorf("%d failed sequences", f))
	}
	if v := d.violations(); len(v) > 0 {
		errs = append(errs, fmt.Errorf("violations: %s", strings.Join(v, "; ")))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	report(t, "injected: wall clock steps -1h30 (disks asleep in their window), +2h (out of it), +21h30 (into the next evening's window)")
	report(t, "counted: %d sequences: %s", len(ss), names(ss))
}

// TestDSTNights runs the two DST nights of 2026 in Europe/Paris with a disks
// window 01:30–02:30 and a system window: 03:00–06:30 in October, when
// 02:00–03:00 happens twice (02:30 is its first occurrence, CEST), and in
// March, when 02:00–03:00 does not exist (02:30 becomes 03:00 CEST and the
// two windows touch: the disks sleep on into the halt, with no wake between).
func TestDSTNights(t *testing.T) {
	t.Parallel()
	const speed = 1000.0
	conf := peers.Config{Enabled: true, Windows: peers.Window("dst", "01:30", "02:30", "disks") + peers.Window("night", "03:00", "06:30", "system")}.Write(t)
	utc := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	type want struct {
		name string
		at   time.Time // UTC, at most a few minutes later
	}
	nights := []struct {
		name  string
		from  time.Time
		until time.Duration
		seqs  []want
		boot  string
	}{
		{"october", time.Date(2026, 10, 24, 23, 0, 0, 0, peers.Paris), 8*time.Hour + 45*time.Minute, []want{
			{"disks-asleep", utc("2026-10-24 23:30")}, // 01:30 CEST
			{"disks-awake", utc("2026-10-25 00:30")},  // 02:30 CEST, the first one
			{"sleep", utc("2026-10-25 02:00")},        // 03:00 CET
		}, "06:30"}, // CET: 05:30Z
		{"march", time.Date(2026, 3, 28, 23, 0, 0, 0, peers.Paris), 7*time.Hour + 45*time.Minute, []want{
			{"disks-asleep", utc("2026-03-29 00:30")}, // 01:30 CET
			{"sleep", utc("2026-03-29 01:00")},        // 03:00 CEST: 02:30 does not exist
		}, "06:30"}, // CEST: 04:30Z
	}
	for _, n := range nights {
		t.Run(n.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, false)
			d := startDemo(t, "--config", conf, "--from", n.from.Format(time.RFC3339), "--speed", fmt.Sprint(speed),
				"--broker", b.URL(), "--for", "0", "--scenario", scenario(t, fmt.Sprintf(`{"at":"+%s","do":"stop"}`, n.until)))
			d.wait(time.Duration(float64(6*time.Hour)/speed) + 90*time.Second)
			ss := seqs(d)
			var errs []error
			if len(ss) != len(n.seqs) {
				errs = append(errs, fmt.Errorf("%d sequences, want %d: %s", len(ss), len(n.seqs), names(ss)))
			}
			for i := range min(len(ss), len(n.seqs)) {
				w, s := n.seqs[i], ss[i]
				// Late by a few minutes on a loaded host; a DST mistake is an hour.
				if s.name != w.name || s.at.Before(w.at) || s.at.After(w.at.Add(10*time.Minute)) {
					errs = append(errs, fmt.Errorf("sequence %d is %s, want %s at %s", i+1, s, w.name, w.at.Format("15:04Z")))
				}
			}
			bs := boots(d)
			if len(bs) != 1 || bs[0] != n.boot {
				errs = append(errs, fmt.Errorf("the Pi booted at %v, want once at %s", bs, n.boot))
			}
			if err := alternate(ss); err != nil {
				errs = append(errs, err)
			}
			if f := failures(d); f > 0 {
				errs = append(errs, fmt.Errorf("%d failed sequences", f))
			}
			if err := errorsJoin(errs, 10); err != nil {
				t.Error(err)
			}
			report(t, "DST night from %s: sequences %s; boots at %v local", n.from.Format("2006-01-02 15:04 MST"), names(ss), bs)
		})
	}
}
