package dbustest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

type prop struct {
	Name  string
	Value dbus.Variant
}

func mountProps(what, where string, more ...prop) []prop {
	return append([]prop{{"What", dbus.MakeVariant(what)}, {"Where", dbus.MakeVariant(where)}}, more...)
}

// startTransient calls StartTransientUnit and waits for the job's end.
func startTransient(t *testing.T, env *Env, c *dbus.Conn, name string, props []prop) (string, error) {
	t.Helper()
	var job dbus.ObjectPath
	n := len(env.Systemd.Jobs())
	err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StartTransientUnit", 0, name, "fail", props, []struct {
		Name  string
		Props []prop
	}{}).Store(&job)
	if err != nil {
		return "", err
	}
	return waitJob(t, env, n), nil
}

// waitJob waits for the job queued after the first n to end.
func waitJob(t *testing.T, env *Env, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.Systemd.WaitJobs(ctx, n+1); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		jobs := env.Systemd.Jobs()
		if r := jobs[len(jobs)-1].Result; r != "" {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("job did not end")
	return ""
}

func TestLoadUnitMakesStub(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	var path dbus.ObjectPath
	if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".LoadUnit", 0, "srv-media.mount").Store(&path); err != nil {
		t.Fatal(err)
	}
	var props map[string]dbus.Variant
	if err := c.Object(SystemdName, path).Call("org.freedesktop.DBus.Properties.GetAll", 0, SystemdUnit).Store(&props); err != nil {
		t.Fatal(err)
	}
	if props["LoadState"].Value() != "not-found" || props["ActiveState"].Value() != "inactive" || props["FragmentPath"].Value() != "" {
		t.Errorf("stub unit %v", props)
	}
	var job dbus.ObjectPath
	err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StartUnit", 0, "srv-media.mount", "fail").Store(&job)
	if err == nil || !strings.Contains(err.Error(), "Unit srv-media.mount not found.") {
		t.Errorf("start of a not-found unit: %v", err)
	}
	err = c.Object(SystemdName, SystemdPath).Call(SystemdManager+".LoadUnit", 0, "no type").Store(&path)
	if err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("LoadUnit of a bad name: %v", err)
	}
}

func TestStartTransientUnitChecks(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	for _, u := range []Unit{
		{Name: "srv-fstab.mount", ActiveState: "inactive", FragmentPath: "/run/systemd/generator/srv-fstab.mount", SourcePath: "/etc/fstab"},
		{Name: "srv-masked.mount", LoadState: "masked", ActiveState: "inactive"},
		{Name: "srv-hand.mount", ActiveState: "inactive", Where: "/srv/hand", What: "/dev/sdc1"}, // from mountinfo: pristine
	} {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		props []prop
		want  string
	}{
		{"srv-fstab.mount", mountProps("/dev/sda1", "/srv/fstab"), "org.freedesktop.systemd1.UnitExists"},
		{"srv-masked.mount", mountProps("/dev/sda1", "/srv/masked"), "org.freedesktop.systemd1.UnitExists"},
		{"srv-media.mount", mountProps("/dev/sda1", "/srv/other"), "org.freedesktop.systemd1.BadUnitSetting"},
		{"srv-media.mount", mountProps("", "/srv/media"), "org.freedesktop.systemd1.BadUnitSetting"},
		{"srv-media.mount", mountProps("/dev/sda1", "/srv/media", prop{"ExecStart", dbus.MakeVariant("/bin/sh")}), "Cannot set property ExecStart"},
		{"srv-media.mount", mountProps("/dev/sda1", "/srv/media", prop{"LazyUnmount", dbus.MakeVariant("yes")}), "Invalid type for property LazyUnmount"},
		{"srv-media.mount", mountProps("/dev/sda1", "/srv/media", prop{"CollectMode", dbus.MakeVariant("never")}), "Invalid collect mode"},
		{"run-x.service", nil, "transient service units are not emulated"},
	} {
		if _, err := startTransient(t, env, c, tc.name, tc.props); err == nil || !strings.Contains(err.Error()+errorName(err), tc.want) {
			t.Errorf("StartTransientUnit %s %v: %v, want %s", tc.name, tc.props, err, tc.want)
		}
	}
	if _, ok := env.Systemd.Unit("srv-media.mount"); ok {
		t.Error("a refused transient unit was left behind")
	}
	// A unit made from /proc/self/mountinfo may be replaced.
	r, err := startTransient(t, env, c, "srv-hand.mount", mountProps("/dev/sdc1", "/srv/hand", prop{"Type", dbus.MakeVariant("vfat")}))
	if err != nil || r != "done" {
		t.Fatalf("transient over a pristine unit: %q %v", r, err)
	}
	if u, _ := env.Systemd.Unit("srv-hand.mount"); !u.Transient || u.Type != "vfat" || u.ActiveState != "active" {
		t.Errorf("transient unit %+v", u)
	}
	// A transient unit still there cannot be made again.
	if _, err := startTransient(t, env, c, "srv-hand.mount", mountProps("/dev/sdc1", "/srv/hand")); errorName(err) != ErrUnitExists {
		t.Errorf("second transient unit: %v", err)
	}
}

