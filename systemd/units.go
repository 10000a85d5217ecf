package systemd

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// JobError is a start or stop job that ended with a result other than
// "done": "failed", "timeout", "canceled", "dependency", "skipped", ...
type JobError struct {
	Unit   string
	Op     string // "start" or "stop"
	Result string
}

func (e *JobError) Error() string {
	return fmt.Sprintf("%s %s: job ended with result %q", e.Op, e.Unit, e.Result)
}

// TimerElapse is when a timer next fires, on the wall clock.
type TimerElapse struct {
	Timer string    // "backup.timer"
	Unit  string    // what it starts, "backup.service"
	Next  time.Time // NextElapseUSecRealtime
}

// Manager is a client of the systemd service manager
// (org.freedesktop.systemd1).
type Manager struct {
	opts Options
	conn *sd.Conn
	bus  *dbus.Conn // go-systemd's call connection, for what it has no method for
}

// DialManager connects to systemd on the bus opts names. ctx bounds the
// connection set-up only.
func DialManager(ctx context.Context, opts Options) (*Manager, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("systemd: connect to %s: %w", opts, err)
	}
	// go-systemd opens two connections: one for calls, one for the
	// JobRemoved signals that end jobs.
	var bus *dbus.Conn
	conn, err := sd.NewConnection(func() (*dbus.Conn, error) {
		c, err := dialContext(ctx, opts)
		if bus == nil {
			bus = c // the first one is the call connection
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("systemd: %w", err)
	}
	return &Manager{opts: opts, conn: conn, bus: bus}, nil
}

// Close closes the connections.
func (m *Manager) Close() error {
	m.conn.Close()
	return nil
}

// StopUnit stops a unit and waits for the job to end. It returns a *JobError
// unless the job's result is "done"; ctx bounds the wait (the job itself goes
// on in systemd).
func (m *Manager) StopUnit(ctx context.Context, name string) error {
	return m.job(ctx, "stop", name, "replace", m.conn.StopUnitContext)
}

// StartUnit starts a unit and waits for the job, like StopUnit.
func (m *Manager) StartUnit(ctx context.Context, name string) error {
	return m.job(ctx, "start", name, "replace", m.conn.StartUnitContext)
}

// job queues a job with call in the given job mode and waits for it.
func (m *Manager) job(ctx context.Context, op, name, mode string,
	call func(context.Context, string, string, chan<- string) (int, error)) error {
	done := make(chan string, 1) // go-systemd sends once, even if we stopped waiting
	id, err := call(ctx, name, mode, done)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return &JobError{Unit: name, Op: op, Result: result}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: waiting for job %d: %w", op, name, id, ctx.Err())
	}
}

// activeStates are the states of a unit that is running or about to.
var activeStates = []string{"active", "activating", "reloading"}

// stoppable are the unit types UnitsForMount returns: what runs programs or
// starts them. Targets, slices, devices, scopes (login sessions) and mounts
// themselves are left to their owners.
var stoppable = map[string]bool{"service": true, "socket": true, "timer": true, "path": true}

// UnitsForMount returns the active units that use the filesystem at path (a
// mount point), sorted: those whose RequiresMountsFor= names path or a path
// below it, and those that require, bind to or want the mount unit of path
// or of a mount below it. Only services, sockets, timers and path units are
// returned.
func (m *Manager) UnitsForMount(ctx context.Context, path string) ([]string, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("units for mount %q: not an absolute path", path)
	}
	path = filepath.Clean(path)
	units, err := m.conn.ListUnitsFilteredContext(ctx, activeStates)
	if err != nil {
		return nil, fmt.Errorf("units for mount %s: list units: %w", path, err)
	}
	active := map[string]bool{}
	for _, u := range units {
		if isActive(u.ActiveState) {
			active[u.Name] = true
		}
	}
	found := map[string]bool{}
	for _, u := range units {
		if !active[u.Name] {
			continue
		}
		kind := unitType(u.Name)
		switch {
		case kind == "mount":
			// UnescapePath, not go-systemd's UnitNamePathUnescape, which
			// leaves \x80-\xff escaped: a mount point with an accent
			// would match nothing.
			where, err := UnescapePath(strings.TrimSuffix(u.Name, ".mount"))
			if err != nil || !within(where, path) {
				continue
			}
			props, err := m.conn.GetUnitPathPropertiesContext(ctx, u.Path)
			if err != nil {
				if gone(err) {
					continue
				}
				return nil, fmt.Errorf("units for mount %s: %s: %w", path, u.Name, err)
			}
			p := variants(anyToVariants(props))
			for _, k := range []string{"RequiredBy", "RequisiteOf", "BoundBy", "WantedBy"} {
				for _, dep := range p.strs(k) {
					if active[dep] && stoppable[unitType(dep)] {
						found[dep] = true
					}
				}
			}
		case stoppable[kind]:
			prop, err := m.conn.GetUnitPropertyContext(ctx, u.Name, "RequiresMountsFor")
			if err != nil {
				if gone(err) {
					continue
				}
				return nil, fmt.Errorf("units for mount %s: %s: %w", path, u.Name, err)
			}
			paths, _ := prop.Value.Value().([]string)
			for _, p := range paths {
				if within(filepath.Clean(p), path) {
					found[u.Name] = true
				}
			}
		}
	}
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func isActive(state string) bool {
	for _, s := range activeStates {
		if s == state {
			return true
		}
	}
	return false
}

func unitType(name string) string { return name[strings.LastIndex(name, ".")+1:] }

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// go-systemd hands properties over as plain values.
func anyToVariants(m map[string]interface{}) map[string]dbus.Variant {
	out := make(map[string]dbus.Variant, len(m))
	for k, v := range m {
		out[k] = dbus.MakeVariant(v)
	}
	return out
}

// NextTimerElapses returns when the active timers matching patterns (shell
// globs such as "backup*.timer"; none means every timer) next fire on the
// wall clock, soonest first. Timers with only monotonic triggers
// (OnBootSec=, OnUnitActiveSec=) have no wall-clock time and are left out:
// their clock restarts when the machine does.
func (m *Manager) NextTimerElapses(ctx context.Context, patterns ...string) ([]TimerElapse, error) {
	if len(patterns) == 0 {
		patterns = []string{"*.timer"}
	}
	units, err := m.conn.ListUnitsByPatternsContext(ctx, []string{"active"}, patterns)
	if err != nil {
		return nil, fmt.Errorf("timers %q: list units: %w", patterns, err)
	}
	var out []TimerElapse
	for _, u := range units {
		if unitType(u.Name) != "timer" || u.ActiveState != "active" {
			continue
		}
		props, err := m.conn.GetUnitTypePropertiesContext(ctx, u.Name, "Timer")
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("timer %s: %w", u.Name, err)
		}
		p := variants(anyToVariants(props))
		next := p.usec("NextElapseUSecRealtime")
		if next.IsZero() {
			continue
		}
		out = append(out, TimerElapse{Timer: u.Name, Unit: p.str("Unit"), Next: next})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Next.Equal(out[j].Next) {
			return out[i].Next.Before(out[j].Next)
		}
		return out[i].Timer < out[j].Timer
	})
	return out, nil
}
