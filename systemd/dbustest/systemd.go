package dbustest

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/godbus/dbus/v5"
)

// systemd's names, from systemd's org.freedesktop.systemd1(5).
const (
	SystemdName    = "org.freedesktop.systemd1"
	SystemdPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	SystemdManager = "org.freedesktop.systemd1.Manager"
	SystemdUnit    = "org.freedesktop.systemd1.Unit"
	SystemdTimer   = "org.freedesktop.systemd1.Timer"
	SystemdMount   = "org.freedesktop.systemd1.Mount"
	SystemdService = "org.freedesktop.systemd1.Service"
	ErrNoSuchUnit  = "org.freedesktop.systemd1.NoSuchUnit"
	// Errors of StartTransientUnit and of jobs on units that cannot run.
	ErrUnitExists     = "org.freedesktop.systemd1.UnitExists"
	ErrUnitMasked     = "org.freedesktop.systemd1.UnitMasked"
	ErrBadUnitSetting = "org.freedesktop.systemd1.BadUnitSetting"
	ErrAccessDenied   = "org.freedesktop.DBus.Error.AccessDenied"
	// What polkit answers when it would have to ask someone for a password.
	ErrInteractiveAuthorizationRequired = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
	unitPathPrefix                      = "/org/freedesktop/systemd1/unit/"
	jobPathPrefix                       = "/org/freedesktop/systemd1/job/"
	resultDone                          = "done"
	stateActive                         = "active"
	stateInactive                       = "inactive"
	stateFailed                         = "failed"
	stateActivating                     = "activating"
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
	// The other dependencies a stop job follows: the fake derives
	// RequisiteOf and ConsistsOf from Requisite and PartOf.
	Requisite        []string `json:"requisite"`
	PartOf           []string `json:"part_of"`
	PropagatesStopTo []string `json:"propagates_stop_to"`

	// Where the unit comes from. FragmentPath is its unit file (for an
	// fstab entry, the file systemd-fstab-generator wrote), SourcePath what
	// that was made from (/etc/fstab). Transient units are made by
	// StartTransientUnit (the fake sets FragmentPath under
	// /run/systemd/transient) and collected once inactive (also once failed
	// with CollectMode "inactive-or-failed"). A mount unit with no fragment
	// that is not transient is one systemd made from /proc/self/mountinfo:
	// it can be stopped (unmounted) but not started.
	FragmentPath string `json:"fragment_path"`
	SourcePath   string `json:"source_path"`
	Transient    bool   `json:"transient"`
	CollectMode  string `json:"collect_mode"` // "" means "inactive"

	// Mount units.
	Where   string `json:"where"`
	What    string `json:"what"`
	Type    string `json:"type"`
	Options string `json:"options"`
	// LazyUnmount and ForceUnmount: how systemd would unmount it.
	LazyUnmount  bool `json:"lazy_unmount"`
	ForceUnmount bool `json:"force_unmount"`
	// Busy: the filesystem is in use, so a stop job fails as umount(8)
	// does ("target is busy"): result "failed", the unit stays mounted and
	// its Result becomes "exit-code".
	Busy bool `json:"busy"`
	// Result is the Mount.Result property; "" means "success".
	Result string `json:"result"`

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
	// Anchor is the unit whose job pulled this one in (a stop propagated
	// to a unit that requires the stopped one); "" for a job asked for.
	Anchor string
}

// JobRunner runs a job in a test's world: it is called when the job runs,
// outside the fake's lock, with the unit as it is then; a non-empty result
// replaces the unit's scripted one ("failed" for a mount the world could
// not make).
type JobRunner func(j Job, u Unit) (result string)

