package dbustest

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// systemd's names, from systemd's org.freedesktop.systemd1(5).
const (
	SystemdName     = "org.freedesktop.systemd1"
	SystemdPath     = dbus.ObjectPath("/org/freedesktop/systemd1")
	SystemdManager  = "org.freedesktop.systemd1.Manager"
	SystemdUnit     = "org.freedesktop.systemd1.Unit"
	SystemdTimer    = "org.freedesktop.systemd1.Timer"
	SystemdMount    = "org.freedesktop.systemd1.Mount"
	SystemdService  = "org.freedesktop.systemd1.Service"
	ErrNoSuchUnit   = "org.freedesktop.systemd1.NoSuchUnit"
	unitPathPrefix  = "/org/freedesktop/systemd1/unit/"
	jobPathPrefix   = "/org/freedesktop/systemd1/job/"
	resultDone      = "done"
	stateActive     = "active"
	stateInactive   = "inactive"
	stateFailed     = "failed"
	stateActivating = "activating"
)

// Unit is a unit of the fake systemd: its state, its dependencies, and how
// its jobs end.
type Unit struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	LoadState   string `json:"load_state"`   // "" means "loaded"
	ActiveState string `json:"active_state"` // "" means "active"
	SubState    string `json:"sub_state"`    // "" means one that fits ActiveState and the unit type

	RequiresMountsFor []string `json:"requires_mounts_for"`
	// Forward dependencies; the fake derives RequiredBy, WantedBy and
	// BoundBy of the named units from them. (Real systemd also turns
	// RequiresMountsFor into Requires= on mount units; the fake does not,
	// so a test can tell the two sources apart.)
	Requires []string `json:"requires"`
	Wants    []string `json:"wants"`
	BindsTo  []string `json:"binds_to"`

	// Mount units.
	Where string `json:"where"`
	What  string `json:"what"`

	// Timer units.
	NextElapse          time.Time     `json:"next_elapse"`           // NextElapseUSecRealtime; zero for none
	NextElapseMonotonic time.Duration `json:"next_elapse_monotonic"` // NextElapseUSecMonotonic
	Triggers            string        `json:"triggers"`              // the unit it starts; "" means the .service of the same name

	// How jobs end: "" means "done". Other results systemd reports:
	// "failed", "timeout", "canceled", "dependency", "skipped".
	StopResult  string `json:"stop_result"`
	StartResult string `json:"start_result"`
	// JobHangs: jobs on this unit never finish (no JobRemoved).
	JobHangs bool `json:"job_hangs"`
}

// Job is a job the fake ran.
type Job struct {
	ID     uint32
	Unit   string
	Type   string // "start" or "stop"
	Mode   string
	Result string // "" while it runs
}

// Systemd is a fake systemd manager on the bus.
//
// It answers GetUnit, StartUnit, StopUnit (returning a job path, then
// emitting JobRemoved with the unit's scripted result once the reply is out),
// ListUnits, ListUnitsFiltered, ListUnitsByPatterns, Subscribe and
// Unsubscribe, and exports every unit at systemd's object path with the
// Unit properties (Id, Description, LoadState, ActiveState, SubState,
// RequiresMountsFor, Requires, Wants, BindsTo, RequiredBy, WantedBy,
// BoundBy, Job), plus Timer (NextElapseUSecRealtime, NextElapseUSecMonotonic,
// Unit) and Mount (Where, What) properties by unit type.
type Systemd struct {
	*service

	st      sync.Mutex
	units   map[string]*Unit
	jobs    []*Job
	nextID  uint32
	changed chan struct{} // closed and replaced when a job is queued or ends
}

