package scheduler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// call is one call of Decide in a scenario and what it must return.
type call struct {
	now    string // wall time in the scenario's zone, "2006-01-02 15:04", or "utc:..."
	obs    func(o *Observations)
	state  Depth
	next   string // expected Next.At in the same form, "" for none
	nstate Depth  // expected Next.State
	reason string // substrings of Decision.Reason, "|"-separated
	nextRe string // substrings of Next.Reason
	retry  string // expected RetryAt
	wake   string // expected WakeAt
	gaveUp bool
	// The scenario feeds Observations.Monotonic as if the machine ran
	// steadily between calls, except across a clock step (jump: it advances a
	// minute while the wall clock moves arbitrarily) or a boot (it restarts).
	jump, boot bool
}

type scenario struct {
	name  string
	p     *Policy
	mem   Memory
	calls []call
}

func (sc scenario) run(t *testing.T) {
	t.Helper()
	loc := sc.p.Location
	parse := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		if u, ok := strings.CutPrefix(s, "utc:"); ok {
			return at(t, time.UTC, u)
		}
		return at(t, loc, s)
	}
	mem := sc.mem
	var mono time.Duration
	var last time.Time
	for i, c := range sc.calls {
		o := Observations{Now: parse(c.now), ClockSynced: true}
		switch {
		case c.boot || i == 0:
			mono = time.Minute
		case c.jump:
			mono += time.Minute
		default:
			mono += o.Now.Sub(last)
		}
		last = o.Now
		o.Monotonic = mono
		if c.obs != nil {
			c.obs(&o)
		}
		d, m := Decide(sc.p, mem, o)
		mem = m
		where := func() string { return c.now }
		if d.State != c.state {
			t.Errorf("call %d at %s: state %v, want %v (reason %q)", i, where(), d.State, c.state, d.Reason)
		}
		if want := parse(c.next); !d.Next.At.Equal(want) || (!want.IsZero() && d.Next.State != c.nstate) {
			t.Errorf("call %d at %s: next %v %v, want %v %v (next reason %q)", i, where(), d.Next.At, d.Next.State, want, c.nstate, d.Next.Reason)
		}
		if !d.Next.IsZero() && !d.Next.At.After(o.Now) {
			t.Errorf("call %d at %s: next %v is not after now", i, where(), d.Next.At)
		}
		if d.Next.State == d.State && !d.Next.IsZero() {
			t.Errorf("call %d at %s: next transition to the current state %v", i, where(), d.State)
		}
		for _, sub := range strings.Split(c.reason, "|") {
			if !strings.Contains(d.Reason, sub) {
				t.Errorf("call %d at %s: reason %q does not say %q", i, where(), d.Reason, sub)
			}
		}
		for _, sub := range strings.Split(c.nextRe, "|") {
			if !strings.Contains(d.Next.Reason, sub) {
				t.Errorf("call %d at %s: next reason %q does not say %q", i, where(), d.Next.Reason, sub)
			}
		}
		if want := parse(c.retry); !d.RetryAt.Equal(want) {
			t.Errorf("call %d at %s: retry at %v, want %v", i, where(), d.RetryAt, want)
		}
		if want := parse(c.wake); !d.WakeAt.Equal(want) {
			t.Errorf("call %d at %s: wake at %v, want %v", i, where(), d.WakeAt, want)
		}
		if d.GaveUp != c.gaveUp {
			t.Errorf("call %d at %s: gave up %v, want %v (reason %q)", i, where(), d.GaveUp, c.gaveUp, d.Reason)
		}
		if d.State == SystemHalted && d.Next.State != Awake {
			t.Errorf("call %d at %s: halted with no wake planned", i, where())
		}
	}
}

func active(as ...Activity) func(*Observations) {
	return func(o *Observations) { o.Active = as }
}

var ssh = Activity{Check: "connections", Detail: "ssh session from 192.0.2.4"}

