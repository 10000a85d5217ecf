package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
)

// World is the simulated home server: a Raspberry Pi, its USB hubs and
// disks, the INA sensors on its I²C bus, its GPIO button, and the files the
// kernel would show for all of it under Root. See the package documentation
// for how time and files work.
//
// World implements the low-level back-ends veille's upper layers use (see
// docs/ARCHITECTURE.md): Command (usbdisk.Transport), Mount and Unmount
// (power.Mounter), StopUnit, StartUnit and UnitsForMount (power.Units),
// PowerOff and Reboot (power.Halter). All methods are safe for concurrent use.
type World struct {
	mu    sync.Mutex
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	root  string
	own   bool // root is ours to remove
	log   *slog.Logger
	seed  uint64

	origin time.Time
	t      time.Time // the world has processed everything up to here
	// history is Opts.History; forgot the last horizon the rails were
	// folded to (see forget).
	history time.Duration
	forgot  time.Time
	q       eventQueue
	seq     uint64

	board   *board
	hubs    []*hub
	hubBy   map[string]*hub
	groups  []*powerGroup
	disks   []*disk
	diskBy  map[string]*disk
	rails   []*rail
	railBy  map[string]*rail
	bus     *Bus
	sensors []*sensor
	mounts  []*mount
	mountID int
	units   []*unit
	conns   []*Conn
	files   []*OpenFile
	inhib   []*Inhibitor
	button  *Button
	alarm   alarm
	net     netCounters

	violations  []Violation
	hooks       []func()
	onHalt      []func(at time.Time)
	onBoot      []func(at time.Time)
	inputs      map[string]string // content of each file veille writes, as last seen
	prev        tree              // what the last render wrote
	nextInode   uint64
	tmpN        uint64
	pids        int
	scsiHosts   int
	listen      []uint16
	listenInode []uint64
	watch       *watcher
	kick        chan struct{}
	closed      bool
	dirty       bool // something structural changed since the last render
}

// Violation is something veille must never make the world do: cut the
// power of a disk whose filesystem is mounted, or of a disk in the middle of
// I/O. Tests assert there are none.
type Violation struct {
	At     time.Time
	Disk   string
	What   string
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s (%s)", v.At.UTC().Format(time.RFC3339Nano), v.Disk, v.What, v.Detail)
}

// New builds a world from opts and writes its files. Call Close when done.
func New(opts Opts) (*World, error) {
	if opts.Now == nil {
		return nil, errors.New("sim: Opts.Now is required")
	}
	if opts.History < 0 {
		return nil, fmt.Errorf("sim: Opts.History %s is negative", opts.History)
	}
	w := &World{
		now:       opts.Now,
		after:     opts.After,
		root:      opts.Root,
		log:       opts.Logger,
		seed:      opts.Seed,
		history:   opts.History,
		hubBy:     map[string]*hub{},
		diskBy:    map[string]*disk{},
		railBy:    map[string]*rail{},
		inputs:    map[string]string{},
		kick:      make(chan struct{}),
		mountID:   21,
		nextInode: 18000,
	}
	if w.log == nil {
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if w.root == "" {
		dir, err := os.MkdirTemp(tmpfsDir(), "veille-sim-")
		if err != nil {
			dir, err = os.MkdirTemp("", "veille-sim-")
		}
		if err != nil {
			return nil, fmt.Errorf("sim: make root: %w", err)
		}
		w.root, w.own = dir, true
	}
	w.watch = newWatcher()
	abs, err := filepath.Abs(w.root)
	if err != nil {
		return nil, fmt.Errorf("sim: root %s: %w", w.root, err)
	}
	w.root = abs
	w.origin = w.now()
	w.t = w.origin
	w.forgot = w.origin
	if err := w.build(opts); err != nil {
		w.cleanup()
		return nil, err
	}
	if err := w.render(true); err != nil {
		w.cleanup()
		return nil, err
	}
	return w, nil
}

func (w *World) cleanup() {
	w.watch.close()
	if w.own {
		_ = os.RemoveAll(w.root)
	}
}

// Close stops the world and removes its root if New made it.
func (w *World) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	close(w.kick)
	w.watch.close()
	if w.own {
		if err := os.RemoveAll(w.root); err != nil {
			return fmt.Errorf("sim: remove root %s: %w", w.root, err)
		}
	}
	return nil
}

