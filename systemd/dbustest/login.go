package dbustest

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// logind's names, from systemd's man/org.freedesktop.login1.xml and
// src/libsystemd/sd-bus/bus-common-errors.h.
const (
	LoginName      = "org.freedesktop.login1"
	LoginPath      = dbus.ObjectPath("/org/freedesktop/login1")
	LoginManager   = "org.freedesktop.login1.Manager"
	LoginSession   = "org.freedesktop.login1.Session"
	sessionPathDir = "/org/freedesktop/login1/session/"

	// ErrBlockedByInhibitor is what systemd 257 and later answer when a
	// block inhibitor stops a shutdown.
	ErrBlockedByInhibitor = "org.freedesktop.login1.BlockedByInhibitorLock"
	// ErrOperationInProgress: a shutdown is already under way.
	ErrOperationInProgress = "org.freedesktop.login1.OperationInProgress"

	// RootCheckInhibitors is SD_LOGIND_ROOT_CHECK_INHIBITORS: honour block
	// inhibitors even for a privileged caller.
	RootCheckInhibitors uint64 = 1 << 0
	// RebootViaKexec is SD_LOGIND_REBOOT_VIA_KEXEC.
	RebootViaKexec uint64 = 1 << 1
)

// Inhibitor is an inhibitor lock as ListInhibitors reports it.
type Inhibitor struct {
	What string `json:"what"` // colon-separated: "shutdown:sleep"
	Who  string `json:"who"`
	Why  string `json:"why"`
	Mode string `json:"mode"` // "block" or "delay"
	UID  uint32 `json:"uid"`
	PID  uint32 `json:"pid"`
}

// Session is a login session: the fields of ListSessions plus the
// properties of its org.freedesktop.login1.Session object.
type Session struct {
	ID         string    `json:"id"`
	UID        uint32    `json:"uid"`
	User       string    `json:"user"`
	Seat       string    `json:"seat"`
	TTY        string    `json:"tty"`
	Display    string    `json:"display"`
	Remote     bool      `json:"remote"`
	RemoteHost string    `json:"remote_host"`
	RemoteUser string    `json:"remote_user"`
	Service    string    `json:"service"` // PAM service: "sshd", "login", "gdm-password"
	Type       string    `json:"type"`    // "tty", "x11", "wayland", "unspecified"
	Class      string    `json:"class"`   // "user", "greeter", "lock-screen", "background", "manager"
	State      string    `json:"state"`   // "online", "active", "closing"
	Active     bool      `json:"active"`
	IdleHint   bool      `json:"idle_hint"`
	IdleSince  time.Time `json:"idle_since"` // zero when not idle
	Timestamp  time.Time `json:"timestamp"`  // session start
	Leader     uint32    `json:"leader"`
}

// PowerAction is a shutdown logind accepted.
type PowerAction struct {
	Method string // e.g. "PowerOffWithFlags"
	Flags  uint64
}

// Login is a fake systemd-logind on the bus.
//
// It answers PowerOff, Reboot, Halt and their *WithFlags variants,
// Inhibit (with a real fd: the lock goes when every copy of it is closed),
// ListInhibitors, ListSessions, GetSession, the Manager properties
// BlockInhibited, DelayInhibited, InhibitDelayMaxUSec and PreparingForShutdown,
// and one object per session with the Session properties veille reads. It
// emits PrepareForShutdown, SessionNew and SessionRemoved.
//
// Shutdowns follow logind's verify_shutdown_creds. A block inhibitor on
// "shutdown" held by another uid (logind ignores the caller's own uid) stops
// an unprivileged caller, and root only when it passes RootCheckInhibitors.
// The refusal is BlockedByInhibitorLock, as in systemd 257 and later, or
// with SetLegacyRefusal what older versions answer: AccessDenied for root and,
// for anyone else, polkit's InteractiveAuthorizationRequired (the
// power-off-ignore-inhibit action is not granted). Callers count as root when
// their uid is 0, unless SetCallerRoot says otherwise. An accepted
// shutdown makes the fake "prepare for shutdown": it emits
// PrepareForShutdown(true) and refuses further shutdowns with
// OperationInProgress until Resume.
type Login struct {
	*service

	st          sync.Mutex
	inhibitors  map[int]*heldInhibitor
	nextID      int
	sessions    map[string]Session
	actions     []PowerAction
	preparing   bool
	legacy      bool
	callerRoot  *bool // nil: by the caller's uid
	changed     chan struct{}
	inhibitWait sync.WaitGroup
}

