package systemd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	loginName       = "org.freedesktop.login1"
	loginPath       = dbus.ObjectPath("/org/freedesktop/login1")
	loginManager    = "org.freedesktop.login1.Manager"
	loginSession    = "org.freedesktop.login1.Session"
	propsGetAll     = "org.freedesktop.DBus.Properties.GetAll"
	unknownMethod   = "org.freedesktop.DBus.Error.UnknownMethod"
	accessDenied    = "org.freedesktop.DBus.Error.AccessDenied"
	interactiveAuth = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

	// SD_LOGIND_ROOT_CHECK_INHIBITORS: honour block inhibitors even though
	// the caller is root, who logind otherwise lets through.
	rootCheckInhibitors uint64 = 1 << 0
)

// Inhibitor is an inhibitor lock held by some program, as logind lists it.
type Inhibitor struct {
	What string // colon-separated: "shutdown:sleep"
	Who  string // a human name of the holder, e.g. "Nextcloud backup"
	Why  string
	Mode string // "block" or "delay"
	UID  uint32
	PID  uint32
}

// Covers reports whether the lock covers what ("shutdown", "sleep", "idle",
// "handle-power-key", ...).
func (i Inhibitor) Covers(what string) bool {
	for _, w := range strings.Split(i.What, ":") {
		if w == what {
			return true
		}
	}
	return false
}

func (i Inhibitor) String() string {
	return fmt.Sprintf("%q (pid %d, uid %d) %s %s: %q", i.Who, i.PID, i.UID, i.Mode, i.What, i.Why)
}

// Session is a login session with the properties that tell whether someone
// is using the machine.
type Session struct {
	ID         string
	UID        uint32
	User       string
	Seat       string
	TTY        string
	Display    string
	Remote     bool   // logged in over the network (ssh)
	RemoteHost string // where from, when Remote
	RemoteUser string
	Service    string // PAM service: "sshd", "login", "gdm-password"
	Type       string // "tty", "x11", "wayland", "mir", "unspecified"
	Class      string // "user", "greeter", "lock-screen", "background", "manager"
	State      string // "online", "active", "closing"
	Active     bool
	Idle       bool      // IdleHint
	IdleSince  time.Time // zero when the session does not report idleness
	Since      time.Time // when the session started
	Leader     uint32    // pid of the session leader
}

// InhibitedError is a power-off or reboot refused because of block
// inhibitor locks. Inhibitors names them; it may be empty when logind
// refused but the locks were gone by the time veille asked who held them.
type InhibitedError struct {
	Action     string // "power off" or "reboot"
	Inhibitors []Inhibitor
	Err        error // logind's refusal, when it was logind that refused
}

func (e *InhibitedError) Error() string {
	var b strings.Builder
	b.WriteString(e.Action + " refused: ")
	if len(e.Inhibitors) == 0 {
		b.WriteString("logind reports a block inhibitor lock")
	} else {
		b.WriteString("blocked by ")
		for i, in := range e.Inhibitors {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%q (pid %d, uid %d): %q", in.Who, in.PID, in.UID, in.Why)
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *InhibitedError) Unwrap() error { return e.Err }

// Logind is a client of systemd-logind (org.freedesktop.login1).
type Logind struct {
	opts Options
	conn *dbus.Conn
	obj  dbus.BusObject
	pid  uint32
}

// DialLogind connects to logind on the bus opts names. ctx bounds the
// connection set-up only.
func DialLogind(ctx context.Context, opts Options) (*Logind, error) {
	conn, err := dialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("logind: %w", err)
	}
	return &Logind{opts: opts, conn: conn, obj: conn.Object(loginName, loginPath), pid: uint32(os.Getpid())}, nil
}

// dialContext is dial with ctx ending the set-up early. (godbus's own
// WithContext would tie the whole connection's life to ctx.)
func dialContext(ctx context.Context, opts Options) (*dbus.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		conn *dbus.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dial(opts)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.conn, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("connect to %s: %w", opts, ctx.Err())
	}
}

// Close closes the connection. Inhibitor locks taken through it stay until
// released: they live in their file descriptors, not in the connection.
func (l *Logind) Close() error { return l.conn.Close() }

