package main

import (
	"context"
	"encoding/json"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/energy"
)

type simTimeHandler struct {
	slog.Handler
	clk  *clock.Scaled
	wall *wallClock
}

func (h simTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	h.wall.mu.Lock()
	off := h.wall.offset
	h.wall.mu.Unlock()
	sim := h.clk.Now()
	r.AddAttrs(slog.Time("sim", sim))
	if off != 0 {
		r.AddAttrs(slog.Time("wall", sim.Add(off)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h simTimeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return simTimeHandler{h.Handler.WithAttrs(as), h.clk, h.wall}
}

func (h simTimeHandler) WithGroup(name string) slog.Handler {
	return simTimeHandler{h.Handler.WithGroup(name), h.clk, h.wall}
}

// statsWriter appends the soak figures to a file as JSON lines.
type statsWriter struct {
	f     *os.File
	d     *agent.Demo
	w     *sim.World
	c     *config.Config
	clk   *clock.Scaled
	wall  *wallClock
	start time.Time
	real  time.Time
	cov   *coverage
	mu    sync.Mutex
	// up is each rail's exact energy while the Pi was up, kept as a running
	// total (the world forgets its past: nothing is integrated from the
	// start again); offSeen counts the Off periods already subtracted.
	up      map[string]*upEnergy
	offSeen int
	// halts are the rails' cumulative energies at each halt not yet
	// subtracted, taken as it happens (World.OnHalt): a halt longer than
	// the world's history is still subtracted exactly. hmu guards them
	// alone: the hook may run inside a world call made under mu.
	hmu   sync.Mutex
	halts []haltMark
}

type haltMark struct {
	at  time.Time
	cum map[string]float64 // rail → J from the world's start
}

// upEnergy is a rail's exact energy since the demo started, less the
// nights off: CumulativeEnergy at the last sample, less its value at the
// start and every off period, each subtracted once, at the first line that
// sees it complete (offEnergy).
type upEnergy struct {
	atStart float64 // J from the world's start to the demo's
	off     float64 // J while the Pi was off
	err     error   // the total is unknown from here on
}

func (u *upEnergy) wh(w *sim.World, rail string, t time.Time) (float64, error) {
	if u.err != nil {
		return 0, u.err
	}
	cum, err := w.CumulativeEnergy(rail, t)
	if err != nil {
		return 0, err
	}
	return (cum - u.atStart - u.off) / 3600, nil
}

// coverage follows veille's samples as its energy ledger does and adds up
// the exact energy of each channel's rail over the same intervals: what
// veille's counter should hold. On a loaded host at high speed some samples
// come too late to count; comparing over what veille measured keeps that out
// of its accuracy.
type coverage struct {
	d      *agent.Demo
	w      *sim.World
	wall   *wallClock
	rails  map[string]string // channel → rail
	maxGap time.Duration     // the longest interval a reading may stand for (the agent's rule)
	mu     sync.Mutex
	meas   map[string]*measured
	boots  int
}

func newCoverage(d *agent.Demo, w *sim.World, c *config.Config, wall *wallClock) *coverage {
	rails := map[string]string{}
	for _, s := range agent.WorldOpts(c, clock.Real{}).Sensors {
		if n := channelName(c, s.Addr); n != "" {
			rails[n] = s.Rail
		}
	}
	return &coverage{d: d, w: w, wall: wall, rails: rails, maxGap: 3 * c.Sampling.Interval.D(), meas: map[string]*measured{}}
}

// exact returns the exact energy over the covered intervals, in Wh, and the
// time not covered since the channel's first sample.
func (cv *coverage) exact(name string) (wh float64, unmeasured time.Duration, ok bool) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	m := cv.meas[name]
	if m == nil || cv.rails[name] == "" {
		return 0, 0, false
	}
	return m.exactJ / 3600, m.unmeasured, true
}

// measured mirrors, from the samples veille takes, the time its ledger
// integrates: the exact energy of a channel's rail over exactly those
// intervals, and the time it cannot count (a sensor away, a sample later
// than maxGap on a loaded host at high speed).
type measured struct {
	last       time.Time // world time of the last good sample
	exactJ     float64
	unmeasured time.Duration
}

type statsLine struct {
	Sim    time.Time `json:"sim"`
	Wall   time.Time `json:"wall"`
	RealS  float64   `json:"real_s"`
	RSSKiB int64     `json:"rss_kib"`
	// RSSAnonKiB is the anonymous part of RSSKiB (heap, stacks, runtime);
	// the rest is mostly the binary's pages as they are touched.
	RSSAnonKiB int64 `json:"rss_anon_kib"`
	// ProfKiB is the memory profiler's own tables (BuckHashSys), in the
	// anonymous RSS: they grow as new allocation stacks are sampled, a
	// little every day with --heap-profile's fine sampling.
	ProfKiB    uint64         `json:"prof_kib"`
	HeapKiB    uint64         `json:"heap_kib"` // live, after a collection
	Goroutines int            `json:"goroutines"`
	Boots      int            `json:"boots"`
	Running    bool           `json:"running"`
	State      string         `json:"state,omitempty"`
	Channels   []statsChannel `json:"channels,omitempty"`
	// EnergyWrites is the checkpoint count energy.json carries.
	EnergyWrites uint64 `json:"energy_writes"`
	SpoolBytes   int64  `json:"spool_bytes"`
	PersistErr   string `json:"persist_err,omitempty"`
	Violations   int    `json:"violations"`
}

type statsChannel struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// VeilleWh is the published lifetime counter; ExactWh the exact energy of
	// the channel's rail since the demo started, while the Pi was up;
	// MeasuredExactWh the exact energy over the intervals veille's samples
	// cover (what its counter should hold, from 0 at the start), and
	// UnmeasuredS the time they do not.
	VeilleWh        float64 `json:"veille_wh"`
	ExactWh         float64 `json:"exact_wh"`
	MeasuredExactWh float64 `json:"measured_exact_wh"`
	UnmeasuredS     float64 `json:"unmeasured_s"`
	// ExactErr says why ExactWh is unknown.
	ExactErr string `json:"exact_err,omitempty"`
}

func newStatsWriter(path string, d *agent.Demo, w *sim.World, c *config.Config, clk *clock.Scaled, wall *wallClock, start time.Time, cov *coverage) (*statsWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--stats: %w", err)
	}
	s := &statsWriter{f: f, d: d, w: w, c: c, clk: clk, wall: wall, start: start, real: time.Now(), cov: cov, up: map[string]*upEnergy{}}
	for _, rail := range cov.rails {
		if _, ok := s.up[rail]; ok || rail == "" {
			continue
		}
		u := &upEnergy{}
		u.atStart, u.err = w.CumulativeEnergy(rail, start)
		s.up[rail] = u
	}
	w.OnHalt(s.halted)
	return s, nil
}

