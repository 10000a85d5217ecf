// Package soak runs veille for simulated days on end and watches what a long
// life does to it: memory, goroutines, the accuracy of its energy counters,
// the writes to its state directory and the delivery of its telemetry.
//
// It drives the built binary (`veille demo` with a scenario) against a real
// mosquitto that the test stops and restarts every few tens of seconds, with
// sleep windows every evening and night, SSH sessions and streams that hold
// sleep off, button presses, disk reads, extra load, sensor glitches, an
// inhibitor and a manual sleep. `veille demo --stats` writes the figures.
//
//	go test ./tests/soak/             one simulated day (under a minute), in make test
//	VEILLE_SOAK=1 go test -v ...      thirty simulated days (make soak, about ten minutes)
//
// VEILLE_SOAK_DAYS overrides the number of days of the long run. The long
// run writes its figures to the file named by VEILLE_SOAK_REPORT, if set
// (make soak: bin/soak.md, with the heap profile at the end and the hourly
// stats lines next to it), for BENCHMARKS.md, and checks that memory stays
// flat once the simulated world's history (two days and two hours, the
// demo's default) is full. The one-day run keeps six hours of history, so
// that the world forgets (a night's halt included) within make test.
package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veille/veille/tests/internal/peers"
)

var demoFramesRE = regexp.MustCompile(`(\d+) telemetry frames decoded from the broker`)

func TestMain(m *testing.M) { peers.Main(m) }

// scenarioFor writes the people and faults of days days from start: every
// day a glitch on a sensor and someone reading a film; SSH sessions that
// hold the evening window off, streams, extra load, a button press every
// fourth day, an inhibitor across a halt every seventh, and one manual
// sleep (a double press) in the afternoon of day 10.
func scenarioFor(start time.Time, days int) string {
	var b strings.Builder
	at := func(day int, hm string) string {
		d := start.AddDate(0, 0, day)
		return d.Format("2006-01-02") + " " + hm
	}
	ev := func(day int, hm, rest string) {
		fmt.Fprintf(&b, `{"at":%q,%s}`+"\n", at(day, hm), rest)
	}
	for d := range days {
		ev(d, "08:00", `"do":"io","disk":"sda","for":"3m"`)
		ev(d, "12:00", `"do":"glitch","addr":"0x41","count":3`)
		if d%5 == 2 {
			ev(d, "13:00", `"do":"load","watts":3,"runnable":1`)
			ev(d, "14:00", `"do":"load","watts":0`)
		}
		if d == 10 && days > 12 {
			ev(d, "15:00", `"do":"press","kind":"double"`) // sleep now, until 06:30
		}
		if d%3 == 0 {
			ev(d, "20:00", `"do":"connect","id":"stream","port":8096,"remote":"192.168.1.40:40000","rx":200000,"tx":4000000`)
			ev(d, "20:40", `"do":"disconnect","id":"stream"`)
		}
		if d%2 == 1 {
			ev(d, "21:10", `"do":"connect","id":"ssh","port":22,"remote":"192.168.1.23:51234"`)
			ev(d, "21:50", `"do":"disconnect","id":"ssh"`)
		}
		if d%4 == 1 {
			ev(d, "22:10", `"do":"press","kind":"short"`) // stay awake an hour: wakes the disks
		}
		if d%7 == 3 {
			ev(d, "22:50", `"do":"inhibit","id":"apt","who":"apt","why":"upgrade"`)
			ev(d, "23:20", `"do":"release","id":"apt"`)
		}
	}
	fmt.Fprintf(&b, `{"at":%q,"do":"stop"}`+"\n", at(days, "07:00"))
	return b.String()
}

// stats is one line of `veille demo --stats`.
type stats struct {
	Sim        time.Time `json:"sim"`
	RealS      float64   `json:"real_s"`
	RSSKiB     int64     `json:"rss_kib"`
	RSSAnonKiB int64     `json:"rss_anon_kib"`
	ProfKiB    int64     `json:"prof_kib"`
	HeapKiB    uint64    `json:"heap_kib"`
	Goroutines int       `json:"goroutines"`
	Boots      int       `json:"boots"`
	Running    bool      `json:"running"`
	Channels   []struct {
		Name            string  `json:"name"`
		VeilleWh        float64 `json:"veille_wh"`
		ExactWh         float64 `json:"exact_wh"`
		MeasuredExactWh float64 `json:"measured_exact_wh"`
		UnmeasuredS     float64 `json:"unmeasured_s"`
		ExactErr        string  `json:"exact_err"`
	} `json:"channels"`
	EnergyWrites uint64 `json:"energy_writes"`
	SpoolBytes   int64  `json:"spool_bytes"`
	Violations   int    `json:"violations"`
}

