package systemd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/veille/veille/systemd/dbustest"
)

// internal/power's Mounter contract (docs/ARCHITECTURE.md), with a
// context: the agent adapts it with a timeout.
var _ interface {
	Mount(ctx context.Context, source, target, fstype, options string) error
	Unmount(ctx context.Context, target string) error
} = (*Mounts)(nil)

// devices are the symbolic links of the tests' /dev: what Resolve knows.
var devices = map[string]string{
	"/dev/sda1":                    "/dev/sda1",
	"/dev/sdb1":                    "/dev/sdb1",
	"/dev/disk/by-uuid/3f2a-media": "/dev/sda1",
	"/dev/disk/by-label/BACKUP":    "/dev/sdb1",
}

func resolve(p string) (string, error) {
	if r, ok := devices[p]; ok {
		return r, nil
	}
	return "", fmt.Errorf("lstat %s: no such file or directory", p)
}

func mounts(t *testing.T, units ...dbustest.Unit) (*dbustest.Env, *Mounts) {
	t.Helper()
	env, m := manager(t, units...)
	return env, &Mounts{Manager: m, Resolve: resolve}
}

// A mount made by hand (mount(8), udisks): systemd made its unit from
// /proc/self/mountinfo, with no unit file.
var handMounted = dbustest.Unit{Name: "srv-media.mount", Where: "/srv/media", What: "/dev/sda1", Type: "ext4", Options: "rw,noatime"}

func jobsOf(env *dbustest.Env) string {
	var s []string
	for _, j := range env.Systemd.Jobs() {
		s = append(s, fmt.Sprintf("%s %s %s=%s", j.Type, j.Unit, j.Mode, j.Result))
	}
	return strings.Join(s, "; ")
}

func TestUnmountThenMountTransient(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t, handMounted, dbustest.Unit{Name: "local-fs.target", Wants: []string{"srv-media.mount"}})
	ctx := context.Background()
	if err := ms.Unmount(ctx, "/srv/media"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("srv-media.mount"); u.ActiveState != "inactive" {
		t.Errorf("after unmount: %s", u.ActiveState)
	}
	if lt, _ := env.Systemd.Unit("local-fs.target"); lt.ActiveState != "" {
		t.Errorf("local-fs.target (wants the mount) went %s", lt.ActiveState)
	}
	// No unit file: a transient unit with what was asked for.
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw,noatime,errors=remount-ro"); err != nil {
		t.Fatal(err)
	}
	u, ok := env.Systemd.Unit("srv-media.mount")
	want := dbustest.Unit{
		Name: "srv-media.mount", Description: "veille: /dev/sda1 on /srv/media", ActiveState: "active",
		FragmentPath: "/run/systemd/transient/srv-media.mount", Transient: true, CollectMode: "inactive-or-failed",
		Where: "/srv/media", What: "/dev/sda1", Type: "ext4", Options: "rw,noatime,errors=remount-ro",
	}
	if !ok || !reflect.DeepEqual(u, want) {
		t.Errorf("transient unit\n%+v, want\n%+v", u, want)
	}
	// Stopped, it is collected: the next mount makes a new one.
	if err := ms.Unmount(ctx, "/srv/media"); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Systemd.Unit("srv-media.mount"); ok {
		t.Error("the stopped transient unit was not collected")
	}
	if err := ms.Unmount(ctx, "/srv/media"); !errors.Is(err, ErrNotMounted) {
		t.Errorf("unmount of what is not mounted: %v, want ErrNotMounted", err)
	}
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw"); err != nil {
		t.Fatal(err)
	}
	if got, want := jobsOf(env), "stop srv-media.mount fail=done; start srv-media.mount fail=done; stop srv-media.mount fail=done; start srv-media.mount fail=done"; got != want {
		t.Errorf("jobs: %s\nwant  %s", got, want)
	}
	if n := env.Systemd.Calls("StartTransientUnit"); n != 2 {
		t.Errorf("StartTransientUnit called %d times, want 2", n)
	}
}

