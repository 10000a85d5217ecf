package power

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

// The sequences with systemd's mount units as the Mounter, as on a Pi:
// the real client (systemd.Mounts) talks to the fake systemd, whose mount
// jobs run the tree's mount(2) (treeMounter), as systemd runs mount(8).
// /srv/media was mounted by hand (its unit comes from mountinfo), and
// /srv/backup has an fstab entry naming the disk by label.

// unitMounter is the agent's adapter: systemd.Mounts without a context.
type unitMounter struct{ ms *systemd.Mounts }

func (u unitMounter) Mount(source, target, fstype, options string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return u.ms.Mount(ctx, source, target, fstype, options)
}

func (u unitMounter) Unmount(target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return u.ms.Unmount(ctx, target)
}

func systemdWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	for _, u := range []dbustest.Unit{
		{Name: "srv-media.mount", Where: "/srv/media", What: w.tree.Path("/dev/sda1"), Type: "ext4", Options: "rw,noatime"},
		{Name: "srv-backup.mount", Where: "/srv/backup", What: w.tree.Path("/dev/disk/by-label/backup"), Type: "ext4", Options: "rw,relatime,nofail",
			FragmentPath: "/run/systemd/generator/srv-backup.mount", SourcePath: "/etc/fstab"},
	} {
		if err := w.env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	w.env.Systemd.SetJobRunner(func(j dbustest.Job, u dbustest.Unit) string {
		if !strings.HasSuffix(u.Name, ".mount") {
			return ""
		}
		var err error
		if j.Type == "stop" {
			err = w.mnt.Unmount(u.Where)
		} else {
			var dev string
			if dev, err = filepath.EvalSymlinks(u.What); err == nil {
				err = w.mnt.Mount(dev, u.Where, u.Type, u.Options)
			}
		}
		if err != nil {
			return "failed"
		}
		return ""
	})
	m, err := systemd.DialManager(context.Background(), systemd.Options{Address: w.env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	w.opts.Mounter = unitMounter{&systemd.Mounts{Manager: m}}
	return w
}

func TestDisksAsleepAndAwakeThroughSystemd(t *testing.T) {
	w := systemdWorld(t)
	c := w.controller()
	ctx := context.Background()
	if err := w.pump(func() error { return c.DisksAsleep(ctx) }); err != nil {
		t.Fatal(err)
	}
	if w.mounted("/srv/media") || w.mounted("/srv/backup") {
		t.Error("still mounted")
	}
	for _, u := range []string{"srv-media.mount", "srv-backup.mount"} {
		if s := w.unitState(u); s != "inactive" {
			t.Errorf("%s is %s after sleep", u, s)
		}
	}
	if err := w.pump(func() error { return c.DisksAwake(ctx) }); err != nil {
		t.Fatal(err)
	}
	w.assertAwake()
	// media had no unit file: a transient unit with what was recorded at
	// sleep; backup's fstab unit mounted the disk its label names, with
	// the entry's options.
	if got := w.mnt.mounts; !reflect.DeepEqual(got, []string{
		"/dev/sdb1 /srv/backup ext4 rw,relatime,nofail",
		"/dev/sda1 /srv/media ext4 rw,noatime",
	}) {
		t.Errorf("mounts %q", got)
	}
	if u, _ := w.env.Systemd.Unit("srv-media.mount"); !u.Transient || u.What != w.tree.Path("/dev/sda1") {
		t.Errorf("media's unit after wake: %+v", u)
	}
	if u, _ := w.env.Systemd.Unit("srv-backup.mount"); u.Transient {
		t.Errorf("backup's fstab unit was replaced: %+v", u)
	}
	var mountJobs []string
	for _, j := range w.env.Systemd.Jobs() {
		if strings.HasSuffix(j.Unit, ".mount") {
			mountJobs = append(mountJobs, j.Type+" "+j.Unit+" "+j.Mode+"="+j.Result)
		}
	}
	if want := []string{
		"stop srv-media.mount fail=done", "stop srv-backup.mount fail=done",
		"start srv-backup.mount fail=done", "start srv-media.mount fail=done",
	}; !reflect.DeepEqual(mountJobs, want) {
		t.Errorf("mount jobs %q, want %q", mountJobs, want)
	}
}

// umount(8) fails on a busy filesystem (something opened a file after
// veille's own look): the unmount step fails as busy and everything rolls
// back, media's filesystem mounted again through a transient unit.
func TestBusyFilesystemThroughSystemd(t *testing.T) {
	w := systemdWorld(t)
	w.mnt.failUnmount["/srv/backup"] = syscall.EBUSY
	failSleep(t, w, "backup", StepUnmount, "unmount /srv/backup: systemd could not unmount it (stop srv-backup.mount: job ended with result \"failed\", umount result exit-code): still mounted, the filesystem is busy")
	c := w.controller()
	err := w.pump(func() error { return c.DisksAsleep(context.Background()) })
	if !errors.Is(err, syscall.EBUSY) {
		t.Errorf("the cause is not EBUSY: %v", err)
	}
	if u, _ := w.env.Systemd.Unit("srv-media.mount"); !u.Transient || u.ActiveState != "active" {
		t.Errorf("media's unit after the rollback: %+v", u)
	}
}

// A unit that requires the mount but that veille was not told about, and
// that systemd does not report as needing the mount point (Requires= on
// the mount unit itself), is not stopped behind the user's back.
func TestUnmountWouldStopOtherUnitsThroughSystemd(t *testing.T) {
	w := systemdWorld(t)
	if err := w.env.Systemd.AddUnit(dbustest.Unit{Name: "backup-check.target", Requires: []string{"srv-backup.mount"}}); err != nil {
		t.Fatal(err)
	}
	failSleep(t, w, "backup", StepUnmount, "unmount /srv/backup: stopping srv-backup.mount would also stop backup-check.target")
	if s := w.unitState("backup-check.target"); s != "active" {
		t.Errorf("backup-check.target is %s", s)
	}
}