func TestSoak(t *testing.T) {
	days, speed, history := 1, 3000.0, []string{"--history", "6h"}
	if os.Getenv("VEILLE_SOAK") == "1" {
		days, speed, history = 30, 3000, nil
		if n, err := strconv.Atoi(os.Getenv("VEILLE_SOAK_DAYS")); err == nil && n > 0 {
			days = n
		}
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(filepath.Join(state, "spool"), 0o755)
	writes := watchWrites(t, state, filepath.Join(state, "spool"))
	conf := peers.Config{Node: "soak", Enabled: true, IdleSpindown: "45m", ButtonLong: "none", Batch: 30,
		Windows: peers.Window("evening", "21:30", "23:00", "disks") + peers.Window("night", "23:00", "06:30", "system") +
			peers.Window("office", "09:30", "12:00", "disks", "weekdays")}.Write(t)
	start := time.Date(2026, 6, 1, 7, 0, 0, 0, peers.Paris) // a Monday
	sc := filepath.Join(dir, "scenario.jsonl")
	os.WriteFile(sc, []byte(scenarioFor(start, days)), 0o644)
	statsPath := filepath.Join(dir, "stats.jsonl")

	// The broker saves its database at a clean stop: the persistent
	// subscriber's queue survives the outages.
	b := peers.Mosquitto(t, &peers.MosquittoOpts{Persist: true, MaxQueued: 1000000})
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "soak-persistent", Persistent: true}, "veille/soak/tele")
	v := peers.Start(t, append([]string{"demo", "--config", conf, "--scenario", sc, "--state-dir", state,
		"--from", start.Format("2006-01-02 15:04"), "--speed", fmt.Sprint(speed), "--broker", b.URL(), "--for", "0",
		"--stats", statsPath, "--stats-every", "1h", "--heap-profile", filepath.Join(dir, "heap.pprof")}, history...)...)

	// Broker outages: a few seconds down every half minute of real time
	// (a few simulated hours at this speed).
	outages := 0
	var outage time.Duration
	timeout := time.Duration(float64(days)*24*float64(time.Hour)/speed) + 3*time.Minute
	deadline := time.After(timeout)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-v.Done():
			break wait
		case <-deadline:
			v.Kill()
			t.Fatalf("the soak did not end within %s:\n%s", timeout, tail(v.Output(), 40))
		case <-tick.C:
			t0 := time.Now()
			b.Stop()
			select {
			case <-v.Done():
				b.Start()
				break wait
			case <-time.After(3 * time.Second):
			}
			b.Start()
			outages++
			outage += time.Since(t0)
		}
	}
	out := v.Output()
	if err := v.Err(); err != nil {
		t.Fatalf("veille demo: %v\n%s", err, tail(out, 40))
	}
	time.Sleep(time.Second)
	ss := readStats(t, statsPath)
	if len(ss) < 10 {
		t.Fatalf("%d stats lines", len(ss))
	}
	res := analyse(t, ss, start, days)
	res.outages, res.outage = outages, outage
	res.frames, res.dupes, res.lost, res.runs = delivery(sub)
	if m := demoFramesRE.FindStringSubmatch(out); m != nil {
		res.demoFrames, _ = strconv.Atoi(m[1])
	}
	res.writes = writes()
	res.speed = speed
	res.heapEnd, res.heapSim = heapByOwner(t, filepath.Join(dir, "heap.pprof"))
	res.print(t)
	if path := os.Getenv("VEILLE_SOAK_REPORT"); path != "" && days >= 7 {
		if err := os.WriteFile(path, []byte(res.markdown()), 0o644); err != nil {
			t.Errorf("report: %v", err)
		}
		// The heap profile goes next to the report, for go tool pprof, and
		// the hourly stats lines, for the day-by-day figures.
		base := strings.TrimSuffix(path, filepath.Ext(path))
		if b, err := os.ReadFile(filepath.Join(dir, "heap.pprof")); err == nil {
			os.WriteFile(base+"-heap.pprof", b, 0o644)
		}
		if b, err := os.ReadFile(statsPath); err == nil {
			os.WriteFile(base+"-stats.jsonl", b, 0o644)
		}
	}

	var errs []string
	if res.violations > 0 {
		errs = append(errs, fmt.Sprintf("%d violations", res.violations))
	}
	if res.lost > 0 {
		errs = append(errs, fmt.Sprintf("%d telemetry frames lost", res.lost))
	}
	for _, c := range res.channels {
		if c.exactErr != "" {
			errs = append(errs, fmt.Sprintf("channel %s: no exact energy: %s", c.name, c.exactErr))
		} else if c.exact <= 0 || c.exact < c.measured*(1-1e-9) {
			// The uptime includes the sampled time.
			errs = append(errs, fmt.Sprintf("channel %s: the exact load over the uptime, %.3f Wh, is less than over the sampled time, %.3f Wh", c.name, c.exact, c.measured))
		}
		if math.Abs(c.errPct) > 2 {
			errs = append(errs, fmt.Sprintf("channel %s: veille %.2f Wh against the exact %.2f Wh over the sampled time (%+.2f%%)", c.name, c.veille, c.measured, c.errPct))
		}
		if c.coverage < 20 {
			errs = append(errs, fmt.Sprintf("channel %s: samples cover only %.0f%% of the uptime", c.name, c.coverage))
		}
	}
	if days >= 3 {
		// Flat: the heap that is not the simulated world within 50 % or
		// 2 MiB of the whole heap of day 1; goroutines within a handful.
		if own := (res.heapEnd - res.heapSim) >> 10; float64(own) > float64(res.heapFirst)*1.5 && own-int64(res.heapFirst) > 2048 {
			errs = append(errs, fmt.Sprintf("the heap outside the simulated world is %d KiB after %d days, the whole heap was %d KiB on day 1", own, days, res.heapFirst))
		}
		if res.goLast > res.goFirst+5 {
			errs = append(errs, fmt.Sprintf("goroutines grew from %d on day 1 to %d on day %d", res.goFirst, res.goLast, days))
		}
	}
	if days >= 5 {
		// The world's history is full from the third day (two days and two
		// hours): from there the live heap and the RSS stay flat, within
		// 1 MiB and 25 % for the heap, 15 % for the RSS without the heap
		// profiler's tables, which grow with every new allocation stack
		// the soak's fine heap profile samples (an unbounded history grew
		// by 0.33 MiB of heap and 0.7 MiB of RSS a day).
		if res.heapLast > res.heapDay3+res.heapDay3/4+1024 {
			errs = append(errs, fmt.Sprintf("the live heap grew from %d KiB on day 3 to %d KiB on day %d", res.heapDay3, res.heapLast, days))
		}
		r3, rl := res.rssDay3-res.profDay3, res.rssLast-res.profLast
		if rl > r3+r3*15/100+1024 {
			errs = append(errs, fmt.Sprintf("the RSS without the heap profiler's tables grew from %d KiB on day 3 to %d KiB on day %d", r3, rl, days))
		}
	}
	if !strings.Contains(out, "veille started") {
		errs = append(errs, "the demo printed no summary")
	}
	if len(errs) > 0 {
		t.Errorf("soak: %s\n%s", strings.Join(errs, "; "), tail(out, 20))
	}
}

