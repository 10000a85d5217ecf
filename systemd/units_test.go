package systemd

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/veille/veille/systemd/dbustest"
)

// internal/power's Units contract (docs/ARCHITECTURE.md).
var _ interface {
	StopUnit(ctx context.Context, name string) error
	StartUnit(ctx context.Context, name string) error
	UnitsForMount(ctx context.Context, path string) ([]string, error)
} = (*Manager)(nil)

func manager(t *testing.T, units ...dbustest.Unit) (*dbustest.Env, *Manager) {
	t.Helper()
	env := dbustest.New(t)
	for _, u := range units {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	m, err := DialManager(context.Background(), Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return env, m
}

func TestStopAndStartUnit(t *testing.T) {
	t.Parallel()
	env, m := manager(t, dbustest.Unit{Name: "nextcloud.service"})
	ctx := context.Background()
	if err := m.StopUnit(ctx, "nextcloud.service"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("nextcloud.service"); u.ActiveState != "inactive" {
		t.Errorf("after stop: %q", u.ActiveState)
	}
	if err := m.StartUnit(ctx, "nextcloud.service"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("nextcloud.service"); u.ActiveState != "active" {
		t.Errorf("after start: %q", u.ActiveState)
	}
	jobs := env.Systemd.Jobs()
	if len(jobs) != 2 || jobs[0].Type != "stop" || jobs[1].Type != "start" || jobs[0].Mode != "replace" || jobs[1].Result != "done" {
		t.Errorf("jobs %+v", jobs)
	}
}

func TestJobResults(t *testing.T) {
	t.Parallel()
	_, m := manager(t,
		dbustest.Unit{Name: "plex.service", StopResult: "timeout"},
		dbustest.Unit{Name: "jellyfin.service", StopResult: "failed", StartResult: "dependency"},
	)
	ctx := context.Background()
	for _, tc := range []struct {
		op, unit, result string
		run              func(context.Context, string) error
	}{
		{"stop", "plex.service", "timeout", m.StopUnit},
		{"stop", "jellyfin.service", "failed", m.StopUnit},
		{"start", "jellyfin.service", "dependency", m.StartUnit},
	} {
		err := tc.run(ctx, tc.unit)
		var je *JobError
		if !errors.As(err, &je) || je.Unit != tc.unit || je.Op != tc.op || je.Result != tc.result {
			t.Errorf("%s %s: %v", tc.op, tc.unit, err)
			continue
		}
		if want := tc.op + " " + tc.unit + `: job ended with result "` + tc.result + `"`; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	}
}

func TestStopUnknownUnit(t *testing.T) {
	t.Parallel()
	_, m := manager(t)
	err := m.StopUnit(context.Background(), "samba.service")
	var je *JobError
	if err == nil || errors.As(err, &je) || !strings.Contains(err.Error(), "stop samba.service: Unit samba.service not") {
		t.Errorf("StopUnit of an unknown unit: %v", err)
	}
	if errorName(err) != dbustest.ErrNoSuchUnit {
		t.Errorf("error name %q", errorName(err))
	}
}

func TestStopUnitCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	env, m := manager(t, dbustest.Unit{Name: "plex.service", JobHangs: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.StopUnit(ctx, "plex.service") }()
	// Cancel once the job is queued; the job never ends by itself.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := env.Systemd.WaitJobs(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "stop plex.service: ") {
		t.Errorf("StopUnit of a hanging job: %v", err)
	}
}

func TestStopUnitCallFails(t *testing.T) {
	t.Parallel()
	env, m := manager(t, dbustest.Unit{Name: "plex.service"})
	env.Systemd.Hook("StopUnit", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "Access denied")
	})
	if err := m.StopUnit(context.Background(), "plex.service"); err == nil || err.Error() != "stop plex.service: Access denied" {
		t.Errorf("StopUnit refused: %v", err)
	}
}

// disk1 is a server with two disks: services reach /srv/disk1 through
// RequiresMountsFor= and through dependencies on its mount units.
var disk1 = []dbustest.Unit{
	{Name: "srv-disk1.mount", Where: "/srv/disk1", What: "/dev/sda1"},
	{Name: "srv-disk1-photos.mount", Where: "/srv/disk1/photos", What: "/dev/sdb1"},
	{Name: "srv-disk10.mount", Where: "/srv/disk10", What: "/dev/sdc1"},
	{Name: "nextcloud.service", RequiresMountsFor: []string{"/srv/disk1/nextcloud", "/var/lib/nextcloud"}},
	{Name: "jellyfin.service", RequiresMountsFor: []string{"/srv/disk1/"}},
	{Name: "gitea.service", RequiresMountsFor: []string{"/srv/disk10"}},
	{Name: "samba.service", ActiveState: "inactive", RequiresMountsFor: []string{"/srv/disk1"}},
	{Name: "plex.service", Requires: []string{"srv-disk1.mount"}},
	{Name: "photoprism.service", BindsTo: []string{"srv-disk1-photos.mount"}},
	{Name: "rsync.socket", Wants: []string{"srv-disk1.mount"}},
	{Name: "minidlna.service", ActiveState: "activating", Requires: []string{"srv-disk1.mount"}},
	{Name: "stopped.service", ActiveState: "inactive", Requires: []string{"srv-disk1.mount"}},
	{Name: "local-fs.target", Wants: []string{"srv-disk1.mount", "srv-disk10.mount"}},
	{Name: "session-3.scope", RequiresMountsFor: []string{"/srv/disk1"}},
	{Name: "rootish.service", RequiresMountsFor: []string{"/"}},
}

func TestUnitsForMount(t *testing.T) {
	t.Parallel()
	_, m := manager(t, disk1...)
	ctx := context.Background()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/srv/disk1", []string{"jellyfin.service", "minidlna.service", "nextcloud.service", "photoprism.service", "plex.service", "rsync.socket"}},
		{"/srv/disk1/", []string{"jellyfin.service", "minidlna.service", "nextcloud.service", "photoprism.service", "plex.service", "rsync.socket"}},
		{"/srv/disk1/photos", []string{"photoprism.service"}},
		{"/srv/disk10", []string{"gitea.service"}},
		{"/srv/disk2", []string{}},
		{"/", []string{"gitea.service", "jellyfin.service", "minidlna.service", "nextcloud.service", "photoprism.service", "plex.service", "rootish.service", "rsync.socket"}},
	} {
		got, err := m.UnitsForMount(ctx, tc.path)
		if err != nil {
			t.Fatalf("UnitsForMount(%q): %v", tc.path, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("UnitsForMount(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	if _, err := m.UnitsForMount(ctx, "srv/disk1"); err == nil {
		t.Error("relative path accepted")
	}
}

func TestUnitsForMountFailures(t *testing.T) {
	t.Parallel()
	env, m := manager(t, disk1...)
	ctx := context.Background()
	env.Systemd.Hook("ListUnitsFiltered", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.Failed", "busy")
	})
	if _, err := m.UnitsForMount(ctx, "/srv/disk1"); err == nil || !strings.Contains(err.Error(), "units for mount /srv/disk1: list units: busy") {
		t.Errorf("list failure: %v", err)
	}
	env.Systemd.Hook("ListUnitsFiltered", nil)
	env.Systemd.Hook("Get", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "denied")
	})
	if _, err := m.UnitsForMount(ctx, "/srv/disk1"); err == nil || !strings.Contains(err.Error(), ".service: denied") {
		t.Errorf("property failure: %v", err)
	}
	env.Systemd.Hook("Get", nil)
	env.Systemd.Hook("GetAll", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "denied")
	})
	if _, err := m.UnitsForMount(ctx, "/srv/disk1"); err == nil || !strings.Contains(err.Error(), ".mount: denied") {
		t.Errorf("mount property failure: %v", err)
	}
	// A unit that disappears while being read is skipped.
	env.Systemd.Hook("GetAll", nil)
	env.Systemd.Hook("Get", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.UnknownObject", "gone")
	})
	got, err := m.UnitsForMount(ctx, "/srv/disk1")
	if err != nil || !reflect.DeepEqual(got, []string{"minidlna.service", "photoprism.service", "plex.service", "rsync.socket"}) {
		t.Errorf("with RequiresMountsFor unreadable: %q, %v", got, err)
	}
}

