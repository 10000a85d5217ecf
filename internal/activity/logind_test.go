package activity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/internal/activity"
	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

// logindAdapter is the adapter the agent writes: package systemd's client
// as an activity.Logind.
type logindAdapter struct{ l *systemd.Logind }

func (a logindAdapter) ListSessions(ctx context.Context) ([]activity.Session, error) {
	list, err := a.l.ListSessions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]activity.Session, len(list))
	for i, s := range list {
		out[i] = activity.Session{ID: s.ID, User: s.User, TTY: s.TTY, Remote: s.Remote, RemoteHost: s.RemoteHost,
			Service: s.Service, Class: s.Class, State: s.State, Idle: s.Idle}
	}
	return out, nil
}

func (a logindAdapter) ListInhibitors(ctx context.Context) ([]activity.Inhibitor, error) {
	list, err := a.l.ListInhibitors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]activity.Inhibitor, len(list))
	for i, in := range list {
		out[i] = activity.Inhibitor{What: in.What, Who: in.Who, Why: in.Why, Mode: in.Mode, UID: in.UID, PID: in.PID}
	}
	return out, nil
}

// TestLogindChecksOnBus runs the session and inhibitor checks through the
// real logind client against a fake logind on a private dbus-daemon.
func TestLogindChecksOnBus(t *testing.T) {
	env := dbustest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := systemd.DialLogind(ctx, systemd.Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	l := logindAdapter{client}
	now := time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC)
	run := func(c activity.Checker) (bool, string) {
		t.Helper()
		active, detail, err := c.Check(ctx, now)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		return active, detail
	}

	sessions := &activity.Sessions{Logind: l, IgnoreIdle: true}
	if active, d := run(sessions); active {
		t.Errorf("no sessions, yet active: %q", d)
	}
	for _, s := range []dbustest.Session{
		{ID: "c1", User: "lightdm", Class: "greeter", State: "online", Type: "x11"},
		{ID: "7", UID: 1000, User: "alice", Class: "user", State: "active", Type: "tty", Service: "sshd", Remote: true, RemoteHost: "192.0.2.4", TTY: "pts/0"},
		{ID: "8", UID: 1001, User: "bob", Class: "user", State: "online", Type: "tty", Service: "login", TTY: "tty1", IdleHint: true, IdleSince: now.Add(-time.Hour)},
	} {
		if err := env.Login.AddSession(s); err != nil {
			t.Fatal(err)
		}
	}
	if active, d := run(sessions); !active || d != "ssh session 7 of alice from 192.0.2.4" {
		t.Errorf("sessions: %v %q", active, d)
	}
	if err := env.Login.RemoveSession("7"); err != nil {
		t.Fatal(err)
	}
	if active, d := run(sessions); active {
		t.Errorf("only an idle session and a greeter left, yet active: %q", d)
	}

	inhibitors := &activity.Inhibitors{Logind: l}
	// veille's own locks, through the real client: ignored.
	own, err := client.Inhibit(ctx, "shutdown:sleep", "veille", "sleeping the disks", "block")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Release()
	if active, d := run(inhibitors); active {
		t.Errorf("veille's own lock counted: %q", d)
	}
	release := env.Login.HoldInhibitor(dbustest.Inhibitor{What: "shutdown", Who: "borg", Why: "backup running", Mode: "block", UID: 0, PID: 4711})
	active, d := run(inhibitors)
	if !active || !strings.Contains(d, `"borg" (pid 4711) blocks shutdown: backup running`) || strings.Contains(d, "veille") {
		t.Errorf("inhibitors: %v %q", active, d)
	}
	release()
	if active, d := run(inhibitors); active {
		t.Errorf("released lock still counted: %q", d)
	}

	// A bus that went away is an error (and so, in a Set, activity).
	client.Close()
	if _, _, err := sessions.Check(ctx, now); err == nil {
		t.Error("closed connection, no error")
	}
}