// channelResult compares veille's counter with the load model: errPct
// against the exact energy over the time veille's samples cover (what it
// integrates), coverage the share of the Pi's uptime they cover (a fast
// clock on a loaded host leaves some samples too late to bridge).
type channelResult struct {
	name                            string
	veille, measured, exact, errPct float64
	coverage                        float64
	exactErr                        string
}

type result struct {
	days                int
	speed               float64
	real                time.Duration
	simHours, upHours   float64
	boots               int
	rssFirst, rssLast   int64
	rssDay3, rssMax     int64
	anonFirst, anonDay3 int64
	anonLast            int64
	profFirst, profDay3 int64
	profLast            int64
	heapFirst, heapLast uint64
	heapDay3            uint64
	goFirst, goLast     int
	channels            []channelResult
	energyWrites        uint64
	spoolMax            int64
	violations          int
	outages             int
	outage              time.Duration
	frames, dupes, lost int
	runs, demoFrames    int
	// heapEnd is the in-use heap at the end, heapSim the part the
	// simulated world holds (its load model's history, for ExactEnergy).
	heapEnd, heapSim int64
	writes           map[string]int
}

func readStats(t *testing.T, path string) []stats {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ss []stats
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var s stats
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("stats line %q: %v", sc.Text(), err)
		}
		ss = append(ss, s)
	}
	return ss
}

