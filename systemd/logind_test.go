package systemd

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/veille/veille/systemd/dbustest"
)

// What veille's consumers declare (docs/ARCHITECTURE.md and
// internal/activity); the clients must keep satisfying them.
var (
	_ interface {
		PowerOff(ctx context.Context) error
		Reboot(ctx context.Context) error
	} = (*Logind)(nil)
	_ interface {
		ListSessions(ctx context.Context) ([]Session, error)
		ListInhibitors(ctx context.Context) ([]Inhibitor, error)
	} = (*Logind)(nil)
)

func logind(t *testing.T) (*dbustest.Env, *Logind) {
	t.Helper()
	env := dbustest.New(t)
	l, err := DialLogind(context.Background(), Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return env, l
}

var backup = dbustest.Inhibitor{What: "shutdown:sleep", Who: "Nextcloud backup", Why: "copying photos", Mode: "block", UID: 4321, PID: 4242}

func TestPowerOff(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	if err := l.PowerOff(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []dbustest.PowerAction{{Method: "PowerOffWithFlags", Flags: dbustest.RootCheckInhibitors}}
	if got := env.Login.Actions(); !reflect.DeepEqual(got, want) {
		t.Errorf("actions %+v, want %+v", got, want)
	}
}

func TestReboot(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	if err := l.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := env.Login.Actions(); len(got) != 1 || got[0].Method != "RebootWithFlags" {
		t.Errorf("actions %+v", got)
	}
	// logind refuses a second shutdown while one is under way.
	err := l.PowerOff(context.Background())
	var ie *InhibitedError
	if err == nil || errors.As(err, &ie) || !strings.Contains(err.Error(), "already a shutdown") {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestPowerOffBlockedByInhibitor(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	env.Login.HoldInhibitor(backup)
	err := l.PowerOff(context.Background())
	var ie *InhibitedError
	if !errors.As(err, &ie) {
		t.Fatalf("PowerOff with a block inhibitor: %v", err)
	}
	if ie.Action != "power off" || len(ie.Inhibitors) != 1 || ie.Inhibitors[0].Who != "Nextcloud backup" || ie.Err != nil {
		t.Errorf("InhibitedError %+v", ie)
	}
	for _, s := range []string{"power off refused", `"Nextcloud backup" (pid 4242, uid 4321)`, "copying photos"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// veille checked first: logind was never asked.
	if n := env.Login.Calls("PowerOffWithFlags") + env.Login.Calls("PowerOff"); n != 0 {
		t.Errorf("logind asked %d times", n)
	}
	if err := l.Reboot(context.Background()); !errors.As(err, &ie) || ie.Action != "reboot" {
		t.Errorf("Reboot: %v", err)
	}
}

func TestPowerOffBlockedByRootHeldInhibitor(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	// logind ignores locks of the caller's own uid; veille does not.
	in := backup
	in.UID = uint32(os.Getuid())
	env.Login.HoldInhibitor(in)
	var ie *InhibitedError
	if err := l.PowerOff(context.Background()); !errors.As(err, &ie) {
		t.Fatalf("PowerOff with a same-uid block inhibitor: %v", err)
	}
}

func TestPowerOffIgnoresLocksThatDoNotBlockShutdown(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	env.Login.HoldInhibitor(dbustest.Inhibitor{What: "shutdown", Who: "veille-peer", Why: "flush", Mode: "delay", UID: 0, PID: 7})
	env.Login.HoldInhibitor(dbustest.Inhibitor{What: "sleep:idle", Who: "player", Why: "music", Mode: "block", UID: 1000, PID: 8})
	env.Login.HoldInhibitor(dbustest.Inhibitor{What: "handle-power-key", Who: "button", Why: "own policy", Mode: "block", UID: 0, PID: 9})
	// veille's own block lock on shutdown does not stop veille.
	own, err := l.Inhibit(context.Background(), "shutdown", "veille", "sleep sequence", "block")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Release()
	if err := l.PowerOff(context.Background()); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
}

func TestPowerOffRefusedByLogind(t *testing.T) {
	t.Parallel()
	// What logind answers depends on its version and on whether veille runs
	// as root; each refusal must come back naming the lock.
	for _, tc := range []struct {
		legacy, unprivileged bool
		name                 string
	}{
		{false, false, dbustest.ErrBlockedByInhibitor},
		{false, true, dbustest.ErrBlockedByInhibitor},
		{true, false, "org.freedesktop.DBus.Error.AccessDenied"},
		{true, true, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"},
	} {
		env, l := logind(t)
		env.Login.SetLegacyRefusal(tc.legacy)
		env.Login.SetCallerRoot(!tc.unprivileged)
		// The lock appears between veille's check and its call.
		env.Login.Hook("PowerOffWithFlags", func() *dbus.Error {
			env.Login.HoldInhibitor(backup)
			return nil
		})
		err := l.PowerOff(context.Background())
		var ie *InhibitedError
		if !errors.As(err, &ie) || len(ie.Inhibitors) != 1 || ie.Err == nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if errorName(err) != tc.name || !strings.Contains(err.Error(), "Nextcloud backup") {
			t.Errorf("%+v: error %q (name %q)", tc, err, errorName(err))
		}
		if len(env.Login.Actions()) != 0 {
			t.Errorf("%+v: logind shut down anyway", tc)
		}
	}
}

func TestPowerOffRefusedLockGoneByThen(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	env.Login.Hook("PowerOffWithFlags", func() *dbus.Error {
		return dbustest.Error(dbustest.ErrBlockedByInhibitor, "Operation denied due to active block inhibitor")
	})
	err := l.PowerOff(context.Background())
	var ie *InhibitedError
	if !errors.As(err, &ie) || len(ie.Inhibitors) != 0 || !strings.Contains(err.Error(), "logind reports a block inhibitor lock") {
		t.Fatalf("PowerOff: %v", err)
	}
}

func TestPowerOffOtherRefusal(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	env.Login.Hook("PowerOffWithFlags", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", "Interactive authentication required.")
	})
	err := l.PowerOff(context.Background())
	var ie *InhibitedError
	if err == nil || errors.As(err, &ie) {
		t.Fatalf("PowerOff: %v", err)
	}
	if !strings.Contains(err.Error(), "power off through logind on unix:path=") || !strings.Contains(err.Error(), "Interactive authentication required") {
		t.Errorf("error %q", err)
	}
	// An AccessDenied that is not about inhibitors is not an inhibitor refusal.
	env.Login.Hook("PowerOffWithFlags", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "Permission denied")
	})
	if err := l.PowerOff(context.Background()); err == nil || errors.As(err, &ie) {
		t.Errorf("AccessDenied: %v", err)
	}
}

func TestPowerOffWithoutFlagsMethods(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	// systemd before 248.
	for _, m := range []string{"PowerOffWithFlags", "RebootWithFlags"} {
		env.Login.Hook(m, func() *dbus.Error {
			return dbustest.Error("org.freedesktop.DBus.Error.UnknownMethod", "Unknown method")
		})
	}
	if err := l.PowerOff(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := env.Login.Actions(); len(got) != 1 || got[0].Method != "PowerOff" {
		t.Errorf("actions %+v", got)
	}
	// The fallback still refuses with a block lock held.
	if err := env.Login.Resume(); err != nil {
		t.Fatal(err)
	}
	env.Login.HoldInhibitor(backup)
	var ie *InhibitedError
	if err := l.Reboot(context.Background()); !errors.As(err, &ie) {
		t.Errorf("Reboot with a lock: %v", err)
	}
}

func TestPowerOffCannotListInhibitors(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	env.Login.Hook("ListInhibitors", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.Failed", "logind is wedged")
	})
	err := l.PowerOff(context.Background())
	if err == nil || !strings.Contains(err.Error(), "power off: logind on") || !strings.Contains(err.Error(), "list inhibitors: logind is wedged") {
		t.Fatalf("PowerOff: %v", err)
	}
	if n := env.Login.Calls("PowerOffWithFlags"); n != 0 {
		t.Errorf("powered off without checking inhibitors (%d)", n)
	}
	// The same failure after logind refused: both are reported.
	env.Login.Hook("ListInhibitors", nil)
	env.Login.Hook("PowerOffWithFlags", func() *dbus.Error {
		env.Login.Hook("ListInhibitors", func() *dbus.Error {
			return dbustest.Error("org.freedesktop.DBus.Error.Failed", "gone")
		})
		return dbustest.Error(dbustest.ErrBlockedByInhibitor, "Operation denied due to active block inhibitor")
	})
	err = l.PowerOff(context.Background())
	if err == nil || !strings.Contains(err.Error(), "logind refused") || !strings.Contains(err.Error(), "gone") {
		t.Errorf("refusal then list failure: %v", err)
	}
}

func TestInhibitAndRelease(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	ctx := context.Background()
	lock, err := l.Inhibit(ctx, "shutdown", "veille", "flushing energy counters", "delay")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.ListInhibitors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Inhibitor{{What: "shutdown", Who: "veille", Why: "flushing energy counters", Mode: "delay", UID: uint32(os.Getuid()), PID: uint32(os.Getpid())}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListInhibitors = %+v, want %+v", got, want)
	}
	if !got[0].Covers("shutdown") || got[0].Covers("sleep") {
		t.Errorf("Covers wrong for %+v", got[0])
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	if err := lock.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := env.Login.WaitInhibitors(wctx, func(in []dbustest.Inhibitor) bool { return len(in) == 0 }); err != nil {
		t.Fatal(err)
	}
	_, err = l.Inhibit(ctx, "shutdown", "veille", "x", "sometimes")
	if err == nil || !strings.Contains(err.Error(), "inhibit shutdown (sometimes)") || !strings.Contains(err.Error(), "Invalid mode") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	start := time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)
	idle := time.Date(2026, 11, 22, 21, 45, 30, 250000000, time.UTC)
	sessions := []dbustest.Session{
		{ID: "c1", UID: 0, User: "root", Seat: "seat0", TTY: "tty1", Type: "tty", Class: "user", State: "online", Service: "login", Timestamp: start, Leader: 812},
		{ID: "7", UID: 1000, User: "anna", Remote: true, RemoteHost: "192.0.2.7", Service: "sshd", Type: "tty", Class: "user", State: "active", Active: true, IdleHint: true, IdleSince: idle, Timestamp: start, Leader: 2201, TTY: "pts/0"},
	}
	for _, s := range sessions {
		if err := env.Login.AddSession(s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.ListSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{
		{ID: "7", UID: 1000, User: "anna", TTY: "pts/0", Remote: true, RemoteHost: "192.0.2.7", Service: "sshd", Type: "tty", Class: "user", State: "active", Active: true, Idle: true, IdleSince: idle, Since: start, Leader: 2201},
		{ID: "c1", UID: 0, User: "root", Seat: "seat0", TTY: "tty1", Service: "login", Type: "tty", Class: "user", State: "online", Since: start, Leader: 812},
	}
	if len(got) != len(want) {
		t.Fatalf("sessions %+v", got)
	}
	for i := range want {
		if !got[i].IdleSince.Equal(want[i].IdleSince) || !got[i].Since.Equal(want[i].Since) {
			t.Errorf("session %s times %v %v, want %v %v", got[i].ID, got[i].IdleSince, got[i].Since, want[i].IdleSince, want[i].Since)
		}
		got[i].IdleSince, got[i].Since, want[i].IdleSince, want[i].Since = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("session %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestListSessionsVanishedAndFailing(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	for _, id := range []string{"1", "2"} {
		if err := env.Login.AddSession(dbustest.Session{ID: id, User: "u" + id}); err != nil {
			t.Fatal(err)
		}
	}
	first := true
	env.Login.Hook("GetAll", func() *dbus.Error {
		if first {
			first = false
			return dbustest.Error("org.freedesktop.DBus.Error.UnknownObject", "Unknown object")
		}
		return nil
	})
	got, err := l.ListSessions(context.Background())
	if err != nil || len(got) != 1 || got[0].ID != "2" {
		t.Fatalf("ListSessions with a session gone = %+v, %v", got, err)
	}
	env.Login.Hook("GetAll", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "nope")
	})
	if _, err := l.ListSessions(context.Background()); err == nil || !strings.Contains(err.Error(), "session 1: nope") {
		t.Errorf("ListSessions with failing properties: %v", err)
	}
	env.Login.Hook("ListSessions", func() *dbus.Error {
		return dbustest.Error("org.freedesktop.DBus.Error.Failed", "boom")
	})
	if _, err := l.ListSessions(context.Background()); err == nil || !strings.Contains(err.Error(), "list sessions: boom") {
		t.Errorf("ListSessions failing: %v", err)
	}
}

func TestWatchShutdown(t *testing.T) {
	t.Parallel()
	env, l := logind(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := l.WatchShutdown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PowerOff(context.Background()); err != nil {
		t.Fatal(err)
	}
	if start := <-ch; !start {
		t.Error("PrepareForShutdown(false) after PowerOff")
	}
	if err := env.Login.Resume(); err != nil {
		t.Fatal(err)
	}
	if start := <-ch; start {
		t.Error("PrepareForShutdown(true) after Resume")
	}
	cancel()
	for range ch {
	}
}

func TestDialFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := "unix:path=" + dir + "/nobus"
	if _, err := DialLogind(context.Background(), Options{Address: addr}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("DialLogind to nothing: %v", err)
	}
	if _, err := DialManager(context.Background(), Options{Address: addr}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("DialManager to nothing: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DialLogind(ctx, Options{Address: addr}); !errors.Is(err, context.Canceled) {
		t.Errorf("DialLogind with a cancelled context: %v", err)
	}
	if _, err := DialManager(ctx, Options{Address: addr}); !errors.Is(err, context.Canceled) {
		t.Errorf("DialManager with a cancelled context: %v", err)
	}
	if got := (Options{}).String(); got != "the system bus" {
		t.Errorf("Options{}.String() = %q", got)
	}
}

func TestClosedClient(t *testing.T) {
	t.Parallel()
	_, l := logind(t)
	l.Close()
	if _, err := l.ListInhibitors(context.Background()); err == nil {
		t.Error("ListInhibitors on a closed client succeeded")
	}
	if err := l.PowerOff(context.Background()); err == nil {
		t.Error("PowerOff on a closed client succeeded")
	}
}