// Root is the directory that stands for "/": every kernel path veille reads
// is Root + "/sys/...", Root + "/proc/...".
func (w *World) Root() string { return w.root }

// Path returns Root + p.
func (w *World) Path(p string) string { return filepath.Join(w.root, p) }

// Bus is the emulated I²C bus with the sensors on it.
func (w *World) Bus() *Bus { return w.bus }

// Button is the GPIO button, or nil if the world has none.
func (w *World) Button() *Button { return w.button }

// OnHalt registers f to run when the board has halted (the demo stops the
// agent there). OnBoot registers f to run when a boot has completed. They run
// on the goroutine that made the world notice, after the world's lock is
// released; they may call the world.
func (w *World) OnHalt(f func(at time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onHalt = append(w.onHalt, f)
}

// OnBoot: see OnHalt.
func (w *World) OnBoot(f func(at time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onBoot = append(w.onBoot, f)
}

// lock takes the world's lock and brings the world to the present: events
// up to now are processed and the files veille may have written are read.
// unlock releases it and runs the hooks that fired meanwhile.
func (w *World) lock() time.Time {
	w.mu.Lock()
	w.syncLocked()
	return w.t
}

func (w *World) unlock() {
	hooks := w.hooks
	w.hooks = nil
	w.mu.Unlock()
	for _, h := range hooks {
		h()
	}
}

func (w *World) syncLocked() {
	if w.closed {
		return
	}
	before := w.t
	w.advance(w.now())
	w.forget()
	w.pollInputs()
	if w.t.After(before) {
		w.wake()
	}
}

// wake tells goroutines waiting on the world (a button WaitForEdge) that it
// moved.
func (w *World) wake() {
	if w.closed {
		return
	}
	close(w.kick)
	w.kick = make(chan struct{})
}

// Sync brings the world to the present and rewrites every file: counters
// that grow with time (diskstats, network bytes, load, temperature, uptime,
// the RTC) are as of the last Sync or world-changing call.
func (w *World) Sync() error {
	w.lock()
	defer w.unlock()
	if w.closed {
		return errors.New("sim: world closed")
	}
	return w.render(false)
}

// Run calls Sync every interval of real time until ctx is done; the demo runs
// it so files follow its fast clock. Tests call Sync instead.
func (w *World) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := w.Sync(); err != nil {
				return err
			}
		}
	}
}

// Now brings the world to the present and returns it (Opts.Now, or the
// last time processed if the clock went back).
func (w *World) Now() time.Time {
	t := w.lock()
	defer w.unlock()
	return t
}

// Violations lists what veille made the world do that loses data.
func (w *World) Violations() []Violation {
	w.lock()
	defer w.unlock()
	return append([]Violation(nil), w.violations...)
}

func (w *World) violate(at time.Time, d *disk, what, detail string) {
	v := Violation{At: at, Disk: d.o.Name, What: what, Detail: detail}
	w.violations = append(w.violations, v)
	w.log.Warn("sim: violation", "disk", d.o.Name, "what", what, "detail", detail, "at", at)
}

// ExactEnergy returns the energy in joules that flowed through rail over
// [t0, t1): the exact integral of the load model, for accuracy benchmarks.
// t1 must not be after the world's present; with Opts.History, t0 must not
// be before the rail's horizon (Horizon).
func (w *World) ExactEnergy(rail string, t0, t1 time.Time) (float64, error) {
	w.lock()
	defer w.unlock()
	r, ok := w.railBy[rail]
	if !ok {
		return 0, fmt.Errorf("sim: exact energy: no rail %q (have %v)", rail, w.railNames())
	}
	if t1.After(w.t) {
		return 0, fmt.Errorf("sim: exact energy on %s: %s is after the world's present %s",
			rail, t1.Format(time.RFC3339Nano), w.t.Format(time.RFC3339Nano))
	}
	if !t1.After(t0) {
		return 0, nil
	}
	if err := w.remembers(r, "exact energy", t0); err != nil {
		return 0, fmt.Errorf("%w (over [%s, %s))", err, t0.Format(time.RFC3339Nano), t1.Format(time.RFC3339Nano))
	}
	return r.trace.Energy(t0, t1), nil
}

