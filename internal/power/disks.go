package power

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/veille/veille/drivers/usbdisk"
)

// DisksAsleep puts every configured disk to sleep, in order: stop the units
// that use it, sync, unmount, spin down; then switch off the ports of the
// disks that ask for it (after all of them are down, because a port cut
// can take several disks at once). If any step fails, everything done is
// undone in reverse and the error names the step. Disks already asleep are
// left as they are.
func (c *Controller) DisksAsleep(ctx context.Context) error {
	r, end, err := c.begin(ctx, "disks-asleep")
	if err != nil {
		return err
	}
	defer end()
	if c.asleep != nil {
		r.note("", StepFind, Skipped, "the disks are already asleep")
		return nil
	}
	rec, err := c.disksAsleep(r)
	if err != nil {
		return r.rollback(err)
	}
	if c.o.DryRun {
		return nil
	}
	c.mu.Lock()
	c.asleep = rec
	c.mu.Unlock()
	if err := c.saveDisksRecord(rec); err != nil {
		// The disks are asleep and this process knows it; only a restart
		// would forget. Not worth waking them for.
		r.note("", StepRecord, Warning, err.Error())
	}
	return nil
}

// DisksAwake wakes the disks a disks-asleep sequence put to sleep, in
// reverse: switch the ports on, wait for each disk to come back, spin it
// up, check and mount its filesystems, start its units. A disk that fails
// is left unmounted with its units stopped (they would write into the
// empty mount point) and named in the error; the others are woken anyway:
// this sequence never puts anything back to sleep.
//
// Without a record (the agent restarted after the boot that put them to
// sleep) it mounts every configured disk that has a MountPoint and is not
// mounted.
func (c *Controller) DisksAwake(ctx context.Context) error {
	r, end, err := c.begin(ctx, "disks-awake")
	if err != nil {
		return err
	}
	defer end()
	rec := c.asleep
	if rec == nil {
		return c.wakeUnrecorded(r)
	}
	failed, err := c.disksAwake(r, rec)
	if c.o.DryRun {
		return err
	}
	c.mu.Lock()
	if len(failed.Disks) == 0 {
		c.asleep = nil
	} else {
		c.asleep = failed
	}
	c.mu.Unlock()
	var serr error
	if len(failed.Disks) == 0 {
		serr = removeDurable(c.path(disksRecordFile))
	} else {
		serr = c.saveDisksRecord(failed)
	}
	if serr != nil {
		r.note("", StepRecord, Warning, serr.Error())
	}
	return err
}

func (c *Controller) path(name string) string { return filepath.Join(c.o.StateDir, name) }

// asleepDisk is a disk found at the start of a disks-asleep sequence.
type asleepDisk struct {
	cfg Disk
	d   *usbdisk.Disk
	rec diskRecord
}

func (c *Controller) find(cfg Disk) (*usbdisk.Disk, error) {
	if cfg.UUID != "" {
		return c.finder.ByUUID(cfg.UUID)
	}
	return c.finder.ByLabel(cfg.Label)
}