func TestNextTimerElapses(t *testing.T) {
	t.Parallel()
	scrub := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	backup := time.Date(2026, 11, 23, 4, 30, 0, 0, time.UTC)
	env, m := manager(t,
		dbustest.Unit{Name: "backup.timer", NextElapse: backup},
		dbustest.Unit{Name: "btrfs-scrub.timer", NextElapse: scrub, Triggers: "btrfs-scrub@srv.service"},
		dbustest.Unit{Name: "boot-check.timer", NextElapseMonotonic: 15 * time.Minute},
		dbustest.Unit{Name: "old.timer", ActiveState: "inactive", NextElapse: scrub.Add(-time.Hour)},
		dbustest.Unit{Name: "backup.service", ActiveState: "inactive"},
	)
	ctx := context.Background()
	got, err := m.NextTimerElapses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []TimerElapse{
		{Timer: "btrfs-scrub.timer", Unit: "btrfs-scrub@srv.service", Next: scrub},
		{Timer: "backup.timer", Unit: "backup.service", Next: backup},
	}
	if !equalElapses(got, want) {
		t.Errorf("NextTimerElapses() = %+v, want %+v", got, want)
	}
	got, err = m.NextTimerElapses(ctx, "backup*")
	if err != nil || !equalElapses(got, want[1:]) {
		t.Errorf("NextTimerElapses(backup*) = %+v, %v", got, err)
	}
	got, err = m.NextTimerElapses(ctx, "nothing*.timer")
	if err != nil || len(got) != 0 {
		t.Errorf("NextTimerElapses(nothing*) = %+v, %v", got, err)
	}
	env.Systemd.Hook("ListUnitsByPatterns", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.Failed", "busy")
	})
	if _, err := m.NextTimerElapses(ctx); err == nil || !strings.Contains(err.Error(), "list units: busy") {
		t.Errorf("list failure: %v", err)
	}
	env.Systemd.Hook("ListUnitsByPatterns", nil)
	env.Systemd.Hook("GetAll", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "denied")
	})
	if _, err := m.NextTimerElapses(ctx); err == nil || !strings.Contains(err.Error(), "timer backup.timer: denied") {
		t.Errorf("property failure: %v", err)
	}
}