// ListInhibitors returns every inhibitor lock logind knows.
func (l *Logind) ListInhibitors(ctx context.Context) ([]Inhibitor, error) {
	var raw []struct {
		What, Who, Why, Mode string
		UID, PID             uint32
	}
	if err := l.obj.CallWithContext(ctx, loginManager+".ListInhibitors", 0).Store(&raw); err != nil {
		return nil, fmt.Errorf("logind on %s: list inhibitors: %w", l.opts, err)
	}
	out := make([]Inhibitor, len(raw))
	for i, r := range raw {
		out[i] = Inhibitor{What: r.What, Who: r.Who, Why: r.Why, Mode: r.Mode, UID: r.UID, PID: r.PID}
	}
	return out, nil
}

// ListSessions returns the login sessions with their properties. A session
// that ends while it is being read is left out.
func (l *Logind) ListSessions(ctx context.Context) ([]Session, error) {
	var raw []struct {
		ID   string
		UID  uint32
		User string
		Seat string
		Path dbus.ObjectPath
	}
	if err := l.obj.CallWithContext(ctx, loginManager+".ListSessions", 0).Store(&raw); err != nil {
		return nil, fmt.Errorf("logind on %s: list sessions: %w", l.opts, err)
	}
	out := make([]Session, 0, len(raw))
	for _, r := range raw {
		var props map[string]dbus.Variant
		err := l.conn.Object(loginName, r.Path).CallWithContext(ctx, propsGetAll, 0, loginSession).Store(&props)
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("logind on %s: session %s: %w", l.opts, r.ID, err)
		}
		p := variants(props)
		out = append(out, Session{
			ID: r.ID, UID: r.UID, User: r.User, Seat: r.Seat,
			TTY:        p.str("TTY"),
			Display:    p.str("Display"),
			Remote:     p.boolean("Remote"),
			RemoteHost: p.str("RemoteHost"),
			RemoteUser: p.str("RemoteUser"),
			Service:    p.str("Service"),
			Type:       p.str("Type"),
			Class:      p.str("Class"),
			State:      p.str("State"),
			Active:     p.boolean("Active"),
			Idle:       p.boolean("IdleHint"),
			IdleSince:  p.usec("IdleSinceHint"),
			Since:      p.usec("Timestamp"),
			Leader:     p.u32("Leader"),
		})
	}
	return out, nil
}

// gone reports an error that means the object went away under us.
func gone(err error) bool {
	switch errorName(err) {
	case "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.NoSuchObject",
		"org.freedesktop.DBus.Error.UnknownInterface", "org.freedesktop.login1.NoSuchSession":
		return true
	}
	return false
}

type variants map[string]dbus.Variant

func (v variants) str(k string) string {
	s, _ := v[k].Value().(string)
	return s
}

func (v variants) boolean(k string) bool {
	b, _ := v[k].Value().(bool)
	return b
}

func (v variants) u32(k string) uint32 {
	n, _ := v[k].Value().(uint32)
	return n
}

func (v variants) u64(k string) uint64 {
	n, _ := v[k].Value().(uint64)
	return n
}

// usec converts a CLOCK_REALTIME microsecond property; 0 is "never".
func (v variants) usec(k string) time.Time {
	n := v.u64(k)
	if n == 0 || n == ^uint64(0) {
		return time.Time{}
	}
	return time.UnixMicro(int64(n))
}

func (v variants) strs(k string) []string {
	s, _ := v[k].Value().([]string)
	return s
}

// PowerOff asks logind to power the machine off, unless a block inhibitor
// lock on shutdown is held: then it returns an *InhibitedError naming the
// holders, and nothing happens.
//
// veille checks the locks itself before asking, because logind's own check
// has holes: it lets root through unless asked with
// SD_LOGIND_ROOT_CHECK_INHIBITORS (which veille passes), lets through anyone
// polkit grants power-off-ignore-inhibit, and ignores locks held by the
// caller's own uid. Locks held by this process are not counted.
func (l *Logind) PowerOff(ctx context.Context) error {
	return l.shutdown(ctx, "power off", "PowerOff")
}

// Reboot is PowerOff for a reboot.
func (l *Logind) Reboot(ctx context.Context) error {
	return l.shutdown(ctx, "reboot", "Reboot")
}

