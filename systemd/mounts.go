package systemd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Mounts mounts and unmounts filesystems by starting and stopping their
// mount units, as `systemctl start srv-media.mount` does: systemd runs
// mount(8) and umount(8) in the system's mount namespace, so the mount is
// everyone's, and the caller needs neither CAP_SYS_ADMIN nor to share that
// namespace (veille.service has a private one). polkit decides who may ask
// (polkit-1/rules.d/50-veille.rules).
//
// Unmount stops the mount unit of the mount point. It refuses, before
// asking, when systemd would stop other units with it (those that
// require, bind to or are part of the mount, or that it propagates its
// stop to; see DependentsError) or when the unit would unmount lazily or by
// force (LazyUnmount=, ForceUnmount=). Its job runs in mode "fail", so a
// start of the same unit queued by someone else makes it fail instead of
// being cancelled. Mode "fail" alone would not keep the dependents
// running: in every mode but "ignore-requirements" (which would leave them
// running on a filesystem that is gone) a stop job takes them along, hence
// the check first. A unit that starts between the check and the job is
// stopped with it; the check narrows that window, it cannot close it.
//
// Mount starts the mount unit of the mount point when one exists with a
// unit file: an fstab entry (systemd-fstab-generator writes one), a
// .mount file, or a transient unit still loaded. Its What= must be the
// device asked for (after symbolic links, so /dev/disk/by-uuid/… is
// /dev/sda1); its options are the unit's own. Otherwise Mount asks for a
// transient mount unit (StartTransientUnit) with What=, Where=, Type= and
// Options= as given. A transient unit lives until it is stopped or the
// machine shuts down (CollectMode=inactive-or-failed also drops it once
// failed): it is not written anywhere and does not mount anything at the
// next boot; an fstab entry does. Before version 257, systemd does not
// tell polkit which unit a transient unit is, so polkit can only allow
// every transient unit (a root service with any command) or none:
// veille's rule allows none, and a disk without an fstab entry or a mount
// unit can then not be mounted again by an unprivileged veille. Mount says
// so.
type Mounts struct {
	Manager *Manager
	// Resolve resolves the symbolic links of a device path
	// (/dev/disk/by-uuid/…), to tell whether a mount unit mounts the
	// device asked for; nil is filepath.EvalSymlinks.
	Resolve func(path string) (string, error)
}

// The job mode of Mount and Unmount: fail rather than cancel someone
// else's queued job on the same unit.
const mountJobMode = "fail"

// ErrNotMounted is returned by Unmount when systemd knows no active mount
// unit for the target.
var ErrNotMounted = errors.New("not mounted")

// ErrTransientRefused is returned by Mount when systemd (polkit) refused a
// transient mount unit.
var ErrTransientRefused = errors.New("systemd refused a transient mount unit")

// DependentsError is an unmount refused because stopping the mount unit
// would also stop other active units.
type DependentsError struct {
	Where string
	Unit  string   // the mount unit
	Units []string // the active units its stop would take along, sorted
}

func (e *DependentsError) Error() string {
	msg := fmt.Sprintf("unmount %s: stopping %s would also stop %s, which require, bind to or are part of it; "+
		"veille stops only the units it is given (the disk's units, and those that need the mount point)",
		e.Where, e.Unit, strings.Join(e.Units, ", "))
	for _, u := range e.Units {
		if u == "local-fs.target" || u == "remote-fs.target" {
			msg += "; an fstab entry without nofail is required by " + u + ": add nofail to it"
			break
		}
	}
	return msg
}

// UnmountError is a stop job of a mount unit that did not end with
// "done". When the filesystem is still mounted afterwards, umount(8)
// failed, almost always because the filesystem is busy: errors.Is(err,
// syscall.EBUSY) is then true, as for umount(2).
type UnmountError struct {
	Where        string
	Unit         string
	JobResult    string // "failed", "timeout", "canceled", ...
	Result       string // the unit's Result= after the job ("exit-code", "timeout"), "" if unknown
	StillMounted bool
}