// Systemd is a fake systemd manager on the bus.
//
// It answers GetUnit, LoadUnit, StartUnit, StopUnit and StartTransientUnit
// (returning a job path, then emitting JobRemoved with the unit's scripted
// result once the reply is out), ListUnits, ListUnitsFiltered,
// ListUnitsByPatterns, Subscribe and Unsubscribe, has the manager property
// Version (SetVersion), and exports every unit at
// systemd's object path with the Unit properties (Id, Description,
// LoadState, ActiveState, SubState, FragmentPath, SourcePath, Transient,
// CollectMode, RequiresMountsFor, Requires, Requisite, Wants, BindsTo,
// PartOf, PropagatesStopTo, RequiredBy, RequisiteOf, WantedBy, BoundBy,
// ConsistsOf, Job), plus Timer (NextElapseUSecRealtime,
// NextElapseUSecMonotonic, Unit) and Mount (Where, What, Type, Options,
// Result, LazyUnmount, ForceUnmount) properties by unit type.
//
// As systemd does, a stop job (unless its mode is "ignore-requirements" or
// "ignore-dependencies") also stops the active units that require, bind
// to, are part of or have Requisite= on the stopped unit, and those its
// PropagatesStopTo= names, recursively. LoadUnit of a unit the fake does not
// know makes a "not-found" stub, as systemd does.
//
// Transient units: only mount units, with the properties What, Where,
// Type, Options, Description, CollectMode, LazyUnmount, ForceUnmount,
// SloppyOptions, TimeoutUSec and DefaultDependencies. Where must be the
// path the name escapes, and What must be set, or the call fails with
// BadUnitSetting, as systemd's load check makes it fail.
type Systemd struct {
	*service

	st        sync.Mutex
	units     map[string]*Unit
	jobs      []*Job
	nextID    uint32
	changed   chan struct{}   // closed and replaced when a job is queued or ends
	transient map[string]Unit // ScriptTransient
	runner    JobRunner
	version   string
}

// DefaultVersion is the Version the fake manager reports unless told
// otherwise: Debian 12's systemd.
const DefaultVersion = "252.38-1~deb12u1"