func equalElapses(a, b []TimerElapse) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Timer != b[i].Timer || a[i].Unit != b[i].Unit || !a[i].Next.Equal(b[i].Next) {
			return false
		}
	}
	return true
}

func TestWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/srv/disk1", "/srv/disk1", true},
		{"/srv/disk1/a", "/srv/disk1", true},
		{"/srv/disk10", "/srv/disk1", false},
		{"/srv", "/srv/disk1", false},
		{"/anything", "/", true},
	} {
		if got := within(tc.p, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v", tc.p, tc.dir, got)
		}
	}
}

// A mount point outside ASCII: its unit name escapes every byte of the
// UTF-8 ("/srv/médias" is srv-m\xc3\xa9dias.mount), and the units that need
// that mount unit are found.
func TestUnitsForMountNonASCII(t *testing.T) {
	t.Parallel()
	name, err := MountUnitName("/srv/médias")
	if err != nil {
		t.Fatal(err)
	}
	_, m := manager(t,
		dbustest.Unit{Name: name, Where: "/srv/médias", What: "/dev/sda1"},
		dbustest.Unit{Name: "jellyfin.service", BindsTo: []string{name}},
	)
	got, err := m.UnitsForMount(context.Background(), "/srv/médias")
	if err != nil || !reflect.DeepEqual(got, []string{"jellyfin.service"}) {
		t.Errorf("UnitsForMount(/srv/médias) = %q, %v; want [jellyfin.service]", got, err)
	}
}