// disksAsleep runs the sleep steps of every disk, then the port cuts.
func (c *Controller) disksAsleep(r *run) (*disksRecord, error) {
	rec := &disksRecord{BootID: bootID(c.o.Root), At: c.o.Clock.Now()}
	var disks []*asleepDisk
	for _, cfg := range c.o.Disks {
		var d *usbdisk.Disk
		err := r.look(cfg.Name, StepFind, "find the filesystem with "+cfg.id(), func() (result, error) {
			var err error
			d, err = c.find(cfg)
			if err != nil {
				return result{}, err
			}
			if cfg.CutPower && d.USB == nil {
				return result{}, fmt.Errorf("%s is not on USB: its power cannot be cut", d.Name)
			}
			where := "not on USB"
			if d.USB != nil {
				where = "on USB port " + d.USB.Port.Location()
			}
			return result{detail: fmt.Sprintf("%s on disk %s (%s), %s", d.Partition, d.Name, d.Model, where)}, nil
		})
		if err != nil {
			return nil, err
		}
		disks = append(disks, &asleepDisk{cfg: cfg, d: d, rec: diskRecord{Name: cfg.Name, UUID: cfg.UUID, Label: cfg.Label, Kernel: d.Name}})
	}
	// Refuse a port cut that cannot be made before touching anything.
	names := make([]string, 0, len(disks))
	for _, a := range disks {
		names = append(names, a.d.Name)
	}
	var layout usbdisk.Layout
	if slices.ContainsFunc(disks, func(a *asleepDisk) bool { return a.cfg.CutPower }) {
		var err error
		if layout, err = c.layout(); err != nil {
			return nil, &StepError{Sequence: r.seq, Step: StepPortCut, Err: err}
		}
	}
	for _, a := range disks {
		if !a.cfg.CutPower {
			continue
		}
		if _, err := usbdisk.PlanPortCut(layout, a.d.USB.Port, names); err != nil {
			r.note(a.cfg.Name, StepPortCut, Failed, err.Error())
			return nil, &StepError{Sequence: r.seq, Disk: a.cfg.Name, Step: StepPortCut, Err: err}
		}
	}

	stopped := map[string]bool{}
	for _, a := range disks {
		if err := c.diskAsleep(r, a, stopped); err != nil {
			return nil, err
		}
		rec.Disks = append(rec.Disks, a.rec)
	}
	cuts, err := c.cutPorts(r, layout, disks, names)
	if err != nil {
		return nil, err
	}
	rec.Cuts = cuts
	return rec, nil
}