func (e *UnmountError) Error() string {
	why := fmt.Sprintf("job ended with result %q", e.JobResult)
	if e.Result != "" && e.Result != "success" {
		why += ", umount result " + e.Result
	}
	switch {
	case e.busy():
		return fmt.Sprintf("unmount %s: systemd could not unmount it (stop %s: %s): still mounted, the filesystem is busy "+
			"(journalctl -u %s has umount's message)", e.Where, e.Unit, why, e.Unit)
	case e.StillMounted:
		return fmt.Sprintf("unmount %s: systemd could not unmount it (stop %s: %s): still mounted (journalctl -u %s)", e.Where, e.Unit, why, e.Unit)
	}
	return fmt.Sprintf("unmount %s: stop %s: %s (journalctl -u %s)", e.Where, e.Unit, why, e.Unit)
}

// busy: umount(8) ran, failed, and left the filesystem mounted.
func (e *UnmountError) busy() bool { return e.StillMounted && e.JobResult == "failed" }

// Is makes a busy filesystem match syscall.EBUSY.
func (e *UnmountError) Is(target error) bool { return target == syscall.EBUSY && e.busy() }

// mountUnit is what Mounts reads of a mount unit.
type mountUnit struct {
	load, active, fragment string
	what, result           string
	lazy, force            bool
}

func (ms *Mounts) resolve(p string) (string, error) {
	if ms.Resolve != nil {
		return ms.Resolve(p)
	}
	return filepath.EvalSymlinks(p)
}

// Unmount stops the mount unit of target and waits for the job.
func (ms *Mounts) Unmount(ctx context.Context, target string) error {
	name, err := MountUnitName(target)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	m := ms.Manager
	var path dbus.ObjectPath
	if err := m.manager().CallWithContext(ctx, managerIface+".GetUnit", 0, name).Store(&path); err != nil {
		if errorName(err) == "org.freedesktop.systemd1.NoSuchUnit" {
			return fmt.Errorf("unmount %s: %w (systemd has no unit %s)", target, ErrNotMounted, name)
		}
		return fmt.Errorf("unmount %s: get unit %s from systemd on %s: %w", target, name, m.opts, err)
	}
	u, err := m.mountUnit(ctx, name, path)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	switch u.active {
	case "active", "reloading":
	case "inactive", "failed":
		return fmt.Errorf("unmount %s: %w (%s is %s)", target, ErrNotMounted, name, u.active)
	default:
		return fmt.Errorf("unmount %s: %s is %s: another job is under way on it", target, name, u.active)
	}
	if u.lazy || u.force {
		opt := "LazyUnmount"
		if u.force {
			opt = "ForceUnmount"
		}
		return fmt.Errorf("unmount %s: %s has %s=yes, and veille never unmounts lazily or by force: remove it from the unit", target, name, opt)
	}
	others, err := m.stopsWith(ctx, name)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	if len(others) > 0 {
		return &DependentsError{Where: target, Unit: name, Units: others}
	}
	err = m.job(ctx, "stop", name, mountJobMode, m.conn.StopUnitContext)
	var je *JobError
	if !errors.As(err, &je) {
		if err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
		return nil
	}
	ue := &UnmountError{Where: target, Unit: name, JobResult: je.Result}
	if after, err := m.mountUnit(ctx, name, path); err == nil {
		ue.Result = after.result
		ue.StillMounted = after.active == "active" || after.active == "reloading"
	}
	return ue
}