type heldInhibitor struct {
	Inhibitor
	r *os.File // read end of the client's pipe; nil for HoldInhibitor
}

// ServeLogin exports a fake logind on the bus at address and takes the name
// org.freedesktop.login1. Close removes it.
func ServeLogin(address string) (*Login, error) {
	svc, err := newService(address, LoginName)
	if err != nil {
		return nil, err
	}
	l := &Login{
		service:    svc,
		inhibitors: make(map[int]*heldInhibitor),
		sessions:   make(map[string]Session),
		changed:    make(chan struct{}),
	}
	if err := svc.export(loginManager{l}, LoginPath, LoginManager); err != nil {
		svc.conn.Close()
		return nil, fmt.Errorf("dbustest: export login1 manager: %w", err)
	}
	if err := svc.export(properties{svc, l.managerProps}, LoginPath, "org.freedesktop.DBus.Properties"); err != nil {
		svc.conn.Close()
		return nil, fmt.Errorf("dbustest: export login1 properties: %w", err)
	}
	if err := svc.own(); err != nil {
		svc.conn.Close()
		return nil, err
	}
	return l, nil
}

// Close releases the fake's name and every inhibitor it tracks.
func (l *Login) Close() error {
	err := l.service.Close()
	l.st.Lock()
	for _, in := range l.inhibitors {
		if in.r != nil {
			in.r.Close()
		}
	}
	l.st.Unlock()
	l.inhibitWait.Wait()
	return err
}

// SetLegacyRefusal makes a refusal by a block inhibitor look like systemd
// before 257 (org.freedesktop.DBus.Error.AccessDenied, "Access denied to root
// due to active block inhibitor") instead of BlockedByInhibitorLock.
func (l *Login) SetLegacyRefusal(on bool) {
	l.st.Lock()
	defer l.st.Unlock()
	l.legacy = on
}

// SetCallerRoot makes the fake treat every caller as root (true) or as an
// ordinary user, like veille running as its own user (false), whatever uid
// the test runs as.
func (l *Login) SetCallerRoot(root bool) {
	l.st.Lock()
	defer l.st.Unlock()
	l.callerRoot = &root
}

// HoldInhibitor adds an inhibitor held by some other program (no fd); release
// removes it.
func (l *Login) HoldInhibitor(in Inhibitor) (release func()) {
	l.st.Lock()
	id := l.addLocked(&heldInhibitor{Inhibitor: in})
	l.st.Unlock()
	var once sync.Once
	return func() { once.Do(func() { l.remove(id) }) }
}

func (l *Login) addLocked(in *heldInhibitor) int {
	l.nextID++
	l.inhibitors[l.nextID] = in
	l.notifyLocked()
	return l.nextID
}

func (l *Login) remove(id int) {
	l.st.Lock()
	defer l.st.Unlock()
	if in, ok := l.inhibitors[id]; ok {
		if in.r != nil {
			in.r.Close()
		}
		delete(l.inhibitors, id)
		l.notifyLocked()
	}
}

func (l *Login) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Inhibitors returns the current inhibitors in the order they were taken.
func (l *Login) Inhibitors() []Inhibitor {
	l.st.Lock()
	defer l.st.Unlock()
	return l.inhibitorsLocked()
}

func (l *Login) inhibitorsLocked() []Inhibitor {
	ids := make([]int, 0, len(l.inhibitors))
	for id := range l.inhibitors {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]Inhibitor, 0, len(ids))
	for _, id := range ids {
		out = append(out, l.inhibitors[id].Inhibitor)
	}
	return out
}

// WaitInhibitors blocks until cond holds for the current inhibitors (checked
// now and after every change) or ctx ends. Inhibitors taken through the bus
// go away when the client closes its fd, which the fake notices on its own
// time: wait for it here instead of sleeping.
func (l *Login) WaitInhibitors(ctx context.Context, cond func([]Inhibitor) bool) error {
	for {
		l.st.Lock()
		ok := cond(l.inhibitorsLocked())
		ch := l.changed
		l.st.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("dbustest: waiting for inhibitors (now %v): %w", l.Inhibitors(), ctx.Err())
		}
	}
}