// diskAsleep stops units, syncs, unmounts and spins down one disk.
func (c *Controller) diskAsleep(r *run, a *asleepDisk, stopped map[string]bool) error {
	cfg, d := a.cfg, a.d
	mounts, err := usbdisk.ReadMounts(c.o.Root)
	if err != nil {
		return &StepError{Sequence: r.seq, Disk: cfg.Name, Step: StepUnmount, Err: err}
	}
	own := usbdisk.MountsOf(mounts, d.DevNo)
	sort.Slice(own, func(i, j int) bool { return own[i].ID < own[j].ID })
	if len(own) > 0 && !slices.ContainsFunc(own, func(m usbdisk.Mount) bool { return m.Root == "/" }) {
		err := fmt.Errorf("%s is mounted only as a bind mount of %s at %s, which veille cannot restore", d.Partition, own[0].Root, own[0].MountPoint)
		r.note(cfg.Name, StepUnmount, Failed, err.Error())
		return &StepError{Sequence: r.seq, Disk: cfg.Name, Step: StepUnmount, Err: err}
	}
	for _, m := range mounts {
		for _, o := range own {
			if m.DevNo() != d.DevNo && strings.HasPrefix(m.MountPoint, strings.TrimSuffix(o.MountPoint, "/")+"/") {
				err := fmt.Errorf("%s (%s) is mounted inside %s: unmount it first, or list its disk before this one", m.MountPoint, m.Source, o.MountPoint)
				r.note(cfg.Name, StepUnmount, Failed, err.Error())
				return &StepError{Sequence: r.seq, Disk: cfg.Name, Step: StepUnmount, Err: err}
			}
		}
	}
	for _, m := range own {
		a.rec.Mounts = append(a.rec.Mounts, mountRecord{Root: m.Root, Target: m.MountPoint, FSType: m.FSType, Options: mountOptions(m)})
	}

	// Units: the configured ones, then those systemd says need the mounts.
	units := slices.Clone(cfg.Units)
	if !cfg.NoAutoUnits {
		for _, m := range own {
			found, err := c.o.Units.UnitsForMount(r.ctx, m.MountPoint)
			if err != nil {
				err = fmt.Errorf("list units that need %s: %w", m.MountPoint, err)
				r.note(cfg.Name, StepStopUnit, Failed, err.Error())
				return &StepError{Sequence: r.seq, Disk: cfg.Name, Step: StepStopUnit, Err: err}
			}
			units = append(units, found...)
		}
	}
	for _, u := range units {
		if stopped[u] {
			continue
		}
		stopped[u] = true
		// Started again on rollback even if its stop fails: a stop job
		// that fails or times out can leave the unit down ("failed"), and
		// starting an active unit does nothing.
		r.pushUndo(cfg.Name, StepStartUnit, "start "+u, func(ctx context.Context) error {
			ctx, cancel := r.unitCtx(ctx)
			defer cancel()
			return c.o.Units.StartUnit(ctx, u)
		})
		err := r.do(cfg.Name, StepStopUnit, "stop "+u, func() (result, error) {
			ctx, cancel := r.unitCtx(r.ctx)
			defer cancel()
			return result{}, c.o.Units.StopUnit(ctx, u)
		})
		if err != nil {
			return err
		}
		a.rec.Units = append(a.rec.Units, u)
	}

	if len(own) > 0 {
		primary := own[slices.IndexFunc(own, func(m usbdisk.Mount) bool { return m.Root == "/" })]
		err := r.do(cfg.Name, StepSync, "sync "+primary.MountPoint+" (syncfs)", func() (result, error) {
			note, err := syncFS(c.o.Root, primary.MountPoint)
			return result{detail: note}, err
		})
		if err != nil {
			return err
		}
	}
	// Unmount bind mounts first (newest first), the filesystem last.
	for i := len(own) - 1; i >= 0; i-- {
		m := own[i]
		if err := c.unmount(r, cfg.Name, m.MountPoint); err != nil {
			return err
		}
		r.pushUndo(cfg.Name, StepMount, "mount "+m.MountPoint+" again", func(ctx context.Context) error {
			cur, err := c.finder.Refresh(d)
			if err != nil {
				return err
			}
			return c.mountOne(cur, a.rec.Mounts, mountRecord{Root: m.Root, Target: m.MountPoint, FSType: m.FSType, Options: mountOptions(m)})
		})
	}

	if cfg.SkipSpinDown {
		r.note(cfg.Name, StepSpinDown, Skipped, "not spun down (configured)")
		return nil
	}
	mode := cfg.SpinDown
	if mode == "" {
		mode = usbdisk.ModeAuto
	}
	// A stop that arrives during the unmount's last writes is undone by
	// the drive as soon as it has to finish them: wait for quiet first
	// (and measure the draw then, so the saving is idle against standby).
	var waited time.Duration
	quiet := true
	if !c.o.DryRun {
		waited, quiet = c.waitQuiet(r.ctx, d)
	}
	before, haveBefore := r.readPower(cfg.Name, cfg.PowerChannel)
	err = r.do(cfg.Name, StepSpinDown, "send "+describeCommands(usbdisk.SpinDownCommands(mode))+" to "+d.Dev, func() (result, error) {
		cmd, err := usbdisk.SpinDown(c.o.Transport, d.Dev, mode, c.o.CommandTimeout)
		res := result{detail: "stopped with " + cmd.Name}
		if waited > 0 {
			res.detail = fmt.Sprintf("no I/O for %s; %s", c.o.PollEvery, res.detail)
		}
		if !quiet {
			res.detail = fmt.Sprintf("I/O still going on after %s; %s", c.o.QuietTimeout, res.detail)
			res.warn = true
		}
		return res, err
	})
	if err != nil {
		return err
	}
	a.rec.SpunDown = true
	r.pushUndo(cfg.Name, StepSpinUp, "spin "+d.Name+" up", func(ctx context.Context) error {
		cur, err := c.finder.Refresh(d)
		if err != nil {
			return err
		}
		_, err = usbdisk.SpinUp(c.o.Transport, cur.Dev, mode, c.o.CommandTimeout)
		return err
	})
	if haveBefore {
		r.confirm(cfg.Name, cfg.PowerChannel, before, cfg.MinSaving, "spin-down")
	}
	return nil
}

// unmount checks who holds the mount, then unmounts it; a busy filesystem
// is reported with the processes that keep it busy.
func (c *Controller) unmount(r *run, disk, target string) error {
	return r.do(disk, StepUnmount, "unmount "+target, func() (result, error) {
		hs, err := Holders(c.o.Root, target)
		if err != nil {
			return result{}, err
		}
		if len(hs) > 0 {
			return result{}, fmt.Errorf("busy: %s", describeHolders(hs))
		}
		if err := c.o.Mounter.Unmount(target); err != nil {
			if hs, herr := Holders(c.o.Root, target); herr == nil && len(hs) > 0 {
				return result{}, fmt.Errorf("%w (busy: %s)", err, describeHolders(hs))
			}
			return result{}, err
		}
		return result{}, nil
	})
}