func TestDecide(t *testing.T) {
	paris, ny := mustLoad(t, "Europe/Paris"), mustLoad(t, "America/New_York")
	night := Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted}
	disks := Window{Name: "quiet", Sleep: TimeOfDay{22, 0}, Wake: TimeOfDay{7, 0}, Depth: DisksAsleep}
	xmas, _ := ParseDate("2026-12-24")
	withExc := func(p *Policy, e ...Exception) *Policy { p.Exceptions = e; return p }
	disabled := testPolicy(paris, night)
	disabled.Enabled = false
	invalid := testPolicy(paris, Window{Name: "bad", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{1, 0}, Depth: SystemHalted})

	for _, sc := range []scenario{
		{
			name: "a night across midnight",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:29", state: Awake, next: "2026-12-01 23:30", nstate: SystemHalted, reason: "outside sleep windows", nextRe: "system halt until"},
				{now: "2026-12-01 23:30", state: SystemHalted, next: "2026-12-02 07:00", nstate: Awake, wake: "2026-12-02 07:00", reason: "window night: system halt until Wed 07:00"},
				// The RTC woke the Pi; the agent booted and asks again.
				{now: "2026-12-02 07:01", boot: true, obs: func(o *Observations) { o.AwakeSince = at(t, paris, "2026-12-02 07:00") }, state: Awake, next: "2026-12-02 23:30", nstate: SystemHalted},
			},
		},
		{
			name: "a halt that failed is retried after min awake",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:30", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
				{now: "2026-12-01 23:31", state: Awake, next: "2026-12-02 00:01", nstate: SystemHalted, reason: "after waking from a system halt"},
				{now: "2026-12-01 23:45", state: Awake, next: "2026-12-02 00:01", nstate: SystemHalted, reason: "after waking at 23:31"},
				{now: "2026-12-02 00:01", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "1970 boot, then the clock syncs inside a window",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "utc:1970-01-01 00:00", obs: func(o *Observations) { o.ClockSynced = false }, state: Awake, reason: "clock not synchronised"},
				{now: "utc:1970-01-01 00:01", obs: func(o *Observations) { o.ClockSynced = false }, state: Awake, reason: "clock not synchronised"},
				// timesyncd steps the clock: a jump, so nothing sleeps for MinAwake.
				{now: "2026-12-01 23:45", jump: true, state: Awake, next: "2026-12-02 00:15", nstate: SystemHalted, reason: "clock jumped from 1970-01-01 01:01 to 23:45|no deeper sleep before Wed 00:15"},
				{now: "2026-12-02 00:14", state: Awake, next: "2026-12-02 00:15", nstate: SystemHalted},
				{now: "2026-12-02 00:15", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "unsynced clock in a window never sleeps",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:40", obs: func(o *Observations) { o.ClockSynced = false }, state: Awake, reason: "clock not synchronised"},
			},
		},
		{
			name: "clock jumps forward several hours into a window",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 14:00", state: Awake, next: "2026-12-01 23:30", nstate: SystemHalted},
				{now: "2026-12-01 14:01", state: Awake, next: "2026-12-01 23:30", nstate: SystemHalted},
				{now: "2026-12-01 23:50", jump: true, state: Awake, next: "2026-12-02 00:20", nstate: SystemHalted, reason: "clock jumped from 14:01 to 23:50"},
				{now: "2026-12-02 00:20", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "clock jumps while the disks sleep: no spurious wake, and back out of the window wakes",
			p:    testPolicy(paris, disks),
			calls: []call{
				{now: "2026-12-01 23:00", state: DisksAsleep, next: "2026-12-02 07:00", nstate: Awake},
				{now: "2026-12-02 03:00", jump: true, state: DisksAsleep, next: "2026-12-02 07:00", nstate: Awake, reason: "window quiet: disks asleep"},
				{now: "2026-12-01 22:30", jump: true, state: DisksAsleep, next: "2026-12-02 07:00", nstate: Awake},
				{now: "2026-12-01 14:00", jump: true, state: Awake, next: "2026-12-01 22:00", nstate: DisksAsleep, reason: "outside sleep windows"},
				{now: "2026-12-01 14:01", state: Awake, next: "2026-12-01 22:00", nstate: DisksAsleep},
			},
		},
		{
			name: "clock jumps back into a window from outside: held for min awake",
			p:    testPolicy(paris, disks),
			calls: []call{
				{now: "2026-12-02 09:00", state: Awake, next: "2026-12-02 22:00", nstate: DisksAsleep},
				{now: "2026-12-02 02:00", jump: true, state: Awake, next: "2026-12-02 02:30", nstate: DisksAsleep, reason: "clock jumped from 09:00 to 02:00"},
			},
		},
		{
			name: "activity postpones, then clears",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:30", obs: active(ssh), state: Awake, next: "2026-12-01 23:35", nstate: SystemHalted, retry: "2026-12-01 23:35",
					reason: "window night postponed: connections: ssh session from 192.0.2.4; retry at 23:35, give up at Wed 01:30", nextRe: "retry: window night"},
				{now: "2026-12-01 23:35", obs: active(ssh, Activity{Check: "processes", Detail: "rsync running (pid 812)"}), state: Awake, next: "2026-12-01 23:40", nstate: SystemHalted, retry: "2026-12-01 23:40",
					reason: "ssh session from 192.0.2.4; processes: rsync running (pid 812)"},
				{now: "2026-12-01 23:40", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "activity past the deadline gives the window up",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:30", obs: active(ssh), state: Awake, next: "2026-12-01 23:35", nstate: SystemHalted, retry: "2026-12-01 23:35"},
				{now: "2026-12-02 01:27", obs: active(ssh), state: Awake, next: "2026-12-02 01:30", nstate: SystemHalted, retry: "2026-12-02 01:30", reason: "give up at 01:30"},
				{now: "2026-12-02 01:30", obs: active(ssh), state: Awake, next: "2026-12-02 23:30", nstate: SystemHalted, gaveUp: true,
					reason: "gave up on window night: still in use 2h after Tue 23:30 (connections: ssh session from 192.0.2.4); awake until 07:00",
					nextRe: "after giving up on window night: window night"},
				// Idle again: the window stays given up.
				{now: "2026-12-02 02:00", state: Awake, next: "2026-12-02 23:30", nstate: SystemHalted, gaveUp: true, reason: "gave up on window night"},
				{now: "2026-12-02 23:30", state: SystemHalted, next: "2026-12-03 07:00", wake: "2026-12-03 07:00"},
			},
		},
		{
			name: "min awake after a wake seen by the agent",
			p: testPolicy(paris, night,
				Window{Name: "morning", Sleep: TimeOfDay{7, 15}, Wake: TimeOfDay{12, 0}, Depth: DisksAsleep}),
			calls: []call{
				{now: "2026-12-02 07:15", obs: func(o *Observations) { o.AwakeSince = at(t, paris, "2026-12-02 07:01") }, state: Awake,
					next: "2026-12-02 07:31", nstate: DisksAsleep, reason: "awake at least 30m after waking at 07:01|window morning"},
				{now: "2026-12-02 07:31", obs: func(o *Observations) { o.AwakeSince = at(t, paris, "2026-12-02 07:01") }, state: DisksAsleep, next: "2026-12-02 12:00", nstate: Awake},
			},
		},
		{
			name: "min awake after the disks wake between two windows",
			p: testPolicy(paris,
				Window{Name: "a", Sleep: TimeOfDay{22, 0}, Wake: TimeOfDay{2, 0}, Depth: DisksAsleep},
				Window{Name: "b", Sleep: TimeOfDay{2, 10}, Wake: TimeOfDay{5, 0}, Depth: DisksAsleep}),
			calls: []call{
				{now: "2026-12-01 23:50", state: DisksAsleep, next: "2026-12-02 02:00", nstate: Awake},
				{now: "2026-12-02 02:00", state: Awake, next: "2026-12-02 02:30", nstate: DisksAsleep},
				{now: "2026-12-02 02:10", state: Awake, next: "2026-12-02 02:30", nstate: DisksAsleep, reason: "after waking at 02:00|window b"},
				{now: "2026-12-02 02:30", state: DisksAsleep, next: "2026-12-02 05:00", nstate: Awake},
			},
		},
		{
			name: "stay awake is honoured and wakes the disks",
			p:    testPolicy(paris, disks),
			calls: []call{
				{now: "2026-12-01 22:00", state: DisksAsleep, next: "2026-12-02 07:00", nstate: Awake},
				{now: "2026-12-01 23:00", obs: func(o *Observations) { o.StayAwakeUntil = at(t, paris, "2026-12-02 01:00") }, state: Awake,
					next: "2026-12-02 01:00", nstate: DisksAsleep, reason: "staying awake until Wed 01:00 as requested"},
				{now: "2026-12-02 00:59", obs: func(o *Observations) { o.StayAwakeUntil = at(t, paris, "2026-12-02 01:00") }, state: Awake, next: "2026-12-02 01:00", nstate: DisksAsleep},
				{now: "2026-12-02 01:00", obs: func(o *Observations) { o.StayAwakeUntil = at(t, paris, "2026-12-02 01:00") }, state: DisksAsleep, next: "2026-12-02 07:00", nstate: Awake},
			},
		},
		{
			name: "a timer inside a system window wakes the Pi before it, then it sleeps again",
			p:    testPolicy(paris, night),
			calls: func() []call {
				backup := func(o *Observations) {
					o.Timers = []Timer{{Name: "borgbackup.timer", Next: at(t, paris, "2026-12-02 03:00")}}
				}
				busy := func(o *Observations) {
					backup(o)
					o.Active = []Activity{{Check: "processes", Detail: "borg running (pid 4711)"}}
				}
				return []call{
					{now: "2026-12-01 23:30", obs: backup, state: SystemHalted, next: "2026-12-02 02:50", nstate: Awake, wake: "2026-12-02 02:50"},
					{now: "2026-12-02 02:51", boot: true, obs: func(o *Observations) { backup(o); o.AwakeSince = at(t, paris, "2026-12-02 02:50") }, state: Awake,
						next: "2026-12-02 03:30", nstate: SystemHalted, reason: "awake for timer borgbackup.timer due at 03:00, inside window night"},
					{now: "2026-12-02 03:30", obs: busy, state: Awake, next: "2026-12-02 03:35", nstate: SystemHalted, retry: "2026-12-02 03:35", reason: "borg running (pid 4711)|give up at 05:30"},
					{now: "2026-12-02 03:35", obs: backup, state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
				}
			}(),
		},
		{
			name: "a timer outside every window changes nothing",
			p:    testPolicy(paris, night),
			calls: []call{
				{now: "2026-12-01 23:30", obs: func(o *Observations) { o.Timers = []Timer{{Name: "t", Next: at(t, paris, "2026-12-02 12:00")}} }, state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "an exception day stays awake, the next night sleeps",
			p:    withExc(testPolicy(paris, night), Exception{Name: "xmas", From: xmas, Awake: true}),
			calls: []call{
				{now: "2026-12-24 23:30", state: Awake, next: "2026-12-25 23:30", nstate: SystemHalted, reason: "outside sleep windows"},
			},
		},
		{
			name: "an exception day with a replacement window",
			p: withExc(testPolicy(paris, night), Exception{Name: "xmas", From: xmas, Windows: []Window{
				{Name: "siesta", Sleep: TimeOfDay{13, 0}, Wake: TimeOfDay{15, 0}, Depth: DisksAsleep}}}),
			calls: []call{
				{now: "2026-12-24 12:00", state: Awake, next: "2026-12-24 13:00", nstate: DisksAsleep},
				{now: "2026-12-24 13:00", state: DisksAsleep, next: "2026-12-24 15:00", nstate: Awake, reason: "window siesta (exception xmas): disks asleep until 15:00", nextRe: "window siesta ends"},
				// The night of the 24th is replaced; the 25th sleeps again.
				{now: "2026-12-24 15:00", state: Awake, next: "2026-12-25 23:30", nstate: SystemHalted},
			},
		},
		{
			name: "escalation inside one sleep: disks, then halt",
			p: testPolicy(paris, disks,
				Window{Name: "deep", Sleep: TimeOfDay{0, 0}, Wake: TimeOfDay{6, 0}, Depth: SystemHalted}),
			calls: []call{
				{now: "2026-12-01 22:00", state: DisksAsleep, next: "2026-12-02 00:00", nstate: SystemHalted},
				{now: "2026-12-02 00:00", obs: active(ssh), state: DisksAsleep, next: "2026-12-02 00:05", nstate: SystemHalted, retry: "2026-12-02 00:05"},
				{now: "2026-12-02 00:05", state: SystemHalted, next: "2026-12-02 07:00", wake: "2026-12-02 07:00"},
			},
		},
		{
			name: "new york fall back: the RTC wake is the first 01:30",
			p:    testPolicy(ny, Window{Name: "n", Sleep: TimeOfDay{0, 30}, Wake: TimeOfDay{1, 30}, Depth: SystemHalted}),
			calls: []call{
				{now: "2026-11-01 00:30", state: SystemHalted, next: "utc:2026-11-01 05:30", nstate: Awake, wake: "utc:2026-11-01 05:30"},
			},
		},
		{
			name: "paris spring forward: a window ending in the gap ends at 03:00 CEST",
			p:    testPolicy(paris, Window{Name: "n", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{2, 30}, Depth: DisksAsleep}),
			calls: []call{
				{now: "2026-03-29 01:59", state: DisksAsleep, next: "utc:2026-03-29 01:00", nstate: Awake},
				{now: "utc:2026-03-29 01:00", state: Awake, next: "2026-03-30 01:00", nstate: DisksAsleep},
			},
		},
		{
			name:  "disabled",
			p:     disabled,
			calls: []call{{now: "2026-12-01 23:45", state: Awake, reason: "scheduling is disabled"}},
		},
		{
			name:  "an invalid policy keeps the server awake and says why",
			p:     invalid,
			mem:   Memory{LastState: DisksAsleep},
			calls: []call{{now: "2026-12-01 01:30", state: Awake, reason: `invalid policy: scheduler: window "bad": sleep and wake are both 01:00`}},
		},
	} {
		t.Run(sc.name, sc.run)
	}
}

func TestNilPolicy(t *testing.T) {
	d, _ := Decide(nil, Memory{LastState: DisksAsleep}, Observations{Now: time.Unix(1764628200, 0), ClockSynced: true})
	if d.State != Awake || !strings.Contains(d.Reason, "invalid policy: scheduler: policy has no time zone") {
		t.Errorf("Decide(nil) = %+v", d)
	}
	if Preview(nil, time.Unix(1764628200, 0), 3) != nil {
		t.Error("Preview(nil) planned something")
	}
}

func TestMemoryJSON(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	p := testPolicy(paris, Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted})
	_, mem := Decide(p, Memory{}, Observations{Now: at(t, paris, "2026-12-02 01:30"), ClockSynced: true, Active: []Activity{ssh},
		AwakeSince: at(t, paris, "2026-12-01 12:00")})
	if mem.GaveUpPeriod.IsZero() {
		t.Fatal("window not given up")
	}
	b, err := json.Marshal(mem)
	if err != nil {
		t.Fatal(err)
	}
	var back Memory
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// A restarted agent keeps the give-up.
	d, _ := Decide(p, back, Observations{Now: at(t, paris, "2026-12-02 01:35"), ClockSynced: true})
	if !d.GaveUp || d.State != Awake {
		t.Errorf("after JSON round trip of %s: %+v", b, d)
	}
}

func TestDecisionJSON(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	p := testPolicy(paris, Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted})
	d, _ := Decide(p, Memory{}, Observations{Now: at(t, paris, "2026-12-01 23:30"), ClockSynced: true})
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"state":"system","reason":"window night: system halt until Wed 07:00","window":"night","next":{"time":"2026-12-02T07:00:00+01:00","state":"awake","window":"night","reason":"window night ends"},"wake_at":"2026-12-02T07:00:00+01:00"}`
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant:\n%s", b, want)
	}
}
