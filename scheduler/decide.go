package scheduler

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Activity is an activity check that is active now: it postpones sleep.
type Activity struct {
	Check  string `json:"check"`            // "connections", "processes"…
	Detail string `json:"detail,omitempty"` // "ssh session from 192.0.2.4"
}

func (a Activity) String() string {
	if a.Detail == "" {
		return a.Check + " active"
	}
	return a.Check + ": " + a.Detail
}

// Timer is a systemd timer the server must be awake for (a backup).
type Timer struct {
	Name string    // "borgbackup.timer"
	Next time.Time // its next elapse
}

// Observations is what the agent knows when it asks for a decision.
type Observations struct {
	// Now is the wall clock. It is the only source of time of the package.
	Now time.Time
	// ClockSynced reports that the wall clock is trustworthy (NTP synced or
	// an RTC read). Until then nothing is put to sleep: a Pi without an RTC
	// boots in 1970.
	ClockSynced bool
	// AwakeSince is when the server last booted or woke (RTC alarm, button,
	// disks woken by hand), on the current wall clock: the agent computes it
	// as Now minus the monotonic time since that event, so a clock step does
	// not move it. Zero if unknown.
	AwakeSince time.Time
	// StayAwakeUntil is a manual request (button, Home Assistant) to stay
	// awake; it is honoured, and wakes a sleeping server.
	StayAwakeUntil time.Time
	// Active lists the activity checks that are active now.
	Active []Activity
	// Timers lists the watched timers' next elapses.
	Timers []Timer
	// Monotonic is a reading of a clock that counts steadily while the
	// system runs and is not stepped (CLOCK_BOOTTIME as a Duration); zero if
	// unknown. With it a clock jump is a change of the wall clock that the
	// monotonic clock did not see, however far apart the calls are; without
	// it, any change larger than Policy.ClockJump between two calls is one.
	Monotonic time.Duration
}

// Transition is a planned change of state. It marshals to JSON as
// {"time":"2026-12-01T23:30:00+01:00","state":"system","window":"night","reason":"..."},
// the lines `veille schedule` prints.
type Transition struct {
	At     time.Time
	State  Depth
	Window string
	Reason string
}

type transitionJSON struct {
	Time   string `json:"time"`
	State  Depth  `json:"state"`
	Window string `json:"window,omitempty"`
	Reason string `json:"reason"`
}

// IsZero reports whether no transition is planned.
func (t Transition) IsZero() bool { return t.At.IsZero() }

// MarshalJSON writes At in RFC 3339 in its own location.
func (t Transition) MarshalJSON() ([]byte, error) {
	return json.Marshal(transitionJSON{t.At.Format(time.RFC3339), t.State, t.Window, t.Reason})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Transition) UnmarshalJSON(b []byte) error {
	var v transitionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("scheduler: transition: %w", err)
	}
	at, err := time.Parse(time.RFC3339, v.Time)
	if err != nil {
		return fmt.Errorf("scheduler: transition time: %w", err)
	}
	*t = Transition{At: at, State: v.State, Window: v.Window, Reason: v.Reason}
	return nil
}

// Decision is the state the server should be in now and why.
type Decision struct {
	State  Depth  `json:"state"`
	Reason string `json:"reason"`
	// Window is the sleep window in force now, even when sleep is held off.
	Window string `json:"window,omitempty"`
	// Next is the next planned change, zero if none is known (the clock is
	// not synchronised, or no window comes within a year).
	Next Transition `json:"next,omitzero"`
	// RetryAt is set when activity postponed sleep: decide again then.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// WakeAt is set when State is SystemHalted: the time the RTC must wake
	// the Pi (it equals Next.At).
	WakeAt time.Time `json:"wake_at,omitzero"`
	// Postponed lists the activities that held sleep off.
	Postponed []Activity `json:"postponed,omitempty"`
	// GaveUp reports that the current window was given up because of
	// activity; the server stays awake until it ends.
	GaveUp bool `json:"gave_up,omitempty"`
}