// Mount starts the mount unit of target (see Mounts) and waits for the job.
// source is the device node (or, with options "bind", the directory);
// fstype may be empty for a bind mount.
func (ms *Mounts) Mount(ctx context.Context, source, target, fstype, options string) error {
	what := fmt.Sprintf("mount %s on %s", source, target)
	name, err := MountUnitName(target)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	m := ms.Manager
	var path dbus.ObjectPath
	if err := m.manager().CallWithContext(ctx, managerIface+".LoadUnit", 0, name).Store(&path); err != nil {
		return fmt.Errorf("%s: load unit %s from systemd on %s: %w", what, name, m.opts, err)
	}
	u, err := m.mountUnit(ctx, name, path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch u.load {
	case "loaded", "not-found":
	case "masked":
		return fmt.Errorf("%s: %s is masked", what, name)
	default:
		return fmt.Errorf("%s: %s did not load (%s): systemctl status %s says why", what, name, u.load, name)
	}
	switch u.active {
	case "active", "reloading":
		if ok, _ := ms.same(u.what, source); ok {
			return nil
		}
		return fmt.Errorf("%s: already mounted from %s (%s)", what, u.what, name)
	case "activating", "deactivating":
		return fmt.Errorf("%s: %s is %s: another job is under way on it", what, name, u.active)
	}

	if u.load == "loaded" && u.fragment != "" {
		// An fstab entry, a unit file, or a transient unit not yet
		// collected: start it, if it mounts this device.
		if ok, why := ms.same(u.what, source); !ok {
			return fmt.Errorf("%s: %s (%s) mounts %s, not %s%s: refusing to mount another device there", what, name, u.fragment, u.what, source, why)
		}
		err := m.job(ctx, "start", name, mountJobMode, m.conn.StartUnitContext)
		return ms.mountFailed(ctx, what, name, path, err)
	}

	props := []sd.Property{
		sd.PropDescription("veille: " + source + " on " + target),
		{Name: "What", Value: dbus.MakeVariant(source)},
		{Name: "Where", Value: dbus.MakeVariant(filepath.Clean(target))},
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	if fstype != "" {
		props = append(props, sd.Property{Name: "Type", Value: dbus.MakeVariant(fstype)})
	}
	if options != "" {
		props = append(props, sd.Property{Name: "Options", Value: dbus.MakeVariant(options)})
	}
	err = m.job(ctx, "start", name, mountJobMode, func(ctx context.Context, name, mode string, ch chan<- string) (int, error) {
		return m.conn.StartTransientUnitContext(ctx, name, mode, props, ch)
	})
	switch errorName(err) {
	case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
		return fmt.Errorf("%s: %w %s (%v): no fstab entry or unit file mounts %s, and polkit does not let veille "+
			"start a transient one (systemd before 257 does not say which unit it is); add an fstab entry for the disk "+
			"(with nofail) or a mount unit", what, ErrTransientRefused, name, err, target)
	case "org.freedesktop.systemd1.UnitExists":
		return fmt.Errorf("%s: %w %s: %v", what, ErrTransientRefused, name, err)
	}
	return ms.mountFailed(ctx, what, name, path, err)
}

// UnitFile returns the unit file of target's mount unit: an fstab entry's
// generated file, a .mount file; "" when there is none, or only a transient
// unit. A mount point without one can be mounted again only through a
// transient unit.
func (ms *Mounts) UnitFile(ctx context.Context, target string) (string, error) {
	name, err := MountUnitName(target)
	if err != nil {
		return "", err
	}
	m := ms.Manager
	var path dbus.ObjectPath
	if err := m.manager().CallWithContext(ctx, managerIface+".LoadUnit", 0, name).Store(&path); err != nil {
		return "", fmt.Errorf("load unit %s from systemd on %s: %w", name, m.opts, err)
	}
	var props map[string]dbus.Variant
	if err := m.bus.Object("org.freedesktop.systemd1", path).CallWithContext(ctx, propsGetAll, 0, unitIface).Store(&props); err != nil {
		return "", fmt.Errorf("%s: read its properties from systemd on %s: %w", name, m.opts, err)
	}
	p := variants(props)
	if p.str("LoadState") != "loaded" || p.boolean("Transient") {
		return "", nil
	}
	return p.str("FragmentPath"), nil
}

// TransientUnitsNamed tells whether systemd names a transient unit to
// polkit (version 257 and later), so that a polkit rule can allow
// transient mount units without allowing every transient unit.
func (m *Manager) TransientUnitsNamed(ctx context.Context) (bool, error) {
	var v dbus.Variant
	err := m.manager().CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, managerIface, "Version").Store(&v)
	if err != nil {
		return false, fmt.Errorf("systemd version on %s: %w", m.opts, err)
	}
	s, _ := v.Value().(string)
	// "252.38-1~deb12u1", "257", "v258-rc1"
	s = strings.TrimPrefix(s, "v")
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		return false, fmt.Errorf("systemd version on %s: %q is not a version", m.opts, s)
	}
	return n >= 257, nil
}

