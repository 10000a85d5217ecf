package dbustest

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// service is what both fakes share: a bus connection that owns a well-known
// name, call counters, per-method hooks, and a way to act right after a reply
// has been written to the bus.
//
// Acting after the reply is what a real service does when it hands out a file
// descriptor and closes its own copy (logind's inhibitor fifo), or finishes a
// job after returning its path (systemd's JobRemoved). godbus sends a method's
// return values only after the Go method has returned, so the fake learns the
// reply's serial from an outgoing interceptor and runs the deferred action when
// godbus retires that serial, which it does right after writing the message.
type service struct {
	conn *dbus.Conn
	name string

	mu       sync.Mutex
	calls    map[string]int
	hooks    map[string]func() *dbus.Error
	observer func(call string)

	// exportMu serialises Export: godbus reads its object table without
	// its lock while another Export writes it (a unit exported by a handler,
	// LoadUnit, while a test adds one).
	exportMu sync.Mutex

	serialMu sync.Mutex
	serial   uint32
	byCall   map[replyKey]func() // registered by a handler, keyed by the call it answers
	bySerial map[uint32]func()   // moved here once the reply has a serial
}

type replyKey struct {
	dest   string
	serial uint32
}

func newService(address, name string) (*service, error) {
	s := &service{
		name:     name,
		calls:    make(map[string]int),
		hooks:    make(map[string]func() *dbus.Error),
		byCall:   make(map[replyKey]func()),
		bySerial: make(map[uint32]func()),
	}
	conn, err := dial(address, dbus.WithSerialGenerator(s), dbus.WithOutgoingInterceptor(s.intercept))
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return s, nil
}

// own requests the service's well-known name, after its objects are exported
// so no client can see a half-built service.
func (s *service) own() error {
	reply, err := s.conn.RequestName(s.name, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("dbustest: request name %s: %w", s.name, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("dbustest: name %s is already owned on this bus", s.name)
	}
	return nil
}

// GetSerial implements dbus.SerialGenerator.
func (s *service) GetSerial() uint32 {
	s.serialMu.Lock()
	defer s.serialMu.Unlock()
	s.serial++
	if s.serial == 0 {
		s.serial++
	}
	return s.serial
}

// RetireSerial implements dbus.SerialGenerator. godbus calls it once an
// outgoing reply has been written (or failed to be).
func (s *service) RetireSerial(serial uint32) {
	s.serialMu.Lock()
	fn := s.bySerial[serial]
	delete(s.bySerial, serial)
	s.serialMu.Unlock()
	if fn != nil {
		fn()
	}
}

func (s *service) intercept(msg *dbus.Message) {
	if msg.Type != dbus.TypeMethodReply && msg.Type != dbus.TypeError {
		return
	}
	var k replyKey
	if v, ok := msg.Headers[dbus.FieldReplySerial].Value().(uint32); ok {
		k.serial = v
	}
	if v, ok := msg.Headers[dbus.FieldDestination].Value().(string); ok {
		k.dest = v
	}
	s.serialMu.Lock()
	defer s.serialMu.Unlock()
	if fn, ok := s.byCall[k]; ok {
		delete(s.byCall, k)
		s.bySerial[msg.Serial()] = fn
	}
}

// afterReply runs fn once the reply to call has been written to the bus.
func (s *service) afterReply(call dbus.Message, fn func()) {
	k := replyKey{serial: call.Serial()}
	if v, ok := call.Headers[dbus.FieldSender].Value().(string); ok {
		k.dest = v
	}
	s.serialMu.Lock()
	s.byCall[k] = fn
	s.serialMu.Unlock()
}

// enter counts a call and runs its hook. A non-nil error is what the caller
// gets instead of the method's own result.
func (s *service) enter(member string) *dbus.Error {
	s.mu.Lock()
	s.calls[member]++
	hook := s.hooks[member]
	obs := s.observer
	s.mu.Unlock()
	if obs != nil {
		obs(s.name + "." + member)
	}
	if hook != nil {
		return hook()
	}
	return nil
}

// Calls returns how many times a method (its member name, e.g.
// "PowerOffWithFlags") was called, including calls a hook failed.
func (s *service) Calls(member string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[member]
}

// CallCounts returns every counter, as "Member=N" sorted, for test messages.
func (s *service) CallCounts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, v := range s.calls {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Hook installs fn to run at the start of every call to member, before the
// fake does anything else. If fn returns an error, the call fails with it.
// A nil fn removes the hook. Use it to make a method fail
// (dbustest.Error("org.freedesktop.DBus.Error.AccessDenied", "...")), or to
// change the world between a client's check and its action.
func (s *service) Hook(member string, fn func() *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.hooks, member)
		return
	}
	s.hooks[member] = fn
}

// SetObserver makes the fake report every call, as "interface.Member", to
// fn (used by Run to print calls for end-to-end tests).
func (s *service) SetObserver(fn func(call string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observer = fn
}

// Close drops the fake's bus connection (and with it its name).
func (s *service) Close() error { return s.conn.Close() }

// Error builds a D-Bus error reply with a message, as the services send them.
func Error(name, format string, args ...any) *dbus.Error {
	return &dbus.Error{Name: name, Body: []any{fmt.Sprintf(format, args...)}}
}

// properties serves org.freedesktop.DBus.Properties from a function that
// returns the current values of one interface (or all of them for ""), so
// the values are always those of the fake's state.
type properties struct {
	svc    *service
	values func(iface string) (map[string]dbus.Variant, bool)
}

func (p properties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	if err := p.svc.enter("Get"); err != nil {
		return dbus.Variant{}, err
	}
	all, ok := p.values(iface)
	if !ok {
		return dbus.Variant{}, Error("org.freedesktop.DBus.Error.UnknownInterface", "Unknown interface %s.", iface)
	}
	v, ok := all[name]
	if !ok {
		return dbus.Variant{}, Error("org.freedesktop.DBus.Error.UnknownProperty", "Unknown property %s.%s.", iface, name)
	}
	return v, nil
}

func (p properties) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	if err := p.svc.enter("GetAll"); err != nil {
		return nil, err
	}
	all, ok := p.values(iface)
	if !ok {
		return nil, Error("org.freedesktop.DBus.Error.UnknownInterface", "Unknown interface %s.", iface)
	}
	return all, nil
}

func (p properties) Set(iface, name string, _ dbus.Variant) *dbus.Error {
	if err := p.svc.enter("Set"); err != nil {
		return err
	}
	return Error("org.freedesktop.DBus.Error.PropertyReadOnly", "Property %s.%s is read-only.", iface, name)
}

// busPathEscape escapes a string into one object path element the way
// sd-bus does (bus_label_escape): [A-Za-z0-9] stay, anything else, and a
// leading digit, become _xx; "" becomes "_".
func busPathEscape(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if alpha || (digit && i > 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// export is conn.Export, one at a time (see exportMu).
func (svc *service) export(v any, path dbus.ObjectPath, iface string) error {
	svc.exportMu.Lock()
	defer svc.exportMu.Unlock()
	return svc.conn.Export(v, path, iface)
}