// Memory is what Decide carries from one call to the next: the previous
// decision (to see wakes and clock jumps), the hold after a wake, and a
// window given up on. Start with the zero Memory; the agent may store it as
// JSON to keep it across restarts, and should otherwise treat it as opaque.
type Memory struct {
	LastNow      time.Time     `json:"last_now,omitzero"`
	LastMono     time.Duration `json:"last_monotonic,omitempty"`
	LastState    Depth         `json:"last_state"`
	HoldUntil    time.Time     `json:"hold_until,omitzero"`
	HoldReason   string        `json:"hold_reason,omitempty"`
	GaveUpPeriod time.Time     `json:"gave_up_period,omitzero"` // start of the sleep given up on
	GaveUpUntil  time.Time     `json:"gave_up_until,omitzero"`  // its end
	GaveUpDepth  Depth         `json:"gave_up_depth,omitempty"`
	GaveUpHold   Depth         `json:"gave_up_hold,omitempty"` // the state kept instead
	GaveUpReason string        `json:"gave_up_reason,omitempty"`
}

func (m *Memory) clearGiveUp() {
	m.GaveUpPeriod, m.GaveUpUntil, m.GaveUpDepth, m.GaveUpHold, m.GaveUpReason = time.Time{}, time.Time{}, Awake, Awake, ""
}

// hold keeps the server from sleeping deeper than it is until a time.
type hold struct {
	until time.Time
	why   string
	retry bool // the retry after activity postponed sleep
}

// gap is a wake inside a sleep period for a timer.
type gap struct {
	from, to time.Time
	timer    string
	due      time.Time
	per      *period
}

// evaluator computes the state at any instant from the plan and what is
// known now; Decide uses it for now and to find the next transition.
type evaluator struct {
	p         *Policy
	now       time.Time
	periods   []period
	gaps      []gap
	holds     []hold
	stayAwake time.Time
	mem       *Memory // give-up state
}

type verdict struct {
	depth   Depth
	target  Depth // what the plan alone wants
	window  string
	reason  string
	per     *period
	attempt time.Time // when the current attempt to sleep started (give-up clock)
	gaveUp  bool
}

func (e *evaluator) periodAt(t time.Time) *period {
	for i := range e.periods {
		if e.periods[i].contains(t) {
			return &e.periods[i]
		}
	}
	return nil
}

// eval returns the state at t, never deeper than held while a hold lasts.
func (e *evaluator) eval(t time.Time, held Depth) verdict {
	v := verdict{reason: "outside sleep windows"}
	if per := e.periodAt(t); per != nil {
		s := per.stepAt(t)
		v.target, v.window, v.per, v.attempt = s.depth, s.window, per, s.at
		v.reason = stepReason(per, s, e.now)
		for _, g := range e.gaps {
			if g.per != per {
				continue
			}
			if !t.Before(g.from) && t.Before(g.to) {
				v.target = Awake
				v.reason = fmt.Sprintf("awake for timer %s due at %s, inside window %s", g.timer, clock(g.due, e.now), s.window)
			} else if !g.to.After(t) && g.to.After(v.attempt) {
				v.attempt = g.to
			}
		}
	}
	v.depth = v.target
	switch {
	case !e.p.Enabled:
		v.depth, v.reason = Awake, "scheduling is disabled"
		return v
	case t.Before(e.stayAwake):
		v.depth, v.reason = Awake, "staying awake until "+clock(e.stayAwake, e.now)+" as requested"
		return v
	}
	if m := e.mem; v.per != nil && !m.GaveUpPeriod.IsZero() && v.per.start.Equal(m.GaveUpPeriod) && v.depth <= m.GaveUpDepth {
		v.depth = min(v.depth, m.GaveUpHold)
		v.reason, v.gaveUp = m.GaveUpReason, true
	}
	if v.depth > held {
		var h *hold
		for i := range e.holds {
			if x := &e.holds[i]; t.Before(x.until) && (h == nil || x.until.After(h.until)) {
				h = x
			}
		}
		if h != nil {
			v.reason = fmt.Sprintf("%s: no deeper sleep before %s, then %s", h.why, clock(h.until, e.now), v.reason)
			v.depth = held
		}
	}
	return v
}