// halted records the rails' cumulative energies as the Pi halts.
func (s *statsWriter) halted(at time.Time) {
	m := haltMark{at: at, cum: map[string]float64{}}
	for rail := range s.up {
		if c, err := s.w.CumulativeEnergy(rail, at); err == nil {
			m.cum[rail] = c
		}
	}
	s.hmu.Lock()
	s.halts = append(s.halts, m)
	s.hmu.Unlock()
}

// offEnergy is a rail's exact energy over an off period [o[0], o[1]): from
// the world's history, or, for a halt longer than it, from the cumulative
// energy recorded at the halt.
func (s *statsWriter) offEnergy(rail string, o [2]time.Time) (float64, error) {
	e, err := s.w.ExactEnergy(rail, o[0], o[1])
	if err == nil {
		return e, nil
	}
	s.hmu.Lock()
	var c0 float64
	ok := false
	for _, m := range s.halts {
		if m.at.Equal(o[0]) {
			c0, ok = m.cum[rail]
		}
	}
	s.hmu.Unlock()
	if !ok {
		return 0, err
	}
	c1, err := s.w.CumulativeEnergy(rail, o[1])
	if err != nil {
		return 0, err
	}
	return c1 - c0, nil
}

// forgetHalts drops the marks of halts up to at (subtracted already).
func (s *statsWriter) forgetHalts(at time.Time) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	n := 0
	for _, m := range s.halts {
		if m.at.After(at) {
			s.halts[n] = m
			n++
		}
	}
	clear(s.halts[n:])
	s.halts = s.halts[:n]
}