// mountOne mounts one recorded mount of disk d: the filesystem from its
// device node, a bind mount from the filesystem's own mount point.
func (c *Controller) mountOne(d *usbdisk.Disk, all []mountRecord, m mountRecord) error {
	if m.Root == "/" {
		return c.o.Mounter.Mount(d.PartDev, m.Target, m.FSType, m.Options)
	}
	for _, p := range all {
		if p.Root == "/" {
			return c.o.Mounter.Mount(path.Join(p.Target, m.Root), m.Target, "", "bind")
		}
	}
	return fmt.Errorf("bind mount %s: the filesystem's own mount is not recorded", m.Target)
}

func mountCommand(d *usbdisk.Disk, all []mountRecord, m mountRecord) string {
	if m.Root == "/" {
		return fmt.Sprintf("mount %s on %s (%s, %s)", d.PartDev, m.Target, m.FSType, m.Options)
	}
	for _, p := range all {
		if p.Root == "/" {
			return fmt.Sprintf("bind-mount %s on %s", path.Join(p.Target, m.Root), m.Target)
		}
	}
	return "bind-mount " + m.Target
}

// mountOptions joins the per-mount and per-superblock options of a mount,
// as mount(8) would take them back.
//
// It is read-only only when the superblock is too. In veille.service's own
// mount namespace (ProtectSystem=strict) every mount that was there when
// veille started is read-only for veille alone: the per-mount flag says
// "ro" while the filesystem is read-write for everyone else, as its
// superblock says. (A filesystem the kernel made read-only after an error,
// errors=remount-ro, has a read-only superblock under a read-write mount:
// it is checked and mounted read-write again, as before.)
func mountOptions(m usbdisk.Mount) string {
	opts := strings.Split(m.Options, ",")
	if !slices.Contains(strings.Split(m.SuperOptions, ","), "ro") {
		for i, o := range opts {
			if o == "ro" {
				opts[i] = "rw"
			}
		}
	}
	for _, o := range strings.Split(m.SuperOptions, ",") {
		if o != "" && o != "rw" && o != "ro" && !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	return strings.Join(opts, ",")
}

func describeCommands(cmds []usbdisk.Command) string {
	var s []string
	for _, c := range cmds {
		s = append(s, c.String())
	}
	if len(s) == 1 {
		return s[0]
	}
	return s[0] + " (if rejected, " + strings.Join(s[1:], ", then ") + ")"
}

// cutPorts switches off the ports of the disks that ask for it, one cut
// per gang.
func (c *Controller) cutPorts(r *run, layout usbdisk.Layout, disks []*asleepDisk, names []string) ([]cutRecord, error) {
	var cuts []cutRecord
	var done []usbdisk.Port
	for _, a := range disks {
		if !a.cfg.CutPower {
			continue
		}
		p := a.d.USB.Port
		if slices.ContainsFunc(done, func(q usbdisk.Port) bool { return q.Location() == p.Location() }) {
			continue // switched off with an earlier disk's gang
		}
		check := usbdisk.CheckPortCut
		if c.o.DryRun {
			check = usbdisk.PlanPortCut
		}
		cut, err := check(layout, p, names)
		if err != nil {
			r.note(a.cfg.Name, StepPortCut, Failed, err.Error())
			return nil, &StepError{Sequence: r.seq, Disk: a.cfg.Name, Step: StepPortCut, Err: err}
		}
		var files, locs []string
		for _, q := range cut.Ports {
			files = append(files, q.DisableFile())
			locs = append(locs, q.Location())
		}
		// The disks the cut takes, by configured name, and the meter
		// channels that feed them.
		var cutDisks, channels []string
		for _, b := range disks {
			if slices.Contains(cut.Disks, b.d.Name) {
				cutDisks = append(cutDisks, b.cfg.Name)
				if b.cfg.PowerChannel != "" && !slices.Contains(channels, b.cfg.PowerChannel) {
					channels = append(channels, b.cfg.PowerChannel)
				}
			}
		}
		before := map[string]float64{}
		for _, ch := range channels {
			if w, ok := r.readPower(a.cfg.Name, ch); ok {
				before[ch] = w
			}
		}
		what := fmt.Sprintf("switch off USB port %s (write 1 to %s)", p.Location(), strings.Join(files, ", "))
		if cut.Why != "" {
			what += "; " + cut.Why
		}
		err = r.do(a.cfg.Name, StepPortCut, what, func() (result, error) {
			return result{detail: "powers off " + strings.Join(cut.Disks, ", ")}, cut.Apply()
		})
		if err != nil {
			return nil, err
		}
		done = append(done, cut.Ports...)
		rec := cutRecord{Port: p.Location(), Ports: locs, Disks: cutDisks}
		cuts = append(cuts, rec)
		r.pushUndo(a.cfg.Name, StepPortRestore, fmt.Sprintf("switch on USB port %s", p.Location()), func(ctx context.Context) error {
			if err := cut.Restore(); err != nil {
				return err
			}
			var errs []error
			for _, b := range disks {
				if slices.Contains(cutDisks, b.cfg.Name) {
					if _, err := c.waitFor(ctx, b.cfg); err != nil {
						errs = append(errs, fmt.Errorf("disk %s: %w", b.cfg.Name, err))
					}
				}
			}
			return errors.Join(errs...)
		})
		for _, ch := range channels {
			if w, ok := before[ch]; ok {
				// With VBUS off the rail carries (almost) nothing: expect
				// at least half of what was left after spin-down.
				r.confirm(a.cfg.Name, ch, w, w/2, "port cut")
			}
		}
	}
	return cuts, nil
}

// waitFor polls for the disk's filesystem until it appears or WaitTimeout
// passes on the controller's clock.
func (c *Controller) waitFor(ctx context.Context, cfg Disk) (*usbdisk.Disk, error) {
	deadline := c.o.Clock.Now().Add(c.o.WaitTimeout)
	for {
		d, err := c.find(cfg)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, usbdisk.ErrNotFound) {
			return nil, err
		}
		if !c.o.Clock.Now().Before(deadline) {
			return nil, fmt.Errorf("did not come back within %s: %w", c.o.WaitTimeout, err)
		}
		select {
		case <-c.o.Clock.After(c.o.PollEvery):
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", cfg.id(), ctx.Err())
		}
	}
}