func (l *Logind) shutdown(ctx context.Context, action, method string) error {
	if blockers, err := l.blockers(ctx); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	} else if len(blockers) > 0 {
		return &InhibitedError{Action: action, Inhibitors: blockers}
	}
	err := l.obj.CallWithContext(ctx, loginManager+"."+method+"WithFlags", 0, rootCheckInhibitors).Store()
	if errorName(err) == unknownMethod {
		// systemd before 248 has no *WithFlags; the inhibitors were checked
		// just above.
		err = l.obj.CallWithContext(ctx, loginManager+"."+method, 0, false).Store()
	}
	if err == nil {
		return nil
	}
	if name := errorName(err); refusedByInhibitor(err) || name == accessDenied || name == interactiveAuth {
		// A lock taken between the check and the call: logind refuses
		// with its own error when the caller is root, or polkit refuses
		// power-off-ignore-inhibit when it is not.
		blockers, lerr := l.blockers(ctx)
		if lerr != nil {
			return fmt.Errorf("%s: logind refused (%w) and listing its inhibitors failed: %v", action, err, lerr)
		}
		if len(blockers) > 0 || refusedByInhibitor(err) {
			return &InhibitedError{Action: action, Inhibitors: blockers, Err: err}
		}
	}
	return fmt.Errorf("%s through logind on %s: %w", action, l.opts, err)
}

// refusedByInhibitor recognises logind's refusal of a root caller:
// BlockedByInhibitorLock since systemd 257, AccessDenied "... due to active
// block inhibitor" before.
func refusedByInhibitor(err error) bool {
	switch errorName(err) {
	case "org.freedesktop.login1.BlockedByInhibitorLock":
		return true
	case accessDenied:
		return strings.Contains(err.Error(), "inhibitor")
	}
	return false
}

// blockers lists the block locks on shutdown held by other processes.
func (l *Logind) blockers(ctx context.Context) ([]Inhibitor, error) {
	all, err := l.ListInhibitors(ctx)
	if err != nil {
		return nil, err
	}
	var out []Inhibitor
	for _, in := range all {
		if in.Mode == "block" && in.Covers("shutdown") && in.PID != l.pid {
			out = append(out, in)
		}
	}
	return out, nil
}

// InhibitLock is an inhibitor lock veille holds. It lasts until Release (or
// until the process exits).
type InhibitLock struct {
	What, Mode string
	f          *os.File
	once       sync.Once
	err        error
}

// Inhibit takes an inhibitor lock: what is colon-separated ("shutdown",
// "sleep", "handle-power-key", ...), mode "block" or "delay". A delay lock on
// shutdown gives veille up to logind's InhibitDelayMaxSec (5 s by default)
// after PrepareForShutdown to flush its state.
func (l *Logind) Inhibit(ctx context.Context, what, who, why, mode string) (*InhibitLock, error) {
	var fd dbus.UnixFD
	if err := l.obj.CallWithContext(ctx, loginManager+".Inhibit", 0, what, who, why, mode).Store(&fd); err != nil {
		return nil, fmt.Errorf("logind on %s: inhibit %s (%s): %w", l.opts, what, mode, err)
	}
	return &InhibitLock{What: what, Mode: mode, f: os.NewFile(uintptr(fd), "inhibit:"+what)}, nil
}

// Release gives the lock back. Calling it again returns the first result.
func (k *InhibitLock) Release() error {
	k.once.Do(func() {
		if err := k.f.Close(); err != nil {
			k.err = fmt.Errorf("release %s %s lock: %w", k.Mode, k.What, err)
		}
	})
	return k.err
}

// WatchShutdown delivers logind's PrepareForShutdown signals: true when a
// shutdown starts (delay locks are honoured until released), false when it
// was cancelled. The channel closes when ctx ends.
func (l *Logind) WatchShutdown(ctx context.Context) (<-chan bool, error) {
	conn, err := dialContext(ctx, l.opts)
	if err != nil {
		return nil, fmt.Errorf("logind: watch shutdown: %w", err)
	}
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchSender(loginName), dbus.WithMatchInterface(loginManager), dbus.WithMatchMember("PrepareForShutdown"),
		dbus.WithMatchObjectPath(loginPath)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("logind on %s: subscribe to PrepareForShutdown: %w", l.opts, err)
	}
	sigs := make(chan *dbus.Signal, 8)
	conn.Signal(sigs)
	out := make(chan bool, 1)
	go func() {
		defer close(out)
		defer conn.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case s, ok := <-sigs:
				if !ok {
					return
				}
				if s.Name != loginManager+".PrepareForShutdown" || len(s.Body) != 1 {
					continue
				}
				start, ok := s.Body[0].(bool)
				if !ok {
					continue
				}
				select {
				case out <- start:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