func errorName(err error) string {
	if de, ok := err.(dbus.Error); ok {
		return de.Name
	}
	if de, ok := err.(*dbus.Error); ok && de != nil {
		return de.Name
	}
	return ""
}

func TestMountUnitStates(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	for _, u := range []Unit{
		{Name: "srv-busy.mount", Where: "/srv/busy", What: "/dev/sda1", Busy: true},
		{Name: "srv-hand.mount", Where: "/srv/hand", What: "/dev/sdb1"},
	} {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	call := func(method, name string) string {
		t.Helper()
		n := len(env.Systemd.Jobs())
		var job dbus.ObjectPath
		if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+"."+method, 0, name, "fail").Store(&job); err != nil {
			t.Fatal(err)
		}
		return waitJob(t, env, n)
	}
	// Busy: umount fails, the unit stays mounted with Result=exit-code.
	if r := call("StopUnit", "srv-busy.mount"); r != "failed" {
		t.Errorf("stop of a busy mount: %s", r)
	}
	var result dbus.Variant
	if err := c.Object(SystemdName, UnitPath("srv-busy.mount")).Call("org.freedesktop.DBus.Properties.Get", 0, SystemdMount, "Result").Store(&result); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("srv-busy.mount"); u.activeState() != "active" || result.Value() != "exit-code" {
		t.Errorf("busy mount after a failed stop: %s, Result %v", u.activeState(), result)
	}
	// Made from mountinfo: stops, but has nothing to mount with.
	if r := call("StopUnit", "srv-hand.mount"); r != "done" {
		t.Errorf("stop: %s", r)
	}
	if r := call("StartUnit", "srv-hand.mount"); r != "failed" {
		t.Errorf("start of a mount unit without a unit file: %s", r)
	}
}

func TestStopPropagation(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	for _, u := range []Unit{
		{Name: "srv-media.mount", Where: "/srv/media"},
		{Name: "plex.service", Requires: []string{"srv-media.mount"}},
		{Name: "web.service", BindsTo: []string{"plex.service"}},
		{Name: "sync.service", Wants: []string{"srv-media.mount"}},
		{Name: "old.service", ActiveState: "inactive", Requires: []string{"srv-media.mount"}},
	} {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	stop := func(mode string) {
		t.Helper()
		n := len(env.Systemd.Jobs())
		var job dbus.ObjectPath
		if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StopUnit", 0, "srv-media.mount", mode).Store(&job); err != nil {
			t.Fatal(err)
		}
		waitJob(t, env, n)
	}
	stop("ignore-requirements")
	if u, _ := env.Systemd.Unit("plex.service"); u.ActiveState != "" {
		t.Errorf("ignore-requirements stopped plex.service")
	}
	if err := env.Systemd.AddUnit(Unit{Name: "srv-media.mount", Where: "/srv/media"}); err != nil {
		t.Fatal(err)
	}
	stop("fail")
	var got []string
	for _, j := range env.Systemd.Jobs()[1:] {
		got = append(got, j.Unit+"<"+j.Anchor)
	}
	if want := "plex.service<srv-media.mount web.service<srv-media.mount srv-media.mount<"; strings.Join(got, " ") != want {
		t.Errorf("jobs %v, want %s", got, want)
	}
	for name, want := range map[string]string{"plex.service": "inactive", "web.service": "inactive", "sync.service": "", "old.service": "inactive"} {
		if u, _ := env.Systemd.Unit(name); u.ActiveState != want {
			t.Errorf("%s: %q, want %q", name, u.ActiveState, want)
		}
	}
}

func TestJobRunner(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	var mu sync.Mutex
	var ran []string
	env.Systemd.SetJobRunner(func(j Job, u Unit) string {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, j.Type+" "+u.Name+" "+u.What)
		if j.Type == "stop" {
			return "failed"
		}
		return ""
	})
	if r, err := startTransient(t, env, c, "srv-media.mount", mountProps("/dev/sda1", "/srv/media")); err != nil || r != "done" {
		t.Fatalf("start: %q %v", r, err)
	}
	n := len(env.Systemd.Jobs())
	var job dbus.ObjectPath
	if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StopUnit", 0, "srv-media.mount", "fail").Store(&job); err != nil {
		t.Fatal(err)
	}
	if r := waitJob(t, env, n); r != "failed" {
		t.Errorf("stop the runner failed: %s", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(ran, "; ") != "start srv-media.mount /dev/sda1; stop srv-media.mount /dev/sda1" {
		t.Errorf("runner saw %q", ran)
	}
}