// ServeSystemd exports a fake systemd manager on the bus at address and takes
// the name org.freedesktop.systemd1.
func ServeSystemd(address string) (*Systemd, error) {
	svc, err := newService(address, SystemdName)
	if err != nil {
		return nil, err
	}
	s := &Systemd{service: svc, units: make(map[string]*Unit), changed: make(chan struct{}), transient: make(map[string]Unit), version: DefaultVersion}
	if err := svc.export(systemdManager{s}, SystemdPath, SystemdManager); err != nil {
		svc.conn.Close()
		return nil, fmt.Errorf("dbustest: export systemd1 manager: %w", err)
	}
	if err := svc.export(properties{svc, s.managerProps}, SystemdPath, "org.freedesktop.DBus.Properties"); err != nil {
		svc.conn.Close()
		return nil, fmt.Errorf("dbustest: export systemd1 manager properties: %w", err)
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
	return s.export(u.Name)
}

func (s *Systemd) export(name string) error {
	err := s.service.export(properties{s.service, func(iface string) (map[string]dbus.Variant, bool) {
		return s.unitProps(name, iface)
	}}, UnitPath(name), "org.freedesktop.DBus.Properties")
	if err != nil {
		return fmt.Errorf("dbustest: export unit %s: %w", name, err)
	}
	return nil
}

// SetVersion sets the manager's Version property ("257", "252.38-1~deb12u1").
func (s *Systemd) SetVersion(v string) {
	s.st.Lock()
	defer s.st.Unlock()
	s.version = v
}

func (s *Systemd) managerProps(iface string) (map[string]dbus.Variant, bool) {
	if iface != SystemdManager && iface != "" {
		return nil, false
	}
	s.st.Lock()
	defer s.st.Unlock()
	return map[string]dbus.Variant{"Version": dbus.MakeVariant(s.version)}, true
}

// ScriptTransient sets how the transient unit of u.Name behaves once a
// client makes it: its StartResult, StopResult, Busy, JobHangs and Result
// are copied into it (the client's properties give the rest).
func (s *Systemd) ScriptTransient(u Unit) {
	s.st.Lock()
	defer s.st.Unlock()
	s.transient[u.Name] = u
}

// SetJobRunner makes fn run every job from now on (nil: scripted results
// only).
func (s *Systemd) SetJobRunner(fn JobRunner) {
	s.st.Lock()
	defer s.st.Unlock()
	s.runner = fn
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

func (u *Unit) collectMode() string {
	if u.CollectMode == "" {
		return "inactive"
	}
	return u.CollectMode
}

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
			"FragmentPath":      dbus.MakeVariant(u.FragmentPath),
			"SourcePath":        dbus.MakeVariant(u.SourcePath),
			"Transient":         dbus.MakeVariant(u.Transient),
			"CollectMode":       dbus.MakeVariant(u.collectMode()),
			"RequiresMountsFor": strs(u.RequiresMountsFor),
			"Requires":          strs(u.Requires),
			"Requisite":         strs(u.Requisite),
			"Wants":             strs(u.Wants),
			"BindsTo":           strs(u.BindsTo),
			"PartOf":            strs(u.PartOf),
			"PropagatesStopTo":  strs(u.PropagatesStopTo),
			"RequiredBy":        strs(s.reverseLocked(name, func(o *Unit) []string { return o.Requires })),
			"RequisiteOf":       strs(s.reverseLocked(name, func(o *Unit) []string { return o.Requisite })),
			"WantedBy":          strs(s.reverseLocked(name, func(o *Unit) []string { return o.Wants })),
			"BoundBy":           strs(s.reverseLocked(name, func(o *Unit) []string { return o.BindsTo })),
			"ConsistsOf":        strs(s.reverseLocked(name, func(o *Unit) []string { return o.PartOf })),
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
		result := u.Result
		if result == "" {
			result = "success"
		}
		add(map[string]dbus.Variant{
			"Where":        dbus.MakeVariant(u.Where),
			"What":         dbus.MakeVariant(u.What),
			"Type":         dbus.MakeVariant(u.Type),
			"Options":      dbus.MakeVariant(u.Options),
			"Result":       dbus.MakeVariant(result),
			"LazyUnmount":  dbus.MakeVariant(u.LazyUnmount),
			"ForceUnmount": dbus.MakeVariant(u.ForceUnmount),
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

// unitPathUnescape is systemd's unit_name_path_unescape.
func unitPathUnescape(s string) (string, error) {
	if s == "" || strings.HasPrefix(s, "-") && s != "-" || strings.HasSuffix(s, "-") && s != "-" || strings.Contains(s, "--") {
		return "", fmt.Errorf("%q is not an escaped path", s)
	}
	return unit.UnitNamePathUnescape(s), nil
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

// LoadUnit returns the path of a unit, loading it first: a unit the fake
// does not know becomes a "not-found" stub, as in systemd.
func (m systemdManager) LoadUnit(name string) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	if err := s.enter("LoadUnit"); err != nil {
		return "", err
	}
	if !validUnitName(name) {
		return "", Error(errInvalidArgs, "Unit name %s is not valid.", name)
	}
	s.st.Lock()
	defer s.st.Unlock()
	if _, ok := s.units[name]; !ok {
		s.units[name] = &Unit{Name: name, LoadState: "not-found", ActiveState: stateInactive}
		if err := s.export(name); err != nil {
			return "", Error("org.freedesktop.DBus.Error.Failed", "%v", err)
		}
	}
	return UnitPath(name), nil
}

const errInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs"

var unitTypes = map[string]bool{
	"service": true, "socket": true, "target": true, "device": true, "mount": true, "automount": true,
	"swap": true, "timer": true, "path": true, "slice": true, "scope": true,
}

// validUnitName is systemd's unit_name_is_valid for plain and instance
// names: a known type, at most 255 bytes, and only [A-Za-z0-9:_.\\@-].
func validUnitName(name string) bool {
	dot := strings.LastIndex(name, ".")
	if dot <= 0 || len(name) > 255 || !unitTypes[name[dot+1:]] {
		return false
	}
	for i := 0; i < dot; i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return false
		}
	}
	return true
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
		return "", Error(errInvalidArgs, "Job mode %s invalid.", mode)
	}
	s.st.Lock()
	defer s.st.Unlock()
	u, ok := s.units[name]
	if !ok {
		return "", Error(ErrNoSuchUnit, "Unit %s not found.", name)
	}
	if err := loadError(u); err != nil {
		return "", err
	}
	return s.queueLocked(call, typ, u, mode), nil
}

// loadError is what systemd answers a job on a unit that did not load
// (bus_unit_validate_load_state).
func loadError(u *Unit) *dbus.Error {
	switch u.loadState() {
	case "loaded":
		return nil
	case "not-found":
		return Error(ErrNoSuchUnit, "Unit %s not found.", u.Name)
	case "masked":
		return Error(ErrUnitMasked, "Unit %s is masked.", u.Name)
	case "bad-setting":
		return Error(ErrBadUnitSetting, "Unit %s has a bad unit file setting.", u.Name)
	}
	return Error("org.freedesktop.systemd1.LoadFailed", "Unit %s failed to load properly.", u.Name)
}

// queueLocked queues a job on u, and for a stop the stop jobs it pulls in,
// and runs them once the reply is out.
func (s *Systemd) queueLocked(call dbus.Message, typ string, u *Unit, mode string) dbus.ObjectPath {
	var pulled []*Job
	if typ == "stop" && mode != "ignore-requirements" && mode != "ignore-dependencies" {
		for _, d := range s.stopsWithLocked(u.Name) {
			s.nextID++
			j := &Job{ID: s.nextID, Unit: d, Type: "stop", Mode: mode, Anchor: u.Name}
			s.jobs = append(s.jobs, j)
			pulled = append(pulled, j)
		}
	}
	s.nextID++
	j := &Job{ID: s.nextID, Unit: u.Name, Type: typ, Mode: mode}
	s.jobs = append(s.jobs, j)
	s.notifyLocked()
	// systemd runs the jobs after answering; JobRemoved follows the reply.
	// The units that need u stop first (they are ordered after it).
	s.afterReply(call, func() {
		for _, p := range append(pulled, j) {
			s.run(p)
		}
	})
	return jobPath(j.ID)
}

// stopsWithLocked lists the active units a stop of name takes along, as
// systemd's transaction does: those that require it, have Requisite= on
// it, bind to it or are part of it, those it propagates its stop to, and
// theirs in turn. Sorted.
func (s *Systemd) stopsWithLocked(name string) []string {
	seen := map[string]bool{name: true}
	queue := []string{name}
	var out []string
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		var next []string
		for _, o := range s.units {
			if slices.Contains(o.Requires, n) || slices.Contains(o.Requisite, n) || slices.Contains(o.BindsTo, n) || slices.Contains(o.PartOf, n) {
				next = append(next, o.Name)
			}
		}
		if u, ok := s.units[n]; ok {
			next = append(next, u.PropagatesStopTo...)
		}
		for _, d := range next {
			if seen[d] {
				continue
			}
			seen[d] = true
			queue = append(queue, d)
			if u, ok := s.units[d]; ok && isRunning(u.activeState()) {
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func isRunning(state string) bool {
	return state == stateActive || state == stateActivating || state == "reloading"
}

// run runs one job: the test's JobRunner if any, else the unit's script.
func (s *Systemd) run(j *Job) {
	s.st.Lock()
	u, ok := s.units[j.Unit]
	var cur Unit
	if ok {
		cur = *u
	}
	runner := s.runner
	s.st.Unlock()
	if ok && cur.JobHangs {
		return
	}
	result := scripted(cur, j.Type)
	if runner != nil && ok {
		if r := runner(*j, cur); r != "" {
			result = r
		}
	}
	s.finish(j, result)
}

// scripted is how a job on u ends without a JobRunner.
func scripted(u Unit, typ string) string {
	r := u.StartResult
	if typ == "stop" {
		r = u.StopResult
		if r == "" && u.Busy && u.kind() == "mount" {
			r = "failed" // umount: target is busy
		}
	}
	if r == "" && typ == "start" && u.kind() == "mount" && u.FragmentPath == "" && !u.Transient && u.activeState() != stateActive {
		// Made from /proc/self/mountinfo: systemd has nothing to mount.
		r = "failed"
	}
	if r == "" {
		r = resultDone
	}
	return r
}

func (s *Systemd) finish(j *Job, result string) {
	s.st.Lock()
	j.Result = result
	s.notifyLocked()
	collected := ""
	if u, ok := s.units[j.Unit]; ok {
		mount := u.kind() == "mount"
		failure := map[string]string{"failed": "exit-code", "timeout": "timeout"}[result]
		switch {
		case result == resultDone && j.Type == "start":
			u.ActiveState, u.SubState = stateActive, ""
			if mount {
				u.Result = ""
			}
		case result == resultDone && j.Type == "stop":
			u.ActiveState, u.SubState = stateInactive, ""
		case mount && j.Type == "stop" && failure != "":
			// umount failed: the filesystem is still mounted.
			u.Result = failure
		case failure != "":
			u.ActiveState, u.SubState = stateFailed, ""
			if mount {
				u.Result = failure
			}
		}
		if u.Transient && (u.ActiveState == stateInactive || u.ActiveState == stateFailed && u.CollectMode == "inactive-or-failed") {
			collected = u.Name
			delete(s.units, u.Name)
		}
	}
	s.st.Unlock()
	if collected != "" {
		_ = s.service.export(nil, UnitPath(collected), "org.freedesktop.DBus.Properties")
	}
	_ = s.conn.Emit(SystemdPath, SystemdManager+".JobRemoved", j.ID, jobPath(j.ID), j.Unit, result)
}

// transientProperty is one (sv) of StartTransientUnit.
type transientProperty struct {
	Name  string
	Value dbus.Variant
}

// auxUnit is one (sa(sv)) of StartTransientUnit.
type auxUnit struct {
	Name       string
	Properties []transientProperty
}

func (m systemdManager) StartTransientUnit(call dbus.Message, name, mode string, props []transientProperty, aux []auxUnit) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	if err := s.enter("StartTransientUnit"); err != nil {
		return "", err
	}
	if !jobModes[mode] {
		return "", Error(errInvalidArgs, "Job mode %s is invalid.", mode)
	}
	if !validUnitName(name) {
		return "", Error(errInvalidArgs, "Unit name %s is not valid.", name)
	}
	if k := name[strings.LastIndex(name, ".")+1:]; k != "mount" {
		return "", Error(errInvalidArgs, "dbustest: transient %s units are not emulated", k)
	}
	if len(aux) > 0 {
		return "", Error(errInvalidArgs, "dbustest: auxiliary units are not emulated")
	}
	s.st.Lock()
	defer s.st.Unlock()
	old, exists := s.units[name]
	if exists && !s.pristineLocked(old) {
		return "", Error(ErrUnitExists, "Unit %s was already loaded or has a fragment file.", name)
	}
	script := s.transient[name]
	u := Unit{
		Name: name, Transient: true, FragmentPath: "/run/systemd/transient/" + name, ActiveState: stateInactive,
		StartResult: script.StartResult, StopResult: script.StopResult, Busy: script.Busy, JobHangs: script.JobHangs, Result: script.Result,
	}
	if exists {
		u.ActiveState = old.activeState()
	}
	for _, p := range props {
		if err := setTransient(&u, p); err != nil {
			return "", err
		}
	}
	// systemd's load check of mount units (mount_verify): the unit then
	// has load state "bad-setting" and its start job is refused.
	where, err := unitPathUnescape(strings.TrimSuffix(name, ".mount"))
	if err != nil || u.Where != where || u.What == "" {
		return "", Error(ErrBadUnitSetting, "Unit %s has a bad unit file setting.", name)
	}
	s.units[name] = &u
	if !exists {
		if err := s.export(name); err != nil {
			return "", Error("org.freedesktop.DBus.Error.Failed", "%v", err)
		}
	}
	return s.queueLocked(call, "start", &u, mode), nil
}

// pristineLocked is systemd's unit_is_pristine: a unit a transient one
// may replace.
func (s *Systemd) pristineLocked(u *Unit) bool {
	if ls := u.loadState(); ls != "loaded" && ls != "not-found" {
		return false
	}
	if u.FragmentPath != "" || u.SourcePath != "" || u.Transient {
		return false
	}
	for _, j := range s.jobs {
		if j.Unit == u.Name && j.Result == "" {
			return false
		}
	}
	return true
}

func setTransient(u *Unit, p transientProperty) *dbus.Error {
	str := func(dst *string) *dbus.Error {
		v, ok := p.Value.Value().(string)
		if !ok {
			return Error(errInvalidArgs, "Invalid type for property %s: %s.", p.Name, p.Value.Signature())
		}
		*dst = v
		return nil
	}
	boolean := func(dst *bool) *dbus.Error {
		v, ok := p.Value.Value().(bool)
		if !ok {
			return Error(errInvalidArgs, "Invalid type for property %s: %s.", p.Name, p.Value.Signature())
		}
		*dst = v
		return nil
	}
	var ignored bool
	switch p.Name {
	case "What":
		return str(&u.What)
	case "Where":
		return str(&u.Where)
	case "Type":
		return str(&u.Type)
	case "Options":
		return str(&u.Options)
	case "Description":
		return str(&u.Description)
	case "CollectMode":
		if err := str(&u.CollectMode); err != nil {
			return err
		}
		if u.CollectMode != "inactive" && u.CollectMode != "inactive-or-failed" {
			return Error(errInvalidArgs, "Invalid collect mode: %s", u.CollectMode)
		}
		return nil
	case "LazyUnmount":
		return boolean(&u.LazyUnmount)
	case "ForceUnmount":
		return boolean(&u.ForceUnmount)
	case "SloppyOptions", "DefaultDependencies":
		return boolean(&ignored)
	case "TimeoutUSec":
		if _, ok := p.Value.Value().(uint64); !ok {
			return Error(errInvalidArgs, "Invalid type for property %s: %s.", p.Name, p.Value.Signature())
		}
		return nil
	}
	return Error("org.freedesktop.DBus.Error.PropertyReadOnly", "Cannot set property %s, or unknown property.", p.Name)
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