// worldTime converts a time on the Pi's wall clock (what veille stamps its
// samples with) to the world's clock.
func (c *wallClock) worldTime(t time.Time) time.Time {
	if c == nil {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return t.Add(-c.offset)
}

// observe follows veille's samples as its ledger does: a good reading
// counts the time since the previous one, at most maxGap; a failed one, or
// a new start of the agent, begins afresh.
func (cv *coverage) observe(e agent.Event) {
	if e.Kind != agent.EventSample || e.Snapshot == nil {
		return
	}
	t := cv.wall.worldTime(e.Snapshot.Time)
	boots, _ := cv.d.Progress()
	cv.mu.Lock()
	defer cv.mu.Unlock()
	restarted := boots != cv.boots
	cv.boots = boots
	for _, ch := range e.Snapshot.Channels {
		m := cv.meas[ch.Name]
		if m == nil {
			m = &measured{}
			cv.meas[ch.Name] = m
		}
		rail := cv.rails[ch.Name]
		if restarted {
			m.last = time.Time{}
		}
		if !ch.OK || rail == "" {
			if !m.last.IsZero() && t.After(m.last) {
				m.unmeasured += t.Sub(m.last)
			}
			m.last = time.Time{}
			continue
		}
		if !m.last.IsZero() && t.After(m.last) {
			from := m.last
			if gap := t.Sub(from); gap > cv.maxGap {
				m.unmeasured += gap - cv.maxGap
				from = t.Add(-cv.maxGap)
			}
			if j, err := cv.w.ExactEnergy(rail, from, t); err == nil {
				m.exactJ += j
			}
		}
		m.last = t
	}
}

func (s *statsWriter) run(ctx context.Context, every time.Duration) {
	for clock.Sleep(s.clk, every, ctx.Done()) {
		s.write()
	}
}

func (s *statsWriter) write() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.w.Now()
	rss := procStatus("VmRSS", "RssAnon")
	l := statsLine{Sim: now, RealS: time.Since(s.real).Seconds(), Goroutines: runtime.NumGoroutine(), RSSKiB: rss[0], RSSAnonKiB: rss[1],
		Violations: len(s.w.Violations())}
	var ms runtime.MemStats
	runtime.GC() // the live heap, not what the next collection frees
	runtime.ReadMemStats(&ms)
	l.HeapKiB = ms.HeapAlloc / 1024
	l.ProfKiB = ms.BuckHashSys / 1024
	boots, off := s.d.Progress()
	l.Boots = boots
	snap, ok := s.d.Snapshot()
	l.Running = ok && s.w.BoardState() == sim.BoardRunning
	if ok {
		l.Wall, l.State, l.PersistErr = snap.Time, snap.State.String(), snap.PersistErr
		// Up to the agent's last sample (on the world's clock), while the
		// Pi was up: the nights that ended before it are subtracted once.
		upTo := s.wall.worldTime(snap.Time)
		if upTo.Before(s.start) {
			upTo = s.start
		}
		if p := s.w.Now(); upTo.After(p) {
			upTo = p // a clock step between the sample and now
		}
		for ; s.offSeen < len(off) && off[s.offSeen][1].Before(upTo); s.offSeen++ {
			o := off[s.offSeen]
			for rail, u := range s.up {
				if u.err != nil {
					continue
				}
				e, err := s.offEnergy(rail, o)
				if err != nil {
					u.err = fmt.Errorf("the Pi off %s–%s: %w", o[0].Format(time.RFC3339), o[1].Format(time.RFC3339), err)
				}
				u.off += e
			}
			s.forgetHalts(o[0])
		}
		for _, ch := range snap.Channels {
			sc := statsChannel{Name: ch.Name, OK: ch.OK, VeilleWh: ch.EnergyWh}
			if u := s.up[s.cov.rails[ch.Name]]; u != nil {
				if wh, err := u.wh(s.w, s.cov.rails[ch.Name], upTo); err != nil {
					sc.ExactErr = err.Error()
				} else {
					sc.ExactWh = wh
				}
			}
			if wh, un, ok := s.cov.exact(ch.Name); ok {
				sc.MeasuredExactWh, sc.UnmeasuredS = wh, un.Seconds()
			}
			l.Channels = append(l.Channels, sc)
		}
	}
	if st, err := (&energy.Store{Dir: s.c.StateDir}).Load(); err == nil {
		l.EnergyWrites = st.Writes
	}
	filepath.WalkDir(filepath.Join(s.c.StateDir, "spool"), func(_ string, e iofs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				l.SpoolBytes += info.Size()
			}
		}
		return nil
	})
	b, _ := json.Marshal(l)
	s.f.Write(append(b, '\n'))
}

func (s *statsWriter) close() { s.f.Close() }

// procStatus returns the named kB fields of /proc/self/status (VmRSS,
// RssAnon), 0 for each one absent (no /proc).
func procStatus(names ...string) []int64 {
	out := make([]int64, len(names))
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		for k, name := range names {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				out[k], _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			}
		}
	}
	return out
}

// writeHeapProfile writes the in-use heap after a collection, so a soak can
// tell what holds memory: veille, or the simulated world (which keeps the
// last demoHistory of its load model's steps for the exact energy).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