func TestMountBind(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t)
	if err := ms.Mount(context.Background(), "/srv/media/films", "/srv/films", "", "bind"); err != nil {
		t.Fatal(err)
	}
	u, _ := env.Systemd.Unit("srv-films.mount")
	if u.What != "/srv/media/films" || u.Where != "/srv/films" || u.Type != "" || u.Options != "bind" || u.ActiveState != "active" {
		t.Errorf("bind mount unit %+v", u)
	}
}

func TestMountFstabUnit(t *testing.T) {
	t.Parallel()
	fstab := dbustest.Unit{
		Name: "srv-media.mount", ActiveState: "inactive", Where: "/srv/media", What: "/dev/disk/by-uuid/3f2a-media",
		Type: "ext4", Options: "noatime,nofail", FragmentPath: "/run/systemd/generator/srv-media.mount", SourcePath: "/etc/fstab",
	}
	env, ms := mounts(t, fstab)
	ctx := context.Background()
	// The fstab entry names the disk by UUID: the same device as sda1. Its
	// own options win over the ones asked for.
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw,relatime"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("srv-media.mount"); u.ActiveState != "active" || u.Options != "noatime,nofail" || u.Transient {
		t.Errorf("fstab unit after mount: %+v", u)
	}
	if n := env.Systemd.Calls("StartTransientUnit"); n != 0 {
		t.Errorf("StartTransientUnit called %d times for an fstab entry", n)
	}
	// Mounting what is mounted already is done.
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw"); err != nil {
		t.Errorf("mount again: %v", err)
	}
	// Something else is mounted there.
	err := ms.Mount(ctx, "/dev/sdb1", "/srv/media", "ext4", "rw")
	if err == nil || !strings.Contains(err.Error(), "already mounted from /dev/disk/by-uuid/3f2a-media") {
		t.Errorf("mount another device on a mounted point: %v", err)
	}
	if err := ms.Unmount(ctx, "/srv/media"); err != nil {
		t.Fatal(err)
	}
	// The fstab entry mounts another disk than the one asked for.
	err = ms.Mount(ctx, "/dev/sdb1", "/srv/media", "ext4", "rw")
	if err == nil || !strings.Contains(err.Error(), "mounts /dev/disk/by-uuid/3f2a-media, not /dev/sdb1") {
		t.Errorf("fstab unit for another device: %v", err)
	}
	if got, want := jobsOf(env), "start srv-media.mount fail=done; stop srv-media.mount fail=done"; got != want {
		t.Errorf("jobs: %s\nwant  %s", got, want)
	}
}

func TestMountFstabDeviceMissing(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t, dbustest.Unit{
		Name: "srv-backup.mount", ActiveState: "inactive", Where: "/srv/backup", What: "/dev/disk/by-label/OLD",
		FragmentPath: "/run/systemd/generator/srv-backup.mount", SourcePath: "/etc/fstab",
	})
	err := ms.Mount(context.Background(), "/dev/sdb1", "/srv/backup", "ext4", "rw")
	if err == nil || !strings.Contains(err.Error(), "/dev/disk/by-label/OLD: no such file") {
		t.Errorf("fstab unit whose device is absent: %v", err)
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

func TestMountLeftoverTransient(t *testing.T) {
	t.Parallel()
	left := dbustest.Unit{
		Name: "srv-media.mount", ActiveState: "inactive", Where: "/srv/media", What: "/dev/sda1", Type: "ext4",
		Transient: true, FragmentPath: "/run/systemd/transient/srv-media.mount",
	}
	env, ms := mounts(t, left)
	ctx := context.Background()
	// A transient unit not collected yet (another client's, or one kept
	// by a dependency) cannot be made again; it is started as it is.
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw"); err != nil {
		t.Fatal(err)
	}
	if n := env.Systemd.Calls("StartTransientUnit"); n != 0 {
		t.Errorf("StartTransientUnit called %d times over an existing transient unit", n)
	}
	if u, _ := env.Systemd.Unit("srv-media.mount"); u.ActiveState != "active" {
		t.Errorf("after mount: %+v", u)
	}
}