// analyse takes the first and last simulated day's figures (while the
// agent runs: not the halted nights) and the final energy comparison.
func analyse(t *testing.T, ss []stats, start time.Time, days int) *result {
	r := &result{days: days}
	last := ss[len(ss)-1]
	r.real = time.Duration(last.RealS * float64(time.Second))
	r.simHours = last.Sim.Sub(start).Hours()
	r.boots = last.Boots
	r.energyWrites = last.EnergyWrites
	r.violations = last.Violations
	firstDayEnd := start.Add(24 * time.Hour)
	lastDayStart := last.Sim.Add(-24 * time.Hour)
	var rf, rl, r3, af, a3, al, pf, p3, pl []int64
	var hf, hl, h3 []uint64
	up := 0.0
	for i, s := range ss {
		r.rssMax = max(r.rssMax, s.RSSKiB)
		r.spoolMax = max(r.spoolMax, s.SpoolBytes)
		if !s.Running {
			continue
		}
		// An hour between two lines of the same boot (a night off lies
		// between two boots).
		if i > 0 && ss[i-1].Running && ss[i-1].Boots == s.Boots {
			up += s.Sim.Sub(ss[i-1].Sim).Hours()
		}
		// Day 1 from its third hour (the heap settles after the start).
		if s.Sim.After(start.Add(2*time.Hour)) && s.Sim.Before(firstDayEnd) {
			rf, hf, af, pf = append(rf, s.RSSKiB), append(hf, s.HeapKiB), append(af, s.RSSAnonKiB), append(pf, s.ProfKiB)
			r.goFirst = max(r.goFirst, s.Goroutines)
		}
		if s.Sim.After(start.Add(48*time.Hour)) && s.Sim.Before(start.Add(72*time.Hour)) {
			r3, h3, a3, p3 = append(r3, s.RSSKiB), append(h3, s.HeapKiB), append(a3, s.RSSAnonKiB), append(p3, s.ProfKiB)
		}
		if s.Sim.After(lastDayStart) {
			rl, hl, al, pl = append(rl, s.RSSKiB), append(hl, s.HeapKiB), append(al, s.RSSAnonKiB), append(pl, s.ProfKiB)
			r.goLast = max(r.goLast, s.Goroutines)
		}
	}
	r.upHours = up
	r.rssFirst, r.rssLast = median(rf), median(rl)
	r.heapFirst, r.heapLast = uint64(median(toInt(hf))), uint64(median(toInt(hl)))
	r.rssDay3, r.heapDay3 = median(r3), uint64(median(toInt(h3)))
	r.anonFirst, r.anonDay3, r.anonLast = median(af), median(a3), median(al)
	r.profFirst, r.profDay3, r.profLast = median(pf), median(p3), median(pl)
	for _, c := range last.Channels {
		cr := channelResult{name: c.Name, veille: c.VeilleWh, measured: c.MeasuredExactWh, exact: c.ExactWh, exactErr: c.ExactErr}
		if c.MeasuredExactWh > 0 {
			cr.errPct = 100 * (c.VeilleWh - c.MeasuredExactWh) / c.MeasuredExactWh
		}
		if r.upHours > 0 {
			cr.coverage = 100 * (1 - c.UnmeasuredS/3600/r.upHours)
		}
		r.channels = append(r.channels, cr)
	}
	if len(rf) == 0 || len(rl) == 0 {
		t.Fatalf("no stats while running on the first or last day (%d lines)", len(ss))
	}
	return r
}

