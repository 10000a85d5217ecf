package dbustest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func client(t *testing.T, b *Bus) *dbus.Conn {
	t.Helper()
	c, err := b.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBusPathEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   "_",
		"1":                  "_31",
		"c2":                 "c2",
		"plex.service":       "plex_2eservice",
		"srv-disk1.mount":    "srv_2ddisk1_2emount",
		"a\tb":               "a_09b",
		"getty@tty1.service": "getty_40tty1_2eservice",
	} {
		if got := busPathEscape(in); got != want {
			t.Errorf("busPathEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBusStartsAndStops(t *testing.T) {
	t.Parallel()
	b, err := StartBus(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Address(), "unix:path=") {
		t.Errorf("address %q", b.Address())
	}
	c, err := b.Dial()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := c.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Dial(); err == nil {
		t.Error("Dial after Close succeeded")
	}
}

func TestLongSocketDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := StartBus(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := b.tmpDir
	if tmp == "" || strings.Contains(b.Address(), dir) {
		t.Errorf("long directory used for the socket: %s", b.Address())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("socket directory %s left behind: %v", tmp, err)
	}
}

func TestInhibitorLivesInTheFd(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	obj := c.Object(LoginName, LoginPath)
	var fd dbus.UnixFD
	if err := obj.Call(LoginManager+".Inhibit", 0, "shutdown:sleep", "test", "holding", "delay").Store(&fd); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "inhibit")
	got := env.Login.Inhibitors()
	if len(got) != 1 || got[0].What != "shutdown:sleep" || got[0].Mode != "delay" ||
		got[0].UID != uint32(os.Getuid()) || got[0].PID != uint32(os.Getpid()) {
		t.Fatalf("inhibitors = %+v", got)
	}
	var mode string
	v, err := obj.GetProperty(LoginManager + ".DelayInhibited")
	if err != nil || v.Store(&mode) != nil || mode != "shutdown:sleep" {
		t.Errorf("DelayInhibited = %v, %v", v, err)
	}
	// The fake's own copy of the write end is closed once the reply is out,
	// so closing ours ends the lock.
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.Login.WaitInhibitors(ctx, func(in []Inhibitor) bool { return len(in) == 0 }); err != nil {
		t.Fatal(err)
	}
	if n := env.Login.Calls("Inhibit"); n != 1 {
		t.Errorf("Calls(Inhibit) = %d", n)
	}
}

func TestInhibitRejectsBadArguments(t *testing.T) {
	t.Parallel()
	env := New(t)
	obj := client(t, env.Bus).Object(LoginName, LoginPath)
	var fd dbus.UnixFD
	err := obj.Call(LoginManager+".Inhibit", 0, "shutdown:nap", "t", "w", "block").Store(&fd)
	if err == nil || !strings.Contains(err.Error(), "Invalid what") {
		t.Errorf("bad what: %v", err)
	}
	err = obj.Call(LoginManager+".Inhibit", 0, "shutdown", "t", "w", "maybe").Store(&fd)
	if err == nil || !strings.Contains(err.Error(), "Invalid mode") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestShutdownSemantics(t *testing.T) {
	t.Parallel()
	env := New(t)
	obj := client(t, env.Bus).Object(LoginName, LoginPath)
	env.Login.SetCallerRoot(true)
	release := env.Login.HoldInhibitor(Inhibitor{What: "shutdown", Who: "backup", Why: "copying", Mode: "block", UID: 4321, PID: 99})
	err := obj.Call(LoginManager+".PowerOffWithFlags", 0, RootCheckInhibitors).Store()
	if de, ok := err.(dbus.Error); !ok || de.Name != ErrBlockedByInhibitor {
		t.Fatalf("PowerOffWithFlags with a block inhibitor: %v", err)
	}
	env.Login.SetLegacyRefusal(true)
	err = obj.Call(LoginManager+".RebootWithFlags", 0, RootCheckInhibitors).Store()
	if de, ok := err.(dbus.Error); !ok || de.Name != "org.freedesktop.DBus.Error.AccessDenied" || !strings.Contains(de.Error(), "block inhibitor") {
		t.Fatalf("legacy refusal: %v", err)
	}
	if err := obj.Call(LoginManager+".PowerOffWithFlags", 0, uint64(1<<7)).Store(); err == nil {
		t.Error("unknown flag accepted")
	}
	// Like logind for root, the call without flags goes through.
	if err := obj.Call(LoginManager+".PowerOff", 0, false).Store(); err != nil {
		t.Fatal(err)
	}
	release()
	err = obj.Call(LoginManager+".Reboot", 0, false).Store()
	if de, ok := err.(dbus.Error); !ok || de.Name != ErrOperationInProgress {
		t.Fatalf("second shutdown: %v", err)
	}
	if err := env.Login.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := obj.Call(LoginManager+".HaltWithFlags", 0, RootCheckInhibitors).Store(); err != nil {
		t.Fatal(err)
	}
	// A caller that is not root is refused with or without flags.
	env.Login.SetCallerRoot(false)
	release = env.Login.HoldInhibitor(Inhibitor{What: "shutdown", Who: "backup", Why: "copying", Mode: "block", UID: 4321, PID: 99})
	if err := env.Login.Resume(); err != nil {
		t.Fatal(err)
	}
	err = obj.Call(LoginManager+".PowerOff", 0, false).Store()
	if de, ok := err.(dbus.Error); !ok || de.Name != "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" {
		t.Fatalf("legacy, unprivileged: %v", err)
	}
	env.Login.SetLegacyRefusal(false)
	err = obj.Call(LoginManager+".PowerOff", 0, false).Store()
	if de, ok := err.(dbus.Error); !ok || de.Name != ErrBlockedByInhibitor {
		t.Fatalf("unprivileged: %v", err)
	}
	release()
	want := []PowerAction{{"PowerOff", 0}, {"HaltWithFlags", RootCheckInhibitors}}
	if got := env.Login.Actions(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Actions = %+v, want %+v", got, want)
	}
}

func TestHookFailsCalls(t *testing.T) {
	t.Parallel()
	env := New(t)
	obj := client(t, env.Bus).Object(LoginName, LoginPath)
	env.Login.Hook("ListInhibitors", func() *dbus.Error {
		return Error("org.freedesktop.DBus.Error.AccessDenied", "no %s", "way")
	})
	var raw []Inhibitor
	err := obj.Call(LoginManager+".ListInhibitors", 0).Store(&raw)
	if err == nil || err.Error() != "no way" {
		t.Errorf("hooked call: %v", err)
	}
	env.Login.Hook("ListInhibitors", nil)
	if err := obj.Call(LoginManager+".ListInhibitors", 0).Store(&raw); err != nil {
		t.Errorf("unhooked call: %v", err)
	}
	if n := env.Login.Calls("ListInhibitors"); n != 2 {
		t.Errorf("Calls = %d (%s)", n, env.Login.CallCounts())
	}
}

func TestSessionsAndProperties(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	since := time.Date(2026, 11, 22, 21, 30, 0, 123456000, time.UTC)
	if err := env.Login.AddSession(Session{ID: "3", UID: 1000, User: "anna", Remote: true, RemoteHost: "192.0.2.7", Service: "sshd", Type: "tty", Class: "user", State: "active", IdleHint: true, IdleSince: since}); err != nil {
		t.Fatal(err)
	}
	var path dbus.ObjectPath
	if err := c.Object(LoginName, LoginPath).Call(LoginManager+".GetSession", 0, "3").Store(&path); err != nil || path != "/org/freedesktop/login1/session/_33" {
		t.Fatalf("GetSession = %q, %v", path, err)
	}
	var props map[string]dbus.Variant
	if err := c.Object(LoginName, path).Call("org.freedesktop.DBus.Properties.GetAll", 0, LoginSession).Store(&props); err != nil {
		t.Fatal(err)
	}
	if props["RemoteHost"].Value() != "192.0.2.7" || props["IdleSinceHint"].Value() != uint64(since.UnixMicro()) {
		t.Errorf("props = %v", props)
	}
	err := c.Object(LoginName, path).Call("org.freedesktop.DBus.Properties.Get", 0, LoginSession, "Nope").Store(new(dbus.Variant))
	if err == nil || !strings.Contains(err.Error(), "Unknown property") {
		t.Errorf("unknown property: %v", err)
	}
	if err := env.Login.RemoveSession("3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Object(LoginName, LoginPath).Call(LoginManager+".GetSession", 0, "3").Store(&path); err == nil {
		t.Error("GetSession of a removed session succeeded")
	}
}

func TestJobsEmitJobRemoved(t *testing.T) {
	t.Parallel()
	env := New(t)
	c := client(t, env.Bus)
	if err := env.Systemd.AddUnit(Unit{Name: "plex.service", StopResult: "timeout"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddMatchSignal(dbus.WithMatchInterface(SystemdManager), dbus.WithMatchMember("JobRemoved")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 4)
	c.Signal(sigs)
	var job dbus.ObjectPath
	if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StopUnit", 0, "plex.service", "replace").Store(&job); err != nil {
		t.Fatal(err)
	}
	s := <-sigs
	if len(s.Body) != 4 || s.Body[1] != job || s.Body[2] != "plex.service" || s.Body[3] != "timeout" {
		t.Errorf("JobRemoved %v for job %s", s.Body, job)
	}
	u, _ := env.Systemd.Unit("plex.service")
	if u.ActiveState != "failed" {
		t.Errorf("after a timed-out stop: %q", u.ActiveState)
	}
	jobs := env.Systemd.Jobs()
	if len(jobs) != 1 || jobs[0].Result != "timeout" || jobs[0].Type != "stop" {
		t.Errorf("jobs %+v", jobs)
	}
	err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StopUnit", 0, "nope.service", "replace").Store(&job)
	if err == nil || !strings.Contains(err.Error(), "nope.service") {
		t.Errorf("unknown unit: %v", err)
	}
	err = c.Object(SystemdName, SystemdPath).Call(SystemdManager+".StartUnit", 0, "plex.service", "sideways").Store(&job)
	if err == nil || !strings.Contains(err.Error(), "Job mode sideways invalid") {
		t.Errorf("bad mode: %v", err)
	}
	if err := env.Systemd.AddUnit(Unit{Name: "noext"}); err == nil {
		t.Error("unit without a type accepted")
	}
}

func TestRunPrintsAddressAndCalls(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state.json")
	b, _ := json.Marshal(State{Units: []Unit{{Name: "backup.timer", NextElapse: time.Unix(1795474800, 0)}}})
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-dir", t.TempDir(), "-state", state}, pw)
		pw.Close()
	}()
	// Calls are printed while they are served: read as they come.
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	first, ok := <-lines
	if !ok {
		t.Fatalf("no output: %v", <-done)
	}
	addr, ok := strings.CutPrefix(first, "DBUS_SYSTEM_BUS_ADDRESS=")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	c, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var path dbus.ObjectPath
	if err := c.Object(SystemdName, SystemdPath).Call(SystemdManager+".GetUnit", 0, "backup.timer").Store(&path); err != nil {
		t.Fatal(err)
	}
	if l := <-lines; l != "call org.freedesktop.systemd1.GetUnit" {
		t.Errorf("call line %q", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), []string{"-state", filepath.Join(t.TempDir(), "none.json")}, io.Discard); err == nil {
		t.Error("Run with a missing state file succeeded")
	}
}