// ServeSystemd exports a fake systemd manager on the bus at address and takes
// the name org.freedesktop.systemd1.
func ServeSystemd(address string) (*Systemd, error) {
	svc, err := newService(address, SystemdName)
	if err != nil {
		return nil, err
	}
	s := &Systemd{service: svc, units: make(map[string]*Unit), changed: make(chan struct{})}
	if err := svc.conn.Export(systemdManager{s}, SystemdPath, SystemdManager); err != nil {
		svc.conn.Close()
		return nil, fmt.Errorf("dbustest: export systemd1 manager: %w", err)
	}
	if err := svc.own(); err != nil {
		svc.conn.Close()
		return nil, err
	}
	return s, nil
}

// UnitPath is the object path systemd gives a unit.
func UnitPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath(unitPathPrefix + busPathEscape(name))
}

// AddUnit adds or replaces a unit.
func (s *Systemd) AddUnit(u Unit) error {
	if u.Name == "" || !strings.Contains(u.Name, ".") {
		return fmt.Errorf("dbustest: unit name %q has no type suffix", u.Name)
	}
	c := u
	s.st.Lock()
	s.units[u.Name] = &c
	s.st.Unlock()
	name := u.Name
	err := s.conn.Export(properties{s.service, func(iface string) (map[string]dbus.Variant, bool) {
		return s.unitProps(name, iface)
	}}, UnitPath(name), "org.freedesktop.DBus.Properties")
	if err != nil {
		return fmt.Errorf("dbustest: export unit %s: %w", name, err)
	}
	return nil
}

// Unit returns the current state of a unit.
func (s *Systemd) Unit(name string) (Unit, bool) {
	s.st.Lock()
	defer s.st.Unlock()
	u, ok := s.units[name]
	if !ok {
		return Unit{}, false
	}
	return *u, true
}

// Jobs returns every job in the order it was queued.
func (s *Systemd) Jobs() []Job {
	s.st.Lock()
	defer s.st.Unlock()
	out := make([]Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = *j
	}
	return out
}

// WaitJobs blocks until at least n jobs have been queued (finished or not),
// or ctx ends: the way to act while a job runs without sleeping.
func (s *Systemd) WaitJobs(ctx context.Context, n int) error {
	for {
		s.st.Lock()
		ok := len(s.jobs) >= n
		ch := s.changed
		s.st.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("dbustest: waiting for %d jobs: %w", n, ctx.Err())
		}
	}
}

func (s *Systemd) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (u *Unit) kind() string { return u.Name[strings.LastIndex(u.Name, ".")+1:] }

func (u *Unit) loadState() string {
	if u.LoadState == "" {
		return "loaded"
	}
	return u.LoadState
}

func (u *Unit) activeState() string {
	if u.ActiveState == "" {
		return stateActive
	}
	return u.ActiveState
}

func (u *Unit) subState() string {
	if u.SubState != "" {
		return u.SubState
	}
	switch u.activeState() {
	case stateActive:
		switch u.kind() {
		case "timer":
			return "waiting"
		case "mount":
			return "mounted"
		case "socket":
			return "listening"
		case "target", "slice":
			return "active"
		}
		return "running"
	case stateFailed:
		return "failed"
	case stateActivating:
		return "start"
	}
	return "dead"
}