// AddSession adds (or replaces) a session and exports its object.
func (l *Login) AddSession(s Session) error {
	path := sessionPath(s.ID)
	l.st.Lock()
	l.sessions[s.ID] = s
	l.st.Unlock()
	id := s.ID
	err := l.service.export(properties{l.service, func(iface string) (map[string]dbus.Variant, bool) {
		return l.sessionProps(id, iface)
	}}, path, "org.freedesktop.DBus.Properties")
	if err != nil {
		return fmt.Errorf("dbustest: export session %s: %w", s.ID, err)
	}
	return l.conn.Emit(LoginPath, LoginManager+".SessionNew", s.ID, path)
}

// RemoveSession removes a session and its object.
func (l *Login) RemoveSession(id string) error {
	l.st.Lock()
	delete(l.sessions, id)
	l.st.Unlock()
	path := sessionPath(id)
	if err := l.service.export(nil, path, "org.freedesktop.DBus.Properties"); err != nil {
		return fmt.Errorf("dbustest: unexport session %s: %w", id, err)
	}
	return l.conn.Emit(LoginPath, LoginManager+".SessionRemoved", id, path)
}

// Actions returns the shutdowns logind accepted, in order.
func (l *Login) Actions() []PowerAction {
	l.st.Lock()
	defer l.st.Unlock()
	return append([]PowerAction(nil), l.actions...)
}

// Resume ends a pretended shutdown, as if the machine had come back: the
// fake accepts shutdowns again and emits PrepareForShutdown(false).
func (l *Login) Resume() error {
	l.st.Lock()
	l.preparing = false
	l.st.Unlock()
	return l.EmitPrepareForShutdown(false)
}

// EmitPrepareForShutdown emits the PrepareForShutdown signal.
func (l *Login) EmitPrepareForShutdown(start bool) error {
	return l.conn.Emit(LoginPath, LoginManager+".PrepareForShutdown", start)
}

func sessionPath(id string) dbus.ObjectPath {
	return dbus.ObjectPath(sessionPathDir + busPathEscape(id))
}

func (l *Login) managerProps(iface string) (map[string]dbus.Variant, bool) {
	if iface != LoginManager && iface != "" {
		return nil, false
	}
	l.st.Lock()
	defer l.st.Unlock()
	return map[string]dbus.Variant{
		"BlockInhibited":       dbus.MakeVariant(l.inhibitedLocked("block")),
		"DelayInhibited":       dbus.MakeVariant(l.inhibitedLocked("delay")),
		"InhibitDelayMaxUSec":  dbus.MakeVariant(uint64(5 * time.Second / time.Microsecond)),
		"PreparingForShutdown": dbus.MakeVariant(l.preparing),
		"PreparingForSleep":    dbus.MakeVariant(false),
		"NAutoVTs":             dbus.MakeVariant(uint32(0)),
	}, true
}

