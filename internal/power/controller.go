package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/veille/veille/drivers/usbdisk"
)

// Controller runs one power sequence at a time.
type Controller struct {
	o      Options
	finder usbdisk.Finder

	mu      sync.Mutex
	running string
	since   time.Time
	cancel  context.CancelFunc
	asleep  *disksRecord // the disks are asleep; nil when awake
}

// New checks opts and loads the record of disks put to sleep earlier in
// this boot, if any.
func New(opts Options) (*Controller, error) {
	opts.Disks = append([]Disk(nil), opts.Disks...)
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c := &Controller{o: opts, finder: usbdisk.Finder{Root: opts.Root}}
	rec, err := c.loadDisksRecord()
	if err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	c.asleep = rec
	return c, nil
}

// Running names the sequence that runs now, or "".
func (c *Controller) Running() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// DisksAreAsleep reports whether the disks were put to sleep and not yet woken.
func (c *Controller) DisksAreAsleep() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asleep != nil
}

// Abort cancels the running sequence, which then undoes what it did. It
// reports whether a sequence was running.
func (c *Controller) Abort() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel == nil {
		return false
	}
	c.cancel()
	return true
}

func (c *Controller) begin(ctx context.Context, name string) (*run, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != "" {
		return nil, nil, fmt.Errorf("%s: %w (%s since %s)", name, ErrBusy, c.running, c.since.Format(time.TimeOnly))
	}
	ctx, cancel := context.WithCancel(ctx)
	c.running, c.since, c.cancel = name, c.o.Clock.Now(), cancel
	r := &run{c: c, seq: name, ctx: ctx}
	end := func() {
		cancel()
		c.mu.Lock()
		c.running, c.cancel = "", nil
		c.mu.Unlock()
	}
	c.o.Log.Info("power sequence starts", "sequence", name, "dry_run", c.o.DryRun)
	return r, end, nil
}

func (c *Controller) layout() (usbdisk.Layout, error) {
	if c.o.Layout != nil {
		return *c.o.Layout, nil
	}
	return usbdisk.DetectLayout(c.o.Root, c.o.GangedHubs)
}

// run is one sequence under way: it emits events and keeps the undo stack.
type run struct {
	c    *Controller
	seq  string
	ctx  context.Context
	undo []undoEntry
}

type undoEntry struct {
	disk string
	step Step
	what string
	fn   func(ctx context.Context) error
}

type result struct {
	detail string
	warn   bool
}

func (r *run) emit(disk string, step Step, out Outcome, d time.Duration, detail string, saving float64) {
	e := Event{Time: r.c.o.Clock.Now(), Sequence: r.seq, Disk: disk, Step: step, Outcome: out, Duration: d, Detail: detail, Saving: saving}
	level := slog.LevelInfo
	switch out {
	case Failed, UndoFailed:
		level = slog.LevelError
	case Warning:
		level = slog.LevelWarn
	}
	r.c.o.Log.Log(context.Background(), level, "power step",
		"sequence", r.seq, "disk", disk, "step", string(step), "outcome", string(out), "duration", d, "detail", detail)
	if r.c.o.OnEvent != nil {
		r.c.o.OnEvent(e)
	}
}

// do runs one step, or in a dry run only says what it would do. what is
// the exact action ("stop jellyfin.service", "write 1 to …/disable").
func (r *run) do(disk string, step Step, what string, fn func() (result, error)) error {
	if r.c.o.DryRun {
		r.emit(disk, step, DryRun, 0, "would "+what, 0)
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		r.emit(disk, step, Skipped, 0, what+": "+err.Error(), 0)
		return &StepError{Sequence: r.seq, Disk: disk, Step: step, Err: fmt.Errorf("%s: %w", what, err)}
	}
	start := r.c.o.Clock.Now()
	res, err := fn()
	d := r.c.o.Clock.Now().Sub(start)
	if err != nil {
		r.emit(disk, step, Failed, d, what+": "+err.Error(), 0)
		return &StepError{Sequence: r.seq, Disk: disk, Step: step, Err: fmt.Errorf("%s: %w", what, err)}
	}
	detail := what
	if res.detail != "" {
		detail += ": " + res.detail
	}
	out := OK
	if res.warn {
		out = Warning
	}
	r.emit(disk, step, out, d, detail, 0)
	return nil
}

// look runs a step that only reads (finding a disk), in a dry run too.
func (r *run) look(disk string, step Step, what string, fn func() (result, error)) error {
	start := r.c.o.Clock.Now()
	res, err := fn()
	d := r.c.o.Clock.Now().Sub(start)
	if err != nil {
		r.emit(disk, step, Failed, d, what+": "+err.Error(), 0)
		return &StepError{Sequence: r.seq, Disk: disk, Step: step, Err: fmt.Errorf("%s: %w", what, err)}
	}
	detail := what
	if res.detail != "" {
		detail += ": " + res.detail
	}
	r.emit(disk, step, OK, d, detail, 0)
	return nil
}

// note emits a step that needs no action (skipped, or a query result).
func (r *run) note(disk string, step Step, out Outcome, detail string) {
	r.emit(disk, step, out, 0, detail, 0)
}

func (r *run) pushUndo(disk string, step Step, what string, fn func(ctx context.Context) error) {
	if r.c.o.DryRun {
		return
	}
	r.undo = append(r.undo, undoEntry{disk: disk, step: step, what: what, fn: fn})
}

// rollback undoes every step done so far, in reverse, even if the
// sequence's context was cancelled, and returns cause with what the
// rollback did.
func (r *run) rollback(cause error) error {
	if len(r.undo) == 0 {
		return cause
	}
	ctx := context.WithoutCancel(r.ctx)
	var failed []error
	for i := len(r.undo) - 1; i >= 0; i-- {
		u := r.undo[i]
		start := r.c.o.Clock.Now()
		err := u.fn(ctx)
		d := r.c.o.Clock.Now().Sub(start)
		if err != nil {
			r.emit(u.disk, u.step, UndoFailed, d, u.what+": "+err.Error(), 0)
			failed = append(failed, fmt.Errorf("%s: %w", u.what, err))
			continue
		}
		r.emit(u.disk, u.step, Undone, d, u.what, 0)
	}
	r.undo = nil
	if len(failed) > 0 {
		return fmt.Errorf("%w; rolling back also failed: %w", cause, errors.Join(failed...))
	}
	return fmt.Errorf("%w (rolled back, the system is awake)", cause)
}

// unitCtx bounds one unit stop or start.
func (r *run) unitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.c.o.UnitTimeout)
}

// sleep waits d on the controller's clock; false if the run was cancelled.
func (r *run) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-r.c.o.Clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

func openDir(root, p string) (*os.File, error) {
	return os.Open(filepath.Join(root, p))
}