// disksAwake wakes the disks of rec and returns the record of those that
// did not come back.
func (c *Controller) disksAwake(r *run, rec *disksRecord) (*disksRecord, error) {
	failed := &disksRecord{BootID: rec.BootID, At: rec.At}
	var errs []error
	bad := map[string]error{}
	for i := len(rec.Cuts) - 1; i >= 0; i-- {
		cut := rec.Cuts[i]
		var files []string
		var ports []usbdisk.Port
		for _, loc := range cut.Ports {
			p, err := usbdisk.PortFromLocation(c.o.Root, loc)
			if err != nil {
				continue
			}
			ports = append(ports, p)
			files = append(files, p.DisableFile())
		}
		disk := ""
		if len(cut.Disks) > 0 {
			disk = cut.Disks[0]
		}
		err := r.do(disk, StepPortRestore, fmt.Sprintf("switch on USB port %s (write 0 to %s)", cut.Port, strings.Join(files, ", ")), func() (result, error) {
			pc := &usbdisk.PortCut{Ports: ports}
			if len(ports) > 0 {
				pc.Port = ports[0]
			}
			return result{}, pc.Restore()
		})
		if err != nil {
			errs = append(errs, err)
			for _, n := range cut.Disks {
				bad[n] = err
			}
		}
	}
	cutDisks := map[string]bool{}
	for _, cut := range rec.Cuts {
		for _, n := range cut.Disks {
			cutDisks[n] = true
		}
	}
	for i := len(rec.Disks) - 1; i >= 0; i-- {
		dr := rec.Disks[i]
		if err := bad[dr.Name]; err != nil {
			failed.Disks = append([]diskRecord{dr}, failed.Disks...)
			r.note(dr.Name, StepWait, Skipped, "its port could not be switched on")
			continue
		}
		if err := c.diskAwake(r, c.diskConfig(dr), dr, cutDisks[dr.Name]); err != nil {
			errs = append(errs, err)
			failed.Disks = append([]diskRecord{dr}, failed.Disks...)
		}
	}
	return failed, errors.Join(errs...)
}