// inhibitedLocked is the colon-joined union of what inhibitors of mode cover.
func (l *Login) inhibitedLocked(mode string) string {
	seen := map[string]bool{}
	var out []string
	for _, in := range l.inhibitorsLocked() {
		if in.Mode != mode {
			continue
		}
		for _, w := range strings.Split(in.What, ":") {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return strings.Join(out, ":")
}

func (l *Login) sessionProps(id, iface string) (map[string]dbus.Variant, bool) {
	if iface != LoginSession && iface != "" {
		return nil, false
	}
	l.st.Lock()
	s, ok := l.sessions[id]
	l.st.Unlock()
	if !ok {
		return nil, false
	}
	usec := func(t time.Time) uint64 {
		if t.IsZero() {
			return 0
		}
		return uint64(t.UnixMicro())
	}
	type so struct {
		ID   string
		Path dbus.ObjectPath
	}
	type uo struct {
		UID  uint32
		Path dbus.ObjectPath
	}
	seatPath := dbus.ObjectPath("/")
	if s.Seat != "" {
		seatPath = dbus.ObjectPath("/org/freedesktop/login1/seat/" + busPathEscape(s.Seat))
	}
	return map[string]dbus.Variant{
		"Id":            dbus.MakeVariant(s.ID),
		"User":          dbus.MakeVariant(uo{s.UID, dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/login1/user/_%d", s.UID))}),
		"Name":          dbus.MakeVariant(s.User),
		"Timestamp":     dbus.MakeVariant(usec(s.Timestamp)),
		"Seat":          dbus.MakeVariant(so{s.Seat, seatPath}),
		"TTY":           dbus.MakeVariant(s.TTY),
		"Display":       dbus.MakeVariant(s.Display),
		"Remote":        dbus.MakeVariant(s.Remote),
		"RemoteHost":    dbus.MakeVariant(s.RemoteHost),
		"RemoteUser":    dbus.MakeVariant(s.RemoteUser),
		"Service":       dbus.MakeVariant(s.Service),
		"Leader":        dbus.MakeVariant(s.Leader),
		"Type":          dbus.MakeVariant(s.Type),
		"Class":         dbus.MakeVariant(s.Class),
		"Active":        dbus.MakeVariant(s.Active),
		"State":         dbus.MakeVariant(s.State),
		"IdleHint":      dbus.MakeVariant(s.IdleHint),
		"IdleSinceHint": dbus.MakeVariant(usec(s.IdleSince)),
		"LockedHint":    dbus.MakeVariant(false),
	}, true
}

// loginManager holds the exported methods, so Login's own methods are not
// exported on the bus.
type loginManager struct{ l *Login }

var inhibitWhats = map[string]bool{
	"shutdown": true, "sleep": true, "idle": true, "handle-power-key": true,
	"handle-suspend-key": true, "handle-hibernate-key": true,
	"handle-lid-switch": true, "handle-reboot-key": true,
}

func (m loginManager) Inhibit(call dbus.Message, sender dbus.Sender, what, who, why, mode string) (dbus.UnixFD, *dbus.Error) {
	l := m.l
	if err := l.enter("Inhibit"); err != nil {
		return -1, err
	}
	for _, w := range strings.Split(what, ":") {
		if !inhibitWhats[w] {
			return -1, Error("org.freedesktop.DBus.Error.InvalidArgs", "Invalid what specification %s", what)
		}
	}
	if mode != "block" && mode != "delay" && mode != "block-weak" {
		return -1, Error("org.freedesktop.DBus.Error.InvalidArgs", "Invalid mode specification %s", mode)
	}
	uid, pid, derr := l.creds(string(sender))
	if derr != nil {
		return -1, derr
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, Error("org.freedesktop.DBus.Error.Failed", "pipe: %v", err)
	}
	l.st.Lock()
	id := l.addLocked(&heldInhibitor{Inhibitor: Inhibitor{What: what, Who: who, Why: why, Mode: mode, UID: uid, PID: pid}, r: r})
	l.st.Unlock()
	// The lock lasts while any copy of the write end is open: the fake
	// closes its own copy once the reply carrying it has been sent, and the
	// read end then sees EOF when the client closes the last one.
	l.afterReply(call, func() { w.Close() })
	l.inhibitWait.Add(1)
	go func() {
		defer l.inhibitWait.Done()
		_, _ = io.Copy(io.Discard, r)
		l.remove(id)
	}()
	return dbus.UnixFD(w.Fd()), nil
}

// creds asks the bus for the sender's uid and pid, as logind does.
func (l *Login) creds(sender string) (uid, pid uint32, derr *dbus.Error) {
	bus := l.conn.BusObject()
	if err := bus.Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, sender).Store(&uid); err != nil {
		return 0, 0, Error("org.freedesktop.DBus.Error.Failed", "credentials of %s: %v", sender, err)
	}
	if err := bus.Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, sender).Store(&pid); err != nil {
		return 0, 0, Error("org.freedesktop.DBus.Error.Failed", "credentials of %s: %v", sender, err)
	}
	return uid, pid, nil
}

func (m loginManager) ListInhibitors() ([]Inhibitor, *dbus.Error) {
	if err := m.l.enter("ListInhibitors"); err != nil {
		return nil, err
	}
	return m.l.Inhibitors(), nil
}

type sessionListEntry struct {
	ID   string
	UID  uint32
	User string
	Seat string
	Path dbus.ObjectPath
}

func (m loginManager) ListSessions() ([]sessionListEntry, *dbus.Error) {
	l := m.l
	if err := l.enter("ListSessions"); err != nil {
		return nil, err
	}
	l.st.Lock()
	defer l.st.Unlock()
	out := make([]sessionListEntry, 0, len(l.sessions))
	for _, s := range l.sessions {
		out = append(out, sessionListEntry{s.ID, s.UID, s.User, s.Seat, sessionPath(s.ID)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m loginManager) GetSession(id string) (dbus.ObjectPath, *dbus.Error) {
	l := m.l
	if err := l.enter("GetSession"); err != nil {
		return "", err
	}
	l.st.Lock()
	defer l.st.Unlock()
	if _, ok := l.sessions[id]; !ok {
		return "", Error("org.freedesktop.login1.NoSuchSession", "No session '%s' known", id)
	}
	return sessionPath(id), nil
}

func (m loginManager) PowerOff(sender dbus.Sender, interactive bool) *dbus.Error {
	return m.l.shutdown(string(sender), "PowerOff", 0, false)
}

func (m loginManager) Reboot(sender dbus.Sender, interactive bool) *dbus.Error {
	return m.l.shutdown(string(sender), "Reboot", 0, false)
}

func (m loginManager) Halt(sender dbus.Sender, interactive bool) *dbus.Error {
	return m.l.shutdown(string(sender), "Halt", 0, false)
}

func (m loginManager) PowerOffWithFlags(sender dbus.Sender, flags uint64) *dbus.Error {
	return m.l.shutdown(string(sender), "PowerOffWithFlags", flags, true)
}

func (m loginManager) RebootWithFlags(sender dbus.Sender, flags uint64) *dbus.Error {
	return m.l.shutdown(string(sender), "RebootWithFlags", flags, true)
}

func (m loginManager) HaltWithFlags(sender dbus.Sender, flags uint64) *dbus.Error {
	return m.l.shutdown(string(sender), "HaltWithFlags", flags, true)
}

func (l *Login) shutdown(sender, method string, flags uint64, withFlags bool) *dbus.Error {
	if err := l.enter(method); err != nil {
		return err
	}
	if withFlags && flags&^(RootCheckInhibitors|RebootViaKexec) != 0 {
		return Error("org.freedesktop.DBus.Error.InvalidArgs", "Invalid flags parameter")
	}
	if withFlags && flags&RebootViaKexec != 0 && !strings.HasPrefix(method, "Reboot") {
		return Error("org.freedesktop.DBus.Error.InvalidArgs", "Reboot via kexec is only applicable with reboot operations")
	}
	uid, _, derr := l.creds(sender)
	if derr != nil {
		return derr
	}
	l.st.Lock()
	if l.preparing {
		l.st.Unlock()
		return Error(ErrOperationInProgress, "There's already a shutdown or sleep operation in progress")
	}
	if l.blockedLocked(uid) {
		root := uid == 0
		if l.callerRoot != nil {
			root = *l.callerRoot
		}
		legacy := l.legacy
		switch {
		case root && flags&RootCheckInhibitors == 0:
			// root goes through
		case !legacy:
			l.st.Unlock()
			return Error(ErrBlockedByInhibitor, "Operation denied due to active block inhibitor")
		case root:
			l.st.Unlock()
			return Error("org.freedesktop.DBus.Error.AccessDenied", "Access denied to root due to active block inhibitor")
		default:
			l.st.Unlock()
			return Error("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", "Interactive authentication required.")
		}
	}
	l.preparing = true
	l.actions = append(l.actions, PowerAction{Method: method, Flags: flags})
	l.st.Unlock()
	if err := l.EmitPrepareForShutdown(true); err != nil {
		return Error("org.freedesktop.DBus.Error.Failed", "emit PrepareForShutdown: %v", err)
	}
	return nil
}

// blockedLocked is logind's manager_is_inhibited(..., INHIBIT_BLOCK,
// ignore_uid=true, uid): a block inhibitor on shutdown held by another uid.
func (l *Login) blockedLocked(uid uint32) bool {
	for _, in := range l.inhibitors {
		if in.Mode == "block" && in.UID != uid && covers(in.What, "shutdown") {
			return true
		}
	}
	return false
}

func covers(what, w string) bool {
	for _, x := range strings.Split(what, ":") {
		if x == w {
			return true
		}
	}
	return false
}