func (s *Systemd) unitProps(name, iface string) (map[string]dbus.Variant, bool) {
	s.st.Lock()
	defer s.st.Unlock()
	u, ok := s.units[name]
	if !ok {
		return nil, false
	}
	type uo struct {
		ID   uint32
		Path dbus.ObjectPath
	}
	job := uo{0, "/"}
	for _, j := range s.jobs {
		if j.Unit == name && j.Result == "" {
			job = uo{j.ID, jobPath(j.ID)}
		}
	}
	strs := func(v []string) dbus.Variant {
		if v == nil {
			v = []string{}
		}
		return dbus.MakeVariant(v)
	}
	out := map[string]dbus.Variant{}
	add := func(m map[string]dbus.Variant) {
		for k, v := range m {
			out[k] = v
		}
	}
	known := false
	if iface == SystemdUnit || iface == "" {
		known = true
		add(map[string]dbus.Variant{
			"Id":                dbus.MakeVariant(u.Name),
			"Names":             strs([]string{u.Name}),
			"Description":       dbus.MakeVariant(u.Description),
			"LoadState":         dbus.MakeVariant(u.loadState()),
			"ActiveState":       dbus.MakeVariant(u.activeState()),
			"SubState":          dbus.MakeVariant(u.subState()),
			"Following":         dbus.MakeVariant(""),
			"RequiresMountsFor": strs(u.RequiresMountsFor),
			"Requires":          strs(u.Requires),
			"Wants":             strs(u.Wants),
			"BindsTo":           strs(u.BindsTo),
			"RequiredBy":        strs(s.reverseLocked(name, func(o *Unit) []string { return o.Requires })),
			"WantedBy":          strs(s.reverseLocked(name, func(o *Unit) []string { return o.Wants })),
			"BoundBy":           strs(s.reverseLocked(name, func(o *Unit) []string { return o.BindsTo })),
			"Job":               dbus.MakeVariant(job),
		})
	}
	if (iface == SystemdTimer || iface == "") && u.kind() == "timer" {
		known = true
		triggers := u.Triggers
		if triggers == "" {
			triggers = strings.TrimSuffix(u.Name, ".timer") + ".service"
		}
		var next uint64
		if !u.NextElapse.IsZero() {
			next = uint64(u.NextElapse.UnixMicro())
		}
		add(map[string]dbus.Variant{
			"Unit":                    dbus.MakeVariant(triggers),
			"NextElapseUSecRealtime":  dbus.MakeVariant(next),
			"NextElapseUSecMonotonic": dbus.MakeVariant(uint64(u.NextElapseMonotonic / time.Microsecond)),
			"LastTriggerUSec":         dbus.MakeVariant(uint64(0)),
		})
	}
	if (iface == SystemdMount || iface == "") && u.kind() == "mount" {
		known = true
		add(map[string]dbus.Variant{
			"Where": dbus.MakeVariant(u.Where),
			"What":  dbus.MakeVariant(u.What),
		})
	}
	if (iface == SystemdService || iface == "") && u.kind() == "service" {
		known = true
		add(map[string]dbus.Variant{"Type": dbus.MakeVariant("simple")})
	}
	return out, known
}

