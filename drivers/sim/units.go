package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

type unit struct {
	o      UnitOpts
	active bool
	pid    int
}

func (u *unit) process() string {
	if u.o.Process != "" {
		return u.o.Process
	}
	n := u.o.Name
	if i := strings.LastIndexByte(n, '.'); i > 0 {
		n = n[:i]
	}
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

func (w *World) unitByName(name string) (*unit, error) {
	for _, u := range w.units {
		if u.o.Name == name {
			return u, nil
		}
	}
	return nil, fmt.Errorf("unit %s not loaded", name)
}

// StopUnit stops a unit and waits for the job, as systemd's StopUnit with
// mode "replace" would: an unknown unit is an error, an inactive one is
// already done, a unit scripted with RefuseStop fails its job and stays
// active.
func (w *World) StopUnit(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: stop %s: %w", name, err)
	}
	at := w.lock()
	defer w.unlock()
	u, err := w.unitByName(name)
	if err != nil {
		return fmt.Errorf("sim: stop %s: %w", name, err)
	}
	if !u.active {
		return nil
	}
	if u.o.RefuseStop {
		w.log.Info("sim: unit refused to stop", "unit", name, "at", at)
		return fmt.Errorf("sim: stop %s: job finished with result %q", name, "failed")
	}
	w.deactivate(at, u)
	return w.render(false)
}

// StartUnit starts a unit and waits for the job. Like systemd, it first
// mounts the fstab filesystems its RequiresMountsFor paths need; if one's
// disk is not there the job fails with "dependency".
func (w *World) StartUnit(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: start %s: %w", name, err)
	}
	at := w.lock()
	defer w.unlock()
	u, err := w.unitByName(name)
	if err != nil {
		return fmt.Errorf("sim: start %s: %w", name, err)
	}
	if w.board.state != BoardRunning {
		return fmt.Errorf("sim: start %s: the board is %s", name, w.board.state)
	}
	if u.active {
		return nil
	}
	if err := w.activate(at, u); err != nil {
		return fmt.Errorf("sim: start %s: %w", name, err)
	}
	return w.render(false)
}

func (w *World) activate(at time.Time, u *unit) error {
	for _, p := range u.o.RequiresMountsFor {
		p = w.rel(p)
		var need *partition
		for _, d := range w.disks {
			for _, part := range d.parts {
				mp := part.o.MountPoint
				if mp != "" && under(p, mp) && (need == nil || len(mp) > len(need.o.MountPoint)) {
					need = part
				}
			}
		}
		if need == nil || w.mountAt(need.o.MountPoint) != nil {
			continue
		}
		if !need.d.present {
			return fmt.Errorf("job finished with result %q: mount %s needs %s, which is not present",
				"dependency", need.o.MountPoint, "/dev/"+need.name)
		}
		opts := need.o.Options
		if opts == "" {
			opts = "rw,noatime"
		}
		w.mountLocked(at, need, need.o.MountPoint, opts)
	}
	u.active = true
	w.pids++
	u.pid = w.pids
	w.dirty = true
	w.log.Info("sim: unit started", "unit", u.o.Name, "at", at)
	return nil
}

func (w *World) deactivate(at time.Time, u *unit) {
	u.active = false
	u.pid = 0
	w.dirty = true
	w.log.Info("sim: unit stopped", "unit", u.o.Name, "at", at)
}

// UnitsForMount lists the active units with a RequiresMountsFor path on the
// filesystem mounted at path (the path itself or anything under it).
func (w *World) UnitsForMount(ctx context.Context, path string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: units for %s: %w", path, err)
	}
	w.lock()
	defer w.unlock()
	mp := w.rel(path)
	var out []string
	for _, u := range w.units {
		if !u.active {
			continue
		}
		for _, p := range u.o.RequiresMountsFor {
			if under(w.rel(p), mp) {
				out = append(out, u.o.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// UnitActive reports whether a unit runs.
func (w *World) UnitActive(name string) (bool, error) {
	w.lock()
	defer w.unlock()
	u, err := w.unitByName(name)
	if err != nil {
		return false, fmt.Errorf("sim: %w", err)
	}
	return u.active, nil
}

// unitIO is a unit's background I/O: on the disk holding its first
// RequiresMountsFor path, while it runs and that filesystem is mounted.
func (w *World) unitIO(at time.Time, u *unit) {
	if !u.active || w.board.state != BoardRunning || len(u.o.RequiresMountsFor) == 0 {
		return
	}
	p := w.rel(u.o.RequiresMountsFor[0])
	var best *mount
	for _, m := range w.mounts {
		if m.part != nil && under(p, m.target) && (best == nil || len(m.target) > len(best.target)) {
			best = m
		}
	}
	if best != nil && best.part.d.present {
		w.diskIO(at, best.part.d, u.o.IO.Duration, u.o.IO.Write)
	}
}