// next returns the first change from state after now.
func (e *evaluator) next(state Depth) Transition {
	var bs []time.Time
	for i := range e.periods {
		pe := &e.periods[i]
		for _, s := range pe.steps {
			bs = append(bs, s.at)
		}
		bs = append(bs, pe.end)
	}
	for _, h := range e.holds {
		bs = append(bs, h.until)
	}
	for _, g := range e.gaps {
		bs = append(bs, g.from, g.to)
	}
	bs = append(bs, e.stayAwake, e.mem.GaveUpUntil)
	slices.SortFunc(bs, time.Time.Compare)
	for i, b := range bs {
		if !b.After(e.now) || i > 0 && b.Equal(bs[i-1]) {
			continue
		}
		v := e.eval(b, state)
		if v.depth == state {
			continue
		}
		tr := Transition{At: b.In(e.now.Location()), State: v.depth, Window: v.window, Reason: v.reason}
		if v.per == nil {
			for i := range e.periods {
				if pe := &e.periods[i]; pe.end.Equal(b) {
					tr.Window, tr.Reason = pe.endWindow, "window "+pe.endWindow+" ends"
				}
			}
		}
		for _, h := range e.holds {
			if h.retry && h.until.Equal(b) {
				tr.Reason = "retry: " + tr.Reason
			}
		}
		return tr
	}
	return Transition{}
}