func TestMountTransientRefused(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t)
	// polkit without an agent, for systemd before 257 and the rule of
	// 50-veille.rules.
	env.Systemd.Hook("StartTransientUnit", func() *dbus.Error {
		return dbustest.Error(dbustest.ErrInteractiveAuthorizationRequired, "Interactive authentication required.")
	})
	err := ms.Mount(context.Background(), "/dev/sda1", "/srv/media", "ext4", "rw")
	if !errors.Is(err, ErrTransientRefused) || !strings.Contains(err.Error(), "add an fstab entry") ||
		!strings.Contains(err.Error(), "Interactive authentication required") {
		t.Errorf("refused transient unit: %v", err)
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

func TestMountTransientFails(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t)
	ctx := context.Background()
	// mount(8) fails (wrong filesystem type, a dirty filesystem).
	env.Systemd.ScriptTransient(dbustest.Unit{Name: "srv-media.mount", StartResult: "failed"})
	err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "xfs", "rw")
	var je *JobError
	if !errors.As(err, &je) || je.Result != "failed" || !strings.Contains(err.Error(), "journalctl -u srv-media.mount") {
		t.Errorf("failed mount job: %v", err)
	}
	// Collected although failed (CollectMode=inactive-or-failed): the
	// next try makes a new unit instead of finding the failed one.
	if u, ok := env.Systemd.Unit("srv-media.mount"); ok {
		t.Errorf("failed transient unit left behind: %+v", u)
	}
	env.Systemd.ScriptTransient(dbustest.Unit{Name: "srv-media.mount"})
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw"); err != nil {
		t.Errorf("second try: %v", err)
	}
}

func TestMountUnitRefused(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t,
		dbustest.Unit{Name: "srv-masked.mount", LoadState: "masked", ActiveState: "inactive"},
		dbustest.Unit{Name: "srv-bad.mount", LoadState: "bad-setting", ActiveState: "inactive"},
		dbustest.Unit{Name: "srv-busy.mount", ActiveState: "activating", What: "/dev/sda1"},
	)
	ctx := context.Background()
	for target, want := range map[string]string{
		"/srv/masked": "srv-masked.mount is masked",
		"/srv/bad":    "srv-bad.mount did not load (bad-setting)",
		"/srv/busy":   "srv-busy.mount is activating",
		"/srv/../etc": "not a normalized path",
		"srv/media":   "not an absolute path",
	} {
		if err := ms.Mount(ctx, "/dev/sda1", target, "ext4", "rw"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mount on %s: %v, want %q", target, err, want)
		}
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

func TestUnmountBusy(t *testing.T) {
	t.Parallel()
	busy := handMounted
	busy.Busy = true
	env, ms := mounts(t, busy)
	err := ms.Unmount(context.Background(), "/srv/media")
	var ue *UnmountError
	if !errors.As(err, &ue) || !errors.Is(err, syscall.EBUSY) || !ue.StillMounted || ue.Result != "exit-code" {
		t.Fatalf("unmount of a busy filesystem: %#v", err)
	}
	if !strings.Contains(err.Error(), "still mounted, the filesystem is busy") {
		t.Errorf("message: %v", err)
	}
	if u, _ := env.Systemd.Unit("srv-media.mount"); u.ActiveState != "" {
		t.Errorf("busy mount unit went %s", u.ActiveState)
	}
}

func TestUnmountJobFails(t *testing.T) {
	t.Parallel()
	hung := handMounted
	hung.StopResult = "timeout" // umount(8) hung (a dead NFS server) and was killed
	other := dbustest.Unit{Name: "srv-backup.mount", Where: "/srv/backup", What: "/dev/sdb1", StopResult: "canceled"}
	_, ms := mounts(t, hung, other)
	ctx := context.Background()
	err := ms.Unmount(ctx, "/srv/media")
	var ue *UnmountError
	if !errors.As(err, &ue) || ue.JobResult != "timeout" || !ue.StillMounted || errors.Is(err, syscall.EBUSY) ||
		!strings.Contains(err.Error(), `job ended with result "timeout", umount result timeout): still mounted`) {
		t.Errorf("timed-out unmount: %v", err)
	}
	err = ms.Unmount(ctx, "/srv/backup")
	if !errors.As(err, &ue) || ue.JobResult != "canceled" || !ue.StillMounted || errors.Is(err, syscall.EBUSY) ||
		strings.Contains(err.Error(), "busy") || strings.Contains(err.Error(), "umount result") {
		t.Errorf("canceled unmount: %v", err)
	}
}

func TestUnmountNotMounted(t *testing.T) {
	t.Parallel()
	_, ms := mounts(t,
		dbustest.Unit{Name: "srv-old.mount", ActiveState: "inactive", Where: "/srv/old"},
		dbustest.Unit{Name: "srv-gone.mount", ActiveState: "failed", Where: "/srv/gone"},
		dbustest.Unit{Name: "srv-going.mount", ActiveState: "deactivating", Where: "/srv/going"},
	)
	ctx := context.Background()
	for target, want := range map[string]string{
		"/srv/none":  "not mounted (systemd has no unit srv-none.mount)",
		"/srv/old":   "not mounted (srv-old.mount is inactive)",
		"/srv/gone":  "not mounted (srv-gone.mount is failed)",
		"/srv/going": "srv-going.mount is deactivating: another job",
	} {
		err := ms.Unmount(ctx, target)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unmount %s: %v, want %q", target, err, want)
		}
	}
}