// mountFailed explains a failed start job with the unit's own result,
// when the unit is still there to ask.
func (ms *Mounts) mountFailed(ctx context.Context, what, name string, path dbus.ObjectPath, err error) error {
	var je *JobError
	if !errors.As(err, &je) {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	detail := ""
	if after, aerr := ms.Manager.mountUnit(ctx, name, path); aerr == nil && after.result != "" && after.result != "success" {
		detail = ", mount result " + after.result
	}
	return fmt.Errorf("%s: start %s: job ended with result %q%s (journalctl -u %s has mount's message): %w",
		what, name, je.Result, detail, name, je)
}

// same tells whether a mount unit's What= is source: equal, or the same
// file once symbolic links are resolved. why says what could not be
// resolved.
func (ms *Mounts) same(what, source string) (bool, string) {
	if what == source || filepath.Clean(what) == filepath.Clean(source) {
		return true, ""
	}
	rw, err := ms.resolve(what)
	if err != nil {
		return false, fmt.Sprintf(" (%v)", err)
	}
	rs, err := ms.resolve(source)
	if err != nil {
		return false, fmt.Sprintf(" (%v)", err)
	}
	return rw == rs, ""
}

const (
	managerIface = "org.freedesktop.systemd1.Manager"
	unitIface    = "org.freedesktop.systemd1.Unit"
	mountIface   = "org.freedesktop.systemd1.Mount"
)

func (m *Manager) manager() dbus.BusObject {
	return m.bus.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
}

// mountUnit reads the Unit and Mount properties of the unit at path.
func (m *Manager) mountUnit(ctx context.Context, name string, path dbus.ObjectPath) (mountUnit, error) {
	obj := m.bus.Object("org.freedesktop.systemd1", path)
	var up, mp map[string]dbus.Variant
	if err := obj.CallWithContext(ctx, propsGetAll, 0, unitIface).Store(&up); err != nil {
		return mountUnit{}, fmt.Errorf("%s: read its properties from systemd on %s: %w", name, m.opts, err)
	}
	if err := obj.CallWithContext(ctx, propsGetAll, 0, mountIface).Store(&mp); err != nil {
		return mountUnit{}, fmt.Errorf("%s: read its mount properties from systemd on %s: %w", name, m.opts, err)
	}
	u, p := variants(up), variants(mp)
	return mountUnit{
		load: u.str("LoadState"), active: u.str("ActiveState"), fragment: u.str("FragmentPath"),
		what: p.str("What"), result: p.str("Result"),
		lazy: p.boolean("LazyUnmount"), force: p.boolean("ForceUnmount"),
	}, nil
}

// stopDependents are the properties naming the units a stop job
// propagates to: those that require, have Requisite= on, bind to or are
// part of the unit, and those its PropagatesStopTo= names (systemd's
// UNIT_ATOM_PROPAGATE_STOP). A systemd too old for one of them does not
// report it, and has no such dependency.
var stopDependents = []string{"RequiredBy", "RequisiteOf", "BoundBy", "ConsistsOf", "PropagatesStopTo"}

// maxDependents bounds the walk of stopsWith.
const maxDependents = 1000

// stopsWith returns the active units a stop job of name would stop too,
// following the stop's propagation recursively, sorted.
func (m *Manager) stopsWith(ctx context.Context, name string) ([]string, error) {
	seen := map[string]bool{name: true}
	queue := []string{name}
	var out []string
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		props, err := m.conn.GetUnitPropertiesContext(ctx, n)
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("units that %s would stop: %s: %w", name, n, err)
		}
		p := variants(anyToVariants(props))
		if n != name && isActive(p.str("ActiveState")) {
			out = append(out, n)
		}
		for _, k := range stopDependents {
			for _, d := range p.strs(k) {
				if !seen[d] {
					if len(seen) >= maxDependents {
						return nil, fmt.Errorf("units that %s would stop: more than %d", name, maxDependents)
					}
					seen[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