// reverseLocked lists the units whose forward dependency deps names name.
func (s *Systemd) reverseLocked(name string, deps func(*Unit) []string) []string {
	var out []string
	for _, o := range s.units {
		for _, d := range deps(o) {
			if d == name {
				out = append(out, o.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func jobPath(id uint32) dbus.ObjectPath {
	return dbus.ObjectPath(fmt.Sprintf("%s%d", jobPathPrefix, id))
}

type systemdManager struct{ s *Systemd }

func (m systemdManager) GetUnit(name string) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	if err := s.enter("GetUnit"); err != nil {
		return "", err
	}
	s.st.Lock()
	defer s.st.Unlock()
	if _, ok := s.units[name]; !ok {
		return "", Error(ErrNoSuchUnit, "Unit %s not loaded.", name)
	}
	return UnitPath(name), nil
}

var jobModes = map[string]bool{
	"replace": true, "fail": true, "isolate": true, "ignore-dependencies": true,
	"ignore-requirements": true, "flush": true, "replace-irreversibly": true,
}

func (m systemdManager) StartUnit(call dbus.Message, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.queue(call, "StartUnit", "start", name, mode)
}

func (m systemdManager) StopUnit(call dbus.Message, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.queue(call, "StopUnit", "stop", name, mode)
}

func (s *Systemd) queue(call dbus.Message, method, typ, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	if err := s.enter(method); err != nil {
		return "", err
	}
	if !jobModes[mode] {
		return "", Error("org.freedesktop.DBus.Error.InvalidArgs", "Job mode %s invalid.", mode)
	}
	s.st.Lock()
	defer s.st.Unlock()
	u, ok := s.units[name]
	if !ok {
		return "", Error(ErrNoSuchUnit, "Unit %s not found.", name)
	}
	s.nextID++
	j := &Job{ID: s.nextID, Unit: name, Type: typ, Mode: mode}
	s.jobs = append(s.jobs, j)
	s.notifyLocked()
	if u.JobHangs {
		return jobPath(j.ID), nil
	}
	result := u.StartResult
	if typ == "stop" {
		result = u.StopResult
	}
	if result == "" {
		result = resultDone
	}
	// systemd runs the job after answering; JobRemoved follows the reply.
	s.afterReply(call, func() { s.finish(j, result) })
	return jobPath(j.ID), nil
}

func (s *Systemd) finish(j *Job, result string) {
	s.st.Lock()
	j.Result = result
	s.notifyLocked()
	if u, ok := s.units[j.Unit]; ok {
		switch {
		case result == resultDone && j.Type == "start":
			u.ActiveState, u.SubState = stateActive, ""
		case result == resultDone && j.Type == "stop":
			u.ActiveState, u.SubState = stateInactive, ""
		case result == "failed" || result == "timeout":
			u.ActiveState, u.SubState = stateFailed, ""
		}
	}
	s.st.Unlock()
	_ = s.conn.Emit(SystemdPath, SystemdManager+".JobRemoved", j.ID, jobPath(j.ID), j.Unit, result)
}

// unitStatus is one entry of ListUnits: (ssssssouso).
type unitStatus struct {
	Name, Description, LoadState, ActiveState, SubState, Following string
	Path                                                           dbus.ObjectPath
	JobID                                                          uint32
	JobType                                                        string
	JobPath                                                        dbus.ObjectPath
}

func (s *Systemd) list(states, patterns []string) ([]unitStatus, *dbus.Error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, Error("org.freedesktop.DBus.Error.InvalidArgs", "Invalid pattern %s.", p)
		}
	}
	s.st.Lock()
	defer s.st.Unlock()
	var out []unitStatus
	for _, u := range s.units {
		if len(states) > 0 && !anyOf(states, u.loadState(), u.activeState(), u.subState()) {
			continue
		}
		if len(patterns) > 0 && !matchAny(patterns, u.Name) {
			continue
		}
		st := unitStatus{
			Name: u.Name, Description: u.Description, LoadState: u.loadState(),
			ActiveState: u.activeState(), SubState: u.subState(), Path: UnitPath(u.Name), JobPath: "/",
		}
		for _, j := range s.jobs {
			if j.Unit == u.Name && j.Result == "" {
				st.JobID, st.JobType, st.JobPath = j.ID, j.Type, jobPath(j.ID)
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []unitStatus{}
	}
	return out, nil
}

func anyOf(set []string, vals ...string) bool {
	for _, s := range set {
		for _, v := range vals {
			if s == v {
				return true
			}
		}
	}
	return false
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (m systemdManager) ListUnits() ([]unitStatus, *dbus.Error) {
	if err := m.s.enter("ListUnits"); err != nil {
		return nil, err
	}
	return m.s.list(nil, nil)
}

func (m systemdManager) ListUnitsFiltered(states []string) ([]unitStatus, *dbus.Error) {
	if err := m.s.enter("ListUnitsFiltered"); err != nil {
		return nil, err
	}
	return m.s.list(states, nil)
}

func (m systemdManager) ListUnitsByPatterns(states, patterns []string) ([]unitStatus, *dbus.Error) {
	if err := m.s.enter("ListUnitsByPatterns"); err != nil {
		return nil, err
	}
	return m.s.list(states, patterns)
}

func (m systemdManager) Subscribe() *dbus.Error   { return m.s.enter("Subscribe") }
func (m systemdManager) Unsubscribe() *dbus.Error { return m.s.enter("Unsubscribe") }