// diskConfig returns the configuration of a recorded disk (the record
// carries enough to wake it even if the configuration changed).
func (c *Controller) diskConfig(dr diskRecord) Disk {
	for _, d := range c.o.Disks {
		if d.Name == dr.Name {
			return d
		}
	}
	return Disk{Name: dr.Name, UUID: dr.UUID, Label: dr.Label}
}

// diskAwake brings one disk back: wait, spin up, check, mount, start units.
func (c *Controller) diskAwake(r *run, cfg Disk, dr diskRecord, powered bool) error {
	var d *usbdisk.Disk
	err := r.do(cfg.Name, StepWait, fmt.Sprintf("wait for the filesystem with %s (up to %s)", cfg.id(), c.o.WaitTimeout), func() (result, error) {
		var err error
		d, err = c.waitFor(r.ctx, cfg)
		if err != nil {
			return result{}, err
		}
		return result{detail: fmt.Sprintf("back as %s on %s", d.Partition, d.Name)}, nil
	})
	if c.o.DryRun {
		d = &usbdisk.Disk{Name: dr.Kernel, Dev: path.Join(c.o.Root, "dev", dr.Kernel), PartDev: "<" + cfg.id() + ">"}
		if found, ferr := c.find(cfg); ferr == nil {
			d = found
		}
	}
	if err != nil {
		return c.leftStopped(r, cfg, dr, err)
	}
	mode := cfg.SpinDown
	if mode == "" {
		mode = usbdisk.ModeAuto
	}
	if dr.SpunDown || powered {
		err := r.do(cfg.Name, StepSpinUp, "send "+describeCommands(usbdisk.SpinUpCommands(mode))+" to "+d.Dev, func() (result, error) {
			cmd, err := usbdisk.SpinUp(c.o.Transport, d.Dev, mode, c.o.CommandTimeout)
			return result{detail: "started with " + cmd.Name}, err
		})
		if err != nil {
			return c.leftStopped(r, cfg, dr, err)
		}
	}
	if len(c.o.Check) > 0 && len(dr.Mounts) > 0 {
		err := r.do(cfg.Name, StepCheck, "run "+strings.Join(c.o.Check, " ")+" "+d.PartDev, func() (result, error) {
			ctx, cancel := context.WithTimeout(r.ctx, c.o.CheckTimeout)
			defer cancel()
			detail, warn, err := runCheck(ctx, c.o.Check, d.PartDev)
			return result{detail: detail, warn: warn}, err
		})
		if err != nil {
			return c.leftStopped(r, cfg, dr, err)
		}
	}
	for _, m := range dr.Mounts {
		err := r.do(cfg.Name, StepMount, mountCommand(d, dr.Mounts, m), func() (result, error) {
			return result{}, c.mountOne(d, dr.Mounts, m)
		})
		if err != nil {
			return c.leftStopped(r, cfg, dr, err)
		}
	}
	var errs []error
	for i := len(dr.Units) - 1; i >= 0; i-- {
		u := dr.Units[i]
		err := r.do(cfg.Name, StepStartUnit, "start "+u, func() (result, error) {
			ctx, cancel := r.unitCtx(r.ctx)
			defer cancel()
			return result{}, c.o.Units.StartUnit(ctx, u)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// leftStopped reports a disk that could not be woken: its units stay
// stopped, since their data is not there.
func (c *Controller) leftStopped(r *run, cfg Disk, dr diskRecord, err error) error {
	for i := len(dr.Units) - 1; i >= 0; i-- {
		r.note(cfg.Name, StepStartUnit, Skipped, fmt.Sprintf("%s left stopped: disk %s is not back", dr.Units[i], cfg.Name))
	}
	return err
}

// wakeUnrecorded mounts configured disks that are not mounted, when no
// record says what a disks-asleep sequence did.
func (c *Controller) wakeUnrecorded(r *run) error {
	var errs []error
	mounts, err := usbdisk.ReadMounts(c.o.Root)
	if err != nil {
		return &StepError{Sequence: r.seq, Step: StepMount, Err: err}
	}
	for _, cfg := range c.o.Disks {
		if d, err := c.find(cfg); err == nil {
			if m, ok := usbdisk.MountOf(mounts, d.DevNo); ok {
				r.note(cfg.Name, StepMount, Skipped, fmt.Sprintf("%s is mounted at %s", d.Partition, m.MountPoint))
				continue
			}
		}
		if cfg.MountPoint == "" {
			err := fmt.Errorf("not mounted, and neither a sleep record nor the configuration says where it belongs")
			r.note(cfg.Name, StepMount, Failed, err.Error())
			errs = append(errs, &StepError{Sequence: r.seq, Disk: cfg.Name, Step: StepMount, Err: err})
			continue
		}
		dr := diskRecord{Name: cfg.Name, UUID: cfg.UUID, Label: cfg.Label, Units: cfg.Units,
			Mounts: []mountRecord{{Root: "/", Target: cfg.MountPoint, FSType: cfg.FSType, Options: cfg.MountOptions}}}
		if err := c.diskAwake(r, cfg, dr, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readPower reads a meter channel; false when there is no meter, no
// channel, or the read failed (reported as a warning, never fatal).
func (r *run) readPower(disk, channel string) (float64, bool) {
	if r.c.o.Meter == nil || channel == "" || r.c.o.DryRun {
		return 0, false
	}
	w, err := r.c.o.Meter.Power(r.ctx, channel)
	if err != nil {
		r.note(disk, StepConfirm, Warning, fmt.Sprintf("read power on %s: %v", channel, err))
		return 0, false
	}
	return w, true
}

// confirm waits for the draw to settle and checks that it fell by at
// least min watts.
func (r *run) confirm(disk, channel string, before, min float64, what string) {
	start := r.c.o.Clock.Now()
	if !r.sleep(r.ctx, r.c.o.Settle) {
		return
	}
	after, ok := r.readPower(disk, channel)
	if !ok {
		return
	}
	d := r.c.o.Clock.Now().Sub(start)
	saving := before - after
	if saving >= min {
		r.emit(disk, StepConfirm, OK, d, fmt.Sprintf("after %s, draw on %s fell from %.2f W to %.2f W: %.2f W saved", what, channel, before, after, saving), saving)
		return
	}
	r.emit(disk, StepConfirm, Warning, d, fmt.Sprintf("after %s, draw on %s did not drop: %.2f W then %.2f W (expected at least %.2f W less); the disk may still be spinning", what, channel, before, after, min), saving)
}

// waitQuiet waits until the disk's /proc/diskstats counters stay still for
// one PollEvery, up to QuietTimeout. A disk missing from diskstats counts
// as quiet. It returns how long it waited and whether the disk went quiet.
func (c *Controller) waitQuiet(ctx context.Context, d *usbdisk.Disk) (time.Duration, bool) {
	start := c.o.Clock.Now()
	prev, ok := c.ioCount(d)
	if !ok {
		return 0, true
	}
	for {
		select {
		case <-c.o.Clock.After(c.o.PollEvery):
		case <-ctx.Done():
			return c.o.Clock.Now().Sub(start), false
		}
		cur, ok := c.ioCount(d)
		waited := c.o.Clock.Now().Sub(start)
		if !ok || cur == prev {
			return waited, true
		}
		if waited >= c.o.QuietTimeout {
			return waited, false
		}
		prev = cur
	}
}

// ioCount sums the completed I/O counters of a disk and its partitions.
func (c *Controller) ioCount(d *usbdisk.Disk) ([4]uint64, bool) {
	stats, err := usbdisk.ReadDiskstats(c.o.Root)
	if err != nil {
		return [4]uint64{}, false
	}
	var n [4]uint64
	found := false
	for _, s := range stats {
		if s.Name == d.Name || slices.Contains(d.Partitions, s.Name) {
			n[0] += s.Reads
			n[1] += s.Writes
			n[2] += s.SectorsRead
			n[3] += s.SectorsWritten
			found = true
		}
	}
	return n, found
}