// CumulativeEnergy returns the energy in joules that flowed through rail
// from the world's start to t: exact at any t from the rail's horizon
// (Horizon) to the present, whatever the world has forgotten, so that a
// long run can keep a running total without the history.
func (w *World) CumulativeEnergy(rail string, t time.Time) (float64, error) {
	w.lock()
	defer w.unlock()
	r, ok := w.railBy[rail]
	if !ok {
		return 0, fmt.Errorf("sim: cumulative energy: no rail %q (have %v)", rail, w.railNames())
	}
	if t.After(w.t) {
		return 0, fmt.Errorf("sim: cumulative energy on %s: %s is after the world's present %s",
			rail, t.Format(time.RFC3339Nano), w.t.Format(time.RFC3339Nano))
	}
	if t.After(w.origin) {
		if err := w.remembers(r, "cumulative energy", t); err != nil {
			return 0, err
		}
	}
	_, _, e := r.trace.Cumulative(t)
	return e, nil
}

// Horizon returns the earliest time ExactEnergy and RailAt can answer for
// on rail: the world's start, or with Opts.History what it has not
// forgotten yet (at least History before the present).
func (w *World) Horizon(rail string) (time.Time, error) {
	w.lock()
	defer w.unlock()
	r, ok := w.railBy[rail]
	if !ok {
		return time.Time{}, fmt.Errorf("sim: horizon: no rail %q (have %v)", rail, w.railNames())
	}
	return w.horizon(r), nil
}

// RailAt returns a rail's bus voltage and current at t (not after the
// present).
func (w *World) RailAt(rail string, t time.Time) (physic.ElectricPotential, physic.ElectricCurrent, error) {
	w.lock()
	defer w.unlock()
	r, ok := w.railBy[rail]
	if !ok {
		return 0, 0, fmt.Errorf("sim: rail %q: no such rail (have %v)", rail, w.railNames())
	}
	if t.After(w.t) {
		return 0, 0, fmt.Errorf("sim: rail %s at %s: after the world's present", rail, t.Format(time.RFC3339Nano))
	}
	if err := w.remembers(r, "rail", t); err != nil {
		return 0, 0, err
	}
	v, i := r.trace.At(t)
	return physic.ElectricPotential(v * float64(physic.Volt)), physic.ElectricCurrent(i * float64(physic.Ampere)), nil
}

// RailPower is a rail's power now.
func (w *World) RailPower(rail string) (physic.Power, error) {
	w.lock()
	defer w.unlock()
	r, ok := w.railBy[rail]
	if !ok {
		return 0, fmt.Errorf("sim: rail %q: no such rail (have %v)", rail, w.railNames())
	}
	v, i := r.trace.At(w.t)
	return physic.Power(v * i * float64(physic.Watt)), nil
}

// railSignal returns a rail's trace as the Signal its sensors see; only
// chips on the world's bus (under the world's lock) may read it.
func (w *World) railSignal(name string) (Signal, error) {
	r, ok := w.railBy[name]
	if !ok {
		return nil, fmt.Errorf("no rail %q (have %v)", name, w.railNames())
	}
	return r.trace, nil
}

func (w *World) railNames() []string {
	var out []string
	for _, r := range w.rails {
		out = append(out, r.o.Name)
	}
	sort.Strings(out)
	return out
}

// inode hands out socket inode numbers.
func (w *World) inode() uint64 {
	w.nextInode++
	return w.nextInode
}