// Decide returns the state the server should be in at o.Now, the next
// planned transition and the reason, and the memory to pass to the next call.
// It is pure: the same arguments always give the same result. Call it
// regularly (the agent polls every minute; without Observations.Monotonic at
// least every ClockJump/2), and also at Decision.Next.At and Decision.RetryAt.
func Decide(p *Policy, mem Memory, o Observations) (Decision, Memory) {
	if p == nil {
		p = &Policy{} // invalid: stays awake and says why
	}
	loc := p.location()
	now := o.Now.Round(0).In(loc)
	prev := mem.LastState
	if !prev.valid() {
		prev = Awake
	}
	if err := p.Validate(); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		d := Decision{State: Awake, Reason: "invalid policy: " + msg}
		return d, remember(p, mem, o, now, Awake)
	}

	// Holds: reasons not to sleep deeper than now for a while.
	var holds []hold
	if prev == SystemHalted {
		// Decide runs, so the Pi is up again: the halt is over (or failed).
		prev = Awake
		holds = append(holds, hold{until: now.Add(p.MinAwake), why: "awake at least " + duration(p.MinAwake) + " after waking from a system halt"})
	}
	if !mem.LastNow.IsZero() {
		skew := now.Sub(mem.LastNow)
		if o.Monotonic > 0 && mem.LastMono > 0 {
			if o.Monotonic >= mem.LastMono {
				skew -= o.Monotonic - mem.LastMono
			} else {
				skew = 0 // rebooted: a wake, handled as one, not a jump
			}
		}
		if skew > p.ClockJump || skew < -p.ClockJump {
			// The jump itself decides nothing: what was held or given up
			// before it is forgotten, the plan is read afresh at the new
			// time, and nothing sleeps deeper for MinAwake, as after a wake.
			mem.HoldUntil = now.Add(p.MinAwake)
			mem.HoldReason = fmt.Sprintf("clock jumped from %s to %s", clock(mem.LastNow.In(loc), now), clock(now, now))
			mem.clearGiveUp()
		}
	}
	if now.Before(mem.HoldUntil) {
		holds = append(holds, hold{until: mem.HoldUntil, why: mem.HoldReason})
	}
	if a := o.AwakeSince; !a.IsZero() && !a.After(now) && now.Before(a.Add(p.MinAwake)) {
		holds = append(holds, hold{until: a.Add(p.MinAwake), why: fmt.Sprintf("awake at least %s after waking at %s", duration(p.MinAwake), clock(a.In(loc), now))})
	}
	if !mem.GaveUpUntil.IsZero() && !now.Before(mem.GaveUpUntil) {
		mem.clearGiveUp()
	}

	// The plan from the sleep containing now up to the first sleep that
	// starts after every hold is over.
	horizon := now
	for _, h := range holds {
		horizon = later(horizon, h.until)
	}
	horizon = later(horizon, o.StayAwakeUntil)
	e := &evaluator{p: p, now: now, holds: holds, stayAwake: o.StayAwakeUntil, mem: &mem}
	e.periods = p.periodsUntilNext(now, horizon)
	if p.WakeBeforeTimers > 0 {
		for _, tm := range o.Timers {
			due := tm.Next.Round(0).In(loc)
			per := e.periodAt(due)
			if per == nil {
				continue
			}
			e.gaps = append(e.gaps, gap{from: due.Add(-p.WakeBeforeTimers), to: due.Add(max(p.MinAwake, time.Minute)), timer: tm.Name, due: due, per: per})
		}
	}

	v := e.eval(now, prev)
	d := Decision{State: v.depth, Reason: v.reason, Window: v.window, GaveUp: v.gaveUp}
	switch {
	case !o.ClockSynced:
		d.State = min(v.depth, prev)
		d.Reason = "clock not synchronised: no sleep until it is"
		d.GaveUp = false
		return d, remember(p, mem, o, now, d.State)
	case v.depth > prev && len(o.Active) > 0:
		d.State = prev
		d.Postponed = slices.Clone(o.Active)
		what := activities(o.Active)
		deadline := v.attempt.Add(p.GiveUpAfter)
		if !now.Before(deadline) {
			mem.GaveUpPeriod, mem.GaveUpUntil = v.per.start, v.per.end
			mem.GaveUpDepth, mem.GaveUpHold = v.depth, prev
			mem.GaveUpReason = fmt.Sprintf("gave up on window %s: still in use %s after %s (%s); %s until %s",
				v.window, duration(now.Sub(v.attempt)), clock(v.attempt, now), what, stateWords(prev), clock(v.per.end, now))
			d.Reason, d.GaveUp = mem.GaveUpReason, true
		} else {
			retry := earlier(now.Add(p.RetryEvery), deadline)
			e.holds = append(e.holds, hold{until: retry, why: "postponed by activity", retry: true})
			d.RetryAt = retry
			d.Reason = fmt.Sprintf("window %s postponed: %s; retry at %s, give up at %s", v.window, what, clock(retry, now), clock(deadline, now))
		}
	}
	if prev > Awake && d.State == Awake {
		// Waking now: stay up at least MinAwake.
		mem.HoldUntil = now.Add(p.MinAwake)
		mem.HoldReason = fmt.Sprintf("awake at least %s after waking at %s", duration(p.MinAwake), clock(now, now))
		e.holds = append(e.holds, hold{until: mem.HoldUntil, why: mem.HoldReason})
	}
	d.Next = e.next(d.State)
	if d.GaveUp && !d.Next.IsZero() {
		d.Next.Reason = fmt.Sprintf("after giving up on window %s: %s", v.window, d.Next.Reason)
	}
	if d.State == SystemHalted {
		d.WakeAt = d.Next.At
	}
	return d, remember(p, mem, o, now, d.State)
}

// remember returns the memory after deciding state at now.
func remember(p *Policy, mem Memory, o Observations, now time.Time, state Depth) Memory {
	out := mem
	out.LastNow, out.LastState, out.LastMono = now, state, o.Monotonic
	if mem.LastState > Awake && state == Awake && !now.Before(out.HoldUntil) {
		out.HoldUntil = now.Add(p.MinAwake)
		out.HoldReason = fmt.Sprintf("awake at least %s after waking at %s", duration(p.MinAwake), clock(now, now))
	}
	if !now.Before(out.HoldUntil) {
		out.HoldUntil, out.HoldReason = time.Time{}, ""
	}
	return out
}

// duration formats d to the minute, like "2h", "1h30m", "45m", "0m".
func duration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

func activities(as []Activity) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, "; ")
}

func stateWords(d Depth) string {
	switch d {
	case DisksAsleep:
		return "disks asleep"
	case SystemHalted:
		return "halted"
	}
	return "awake"
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
