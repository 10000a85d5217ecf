package activity

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Logind is what the session and inhibitor checks need from
// systemd-logind. Package systemd's client provides it through a small
// adapter in the agent (its Session and Inhibitor types are its own).
type Logind interface {
	ListSessions(ctx context.Context) ([]Session, error)
	ListInhibitors(ctx context.Context) ([]Inhibitor, error)
}

// Session is a logind login session.
type Session struct {
	ID         string
	User       string
	TTY        string
	Remote     bool   // logged in over the network
	RemoteHost string // where from, when Remote
	Service    string // PAM service: "sshd", "login"
	Class      string // "user", "greeter", "lock-screen", "background", "manager"
	State      string // "online", "active", "closing"
	Idle       bool   // logind's IdleHint
}

// Inhibitor is a logind inhibitor lock.
type Inhibitor struct {
	What string // colon-separated: "shutdown:sleep"
	Who  string
	Why  string
	Mode string // "block" or "delay"
	UID  uint32
	PID  uint32
}

// Sessions is active while someone is logged in: a session of class "user"
// that is not closing. Greeters, lock screens, cron's background sessions and
// the per-user service manager do not count.
type Sessions struct {
	Logind Logind
	// IgnoreIdle leaves out sessions logind reports idle. Only sessions on
	// a terminal or a display report idleness; ssh sessions never do.
	IgnoreIdle  bool
	IgnoreUsers []string
}

// Name returns "sessions".
func (s *Sessions) Name() string { return "sessions" }

// Check lists the sessions.
func (s *Sessions) Check(ctx context.Context, now time.Time) (bool, string, error) {
	list, err := s.Logind.ListSessions(ctx)
	if err != nil {
		return false, "", err
	}
	var found []string
	for _, se := range list {
		if se.Class != "user" || se.State == "closing" || s.IgnoreIdle && se.Idle || slices.Contains(s.IgnoreUsers, se.User) {
			continue
		}
		found = append(found, describeSession(se))
	}
	if len(found) == 0 {
		return false, "", nil
	}
	return true, summarize(found, 3), nil
}

func describeSession(se Session) string {
	kind := "session"
	if se.Service == "sshd" {
		kind = "ssh session"
	}
	d := fmt.Sprintf("%s %s of %s", kind, se.ID, se.User)
	switch {
	case se.Remote && se.RemoteHost != "":
		d += " from " + se.RemoteHost
	case se.TTY != "":
		d += " on " + se.TTY
	}
	return d
}

// DefaultInhibited are the inhibitor lock types that keep the server awake.
var DefaultInhibited = []string{"shutdown", "sleep", "idle"}

// Inhibitors is active while a program holds a block inhibitor lock on one
// of What (default DefaultInhibited). Delay locks, and locks of veille
// itself, do not count.
type Inhibitors struct {
	Logind Logind
	What   []string
	// SelfPID is veille's process; 0 means this process.
	SelfPID uint32
}

// Name returns "inhibitors".
func (in *Inhibitors) Name() string { return "inhibitors" }

// Check lists the inhibitor locks.
func (in *Inhibitors) Check(ctx context.Context, now time.Time) (bool, string, error) {
	list, err := in.Logind.ListInhibitors(ctx)
	if err != nil {
		return false, "", err
	}
	self := in.SelfPID
	if self == 0 {
		self = uint32(os.Getpid())
	}
	what := in.What
	if len(what) == 0 {
		what = DefaultInhibited
	}
	var found []string
	for _, l := range list {
		if l.Mode != "block" || l.PID == self {
			continue
		}
		var blocks []string
		for _, w := range strings.Split(l.What, ":") {
			if slices.Contains(what, w) {
				blocks = append(blocks, w)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		d := fmt.Sprintf("%q (pid %d) blocks %s", l.Who, l.PID, strings.Join(blocks, ", "))
		if l.Why != "" {
			d += ": " + l.Why
		}
		found = append(found, d)
	}
	if len(found) == 0 {
		return false, "", nil
	}
	return true, summarize(found, 3), nil
}