func toInt(xs []uint64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func (r *result) lines() []string {
	perHour := func(n int) float64 { return float64(n) / r.simHours }
	l := []string{
		fmt.Sprintf("%d simulated days (%.0f h, %.0f h with the agent running) at %gx in %s real; %d starts of the agent",
			r.days, r.simHours, r.upHours, r.speed, r.real.Round(time.Second), r.boots),
		fmt.Sprintf("RSS median day 1 %d KiB, day 3 %d KiB, day %d %d KiB (max %d KiB), of which anonymous %d, %d and %d KiB, and in that the heap profiler's tables %d, %d and %d KiB; live heap median day 1 %d KiB, day 3 %d KiB, day %d %d KiB; goroutines max day 1 %d, day %d %d",
			r.rssFirst, r.rssDay3, r.days, r.rssLast, r.rssMax, r.anonFirst, r.anonDay3, r.anonLast, r.profFirst, r.profDay3, r.profLast, r.heapFirst, r.heapDay3, r.days, r.heapLast, r.goFirst, r.days, r.goLast),
		fmt.Sprintf("in-use heap at the end %d KiB: the simulated world %d KiB (its load model's recent history, kept for the exact energy), everything else (veille, the demo) %d KiB",
			r.heapEnd>>10, r.heapSim>>10, (r.heapEnd-r.heapSim)>>10),
	}
	for _, c := range r.channels {
		l = append(l, fmt.Sprintf("energy %-5s veille %.3f Wh, exact load over the sampled time %.3f Wh: %+.2f%% (samples cover %.1f%% of the uptime; exact load over all of it %.3f Wh)",
			c.name, c.veille, c.measured, c.errPct, c.coverage, c.exact))
	}
	l = append(l,
		fmt.Sprintf("state writes per simulated hour: energy.json %.2f (%d checkpoints), control.json %.3f, sleep records %.3f, spool appends %.2f; spool at most %d bytes",
			perHour(r.writes["energy"]), r.energyWrites, perHour(r.writes["control"]), perHour(r.writes["record"]), perHour(r.writes["spool"]), r.spoolMax),
		fmt.Sprintf("broker stopped %d times (%s in all): %d frames received by a persistent subscriber (%d by the demo's own listener), %d duplicates, %d lost, %d runs; violations %d",
			r.outages, r.outage.Round(time.Second), r.frames, r.demoFrames, r.dupes, r.lost, r.runs, r.violations),
	)
	return l
}

func (r *result) print(t *testing.T) {
	for _, l := range r.lines() {
		fmt.Printf("soak: %s\n", l)
	}
}

func (r *result) markdown() string {
	var b strings.Builder
	for _, l := range r.lines() {
		b.WriteString("- " + l + "\n")
	}
	return b.String()
}

// --- the state directory's writes, counted with inotify ---------------------

// watchWrites counts the writes in the state directory (files closed after
// writing, renames into place) and appends to the spool's segments. The
// returned function stops the count and gives it by kind.
func watchWrites(t *testing.T, state, spool string) func() map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	stop := peers.Watch(t, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_MODIFY, func(dir, name string, mask uint32) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case dir == spool && mask&unix.IN_MODIFY != 0:
			counts["spool"]++
		case mask&unix.IN_MOVED_TO == 0:
		case name == "energy.json":
			counts["energy"]++
		case name == "control.json":
			counts["control"]++
		default:
			counts["record"]++ // sleep and disk records, spool position
		}
		return true
	}, state, spool)
	return func() map[string]int {
		stop()
		mu.Lock()
		defer mu.Unlock()
		return counts
	}
}

// --- delivery ------------------------------------------------------------------

// delivery decodes the frames the persistent subscriber received (their run
// and seq, independently of veille's codec) and counts duplicates and gaps
// per run; a frame that does not decode counts as lost.
func delivery(sub *peers.Recorder) (frames, dupes, lost, runs int) {
	seen := map[uint64]map[uint64]bool{}
	for _, m := range sub.On("veille/soak/tele", 0) {
		f, err := peers.DecodeFrame(m.Payload)
		if err != nil {
			lost++
			continue
		}
		if seen[f.Run] == nil {
			seen[f.Run] = map[uint64]bool{}
		}
		if seen[f.Run][f.Seq] {
			dupes++
			continue
		}
		seen[f.Run][f.Seq] = true
		frames++
	}
	for _, seqs := range seen {
		lo, hi := uint64(math.MaxUint64), uint64(0)
		for q := range seqs {
			lo, hi = min(lo, q), max(hi, q)
		}
		lost += int(hi-lo+1) - len(seqs)
	}
	return frames, dupes, lost, len(seen)
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// heapByOwner reads a heap profile with go tool pprof: the in-use bytes,
// and those allocated by the simulated world (drivers/sim).
func heapByOwner(t *testing.T, path string) (total, sim int64) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-inuse_space", "-nodecount=100000", path).CombinedOutput()
	if err != nil {
		t.Errorf("go tool pprof %s: %v\n%s", path, err, out)
		return 0, 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.HasPrefix(line, "Showing nodes accounting for") {
			total = bytesOf(strings.TrimSuffix(f[len(f)-2], ","))
		}
		if len(f) == 6 && strings.HasSuffix(f[1], "%") && strings.Contains(f[5], "/drivers/sim.") {
			sim += bytesOf(f[0])
		}
	}
	if total == 0 {
		t.Errorf("go tool pprof printed no total:\n%s", out)
	}
	return total, sim
}

// bytesOf parses pprof's sizes: "512.02kB", "1.50MB", "0".
func bytesOf(s string) int64 {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f * u.mult)
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return int64(f)
}