func TestUnmountLazyOrForced(t *testing.T) {
	t.Parallel()
	lazy := handMounted
	lazy.LazyUnmount = true
	forced := dbustest.Unit{Name: "srv-backup.mount", Where: "/srv/backup", What: "/dev/sdb1", ForceUnmount: true}
	env, ms := mounts(t, lazy, forced)
	ctx := context.Background()
	if err := ms.Unmount(ctx, "/srv/media"); err == nil || !strings.Contains(err.Error(), "LazyUnmount=yes") {
		t.Errorf("lazy: %v", err)
	}
	if err := ms.Unmount(ctx, "/srv/backup"); err == nil || !strings.Contains(err.Error(), "ForceUnmount=yes") {
		t.Errorf("forced: %v", err)
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

// Nothing else is stopped behind the user's back: an unmount that would
// stop other active units is refused before any job, naming them all.
func TestUnmountRefusesToStopOthers(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t,
		handMounted,
		dbustest.Unit{Name: "plex.service", Requires: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "photos.service", BindsTo: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "thumbs.service", Requisite: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "index.service", PartOf: []string{"photos.service"}}, // stopped with photos
		dbustest.Unit{Name: "web.service", Requires: []string{"plex.service"}},   // stopped with plex
		dbustest.Unit{Name: "sync.service", Wants: []string{"srv-media.mount"}},  // Wants: not stopped
		dbustest.Unit{Name: "old.service", ActiveState: "inactive", Requires: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "srv-media-films.mount", Where: "/srv/media/films", Requires: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "local-fs.target", Requires: []string{"srv-media.mount"}},
	)
	err := ms.Unmount(context.Background(), "/srv/media")
	var de *DependentsError
	if !errors.As(err, &de) {
		t.Fatalf("unmount with dependents: %v", err)
	}
	want := []string{"index.service", "local-fs.target", "photos.service", "plex.service", "srv-media-films.mount", "thumbs.service", "web.service"}
	if !reflect.DeepEqual(de.Units, want) {
		t.Errorf("dependents %v, want %v", de.Units, want)
	}
	if !strings.Contains(err.Error(), "add nofail") {
		t.Errorf("no hint about fstab's nofail: %v", err)
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

// The fake propagates stops as systemd does: what Unmount checks is real.
func TestStopPropagatesWithoutTheCheck(t *testing.T) {
	t.Parallel()
	env, m := manager(t, handMounted,
		dbustest.Unit{Name: "plex.service", Requires: []string{"srv-media.mount"}},
		dbustest.Unit{Name: "mover.service", PropagatesStopTo: []string{"plex.service"}},
	)
	if err := m.StopUnit(context.Background(), "srv-media.mount"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("plex.service"); u.ActiveState != "inactive" {
		t.Errorf("plex.service after a plain stop of its mount: %s", u.ActiveState)
	}
}

func TestUnmountPropagatesStopTo(t *testing.T) {
	t.Parallel()
	m := handMounted
	m.PropagatesStopTo = []string{"backup.service"}
	env, ms := mounts(t, m, dbustest.Unit{Name: "backup.service"})
	err := ms.Unmount(context.Background(), "/srv/media")
	var de *DependentsError
	if !errors.As(err, &de) || !reflect.DeepEqual(de.Units, []string{"backup.service"}) {
		t.Errorf("unmount of a mount with PropagatesStopTo=: %v", err)
	}
	if len(env.Systemd.Jobs()) != 0 {
		t.Errorf("jobs: %s", jobsOf(env))
	}
}

func TestUnmountWaitBounded(t *testing.T) {
	t.Parallel()
	hangs := handMounted
	hangs.JobHangs = true
	_, ms := mounts(t, hangs)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := ms.Unmount(ctx, "/srv/media")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unmount /srv/media: stop srv-media.mount: waiting for job") {
		t.Errorf("hung job: %v", err)
	}
}

func TestMountsSystemdGone(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t, handMounted)
	if err := env.Systemd.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms.Unmount(ctx, "/srv/media"); err == nil || !strings.Contains(err.Error(), "get unit srv-media.mount from systemd on unix:") {
		t.Errorf("unmount without systemd: %v", err)
	}
	if err := ms.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "rw"); err == nil || !strings.Contains(err.Error(), "load unit srv-media.mount from systemd on unix:") {
		t.Errorf("mount without systemd: %v", err)
	}
}

func TestUnitFile(t *testing.T) {
	t.Parallel()
	env, ms := mounts(t,
		handMounted,
		dbustest.Unit{Name: "srv-backup.mount", ActiveState: "inactive", FragmentPath: "/run/systemd/generator/srv-backup.mount", SourcePath: "/etc/fstab"},
		dbustest.Unit{Name: "srv-tmp.mount", Transient: true, FragmentPath: "/run/systemd/transient/srv-tmp.mount"},
	)
	ctx := context.Background()
	for target, want := range map[string]string{
		"/srv/media":  "",
		"/srv/backup": "/run/systemd/generator/srv-backup.mount",
		"/srv/tmp":    "",
		"/srv/none":   "",
	} {
		if got, err := ms.UnitFile(ctx, target); err != nil || got != want {
			t.Errorf("UnitFile(%s) = %q, %v; want %q", target, got, err, want)
		}
	}
	if _, err := ms.UnitFile(ctx, "srv"); err == nil {
		t.Error("UnitFile of a relative path succeeded")
	}
	for v, want := range map[string]bool{"252.38-1~deb12u1": false, "257": true, "v258-rc1": true, "256.7": false} {
		env.Systemd.SetVersion(v)
		if got, err := ms.Manager.TransientUnitsNamed(ctx); err != nil || got != want {
			t.Errorf("TransientUnitsNamed with systemd %s = %v, %v; want %v", v, got, err, want)
		}
	}
	env.Systemd.SetVersion("unknown")
	if _, err := ms.Manager.TransientUnitsNamed(ctx); err == nil {
		t.Error("a version that is no number accepted")
	}
}
