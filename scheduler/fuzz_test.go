package scheduler

import (
	"reflect"
	"testing"
	"time"
)

var fuzzZones = []string{"UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kathmandu"}

// fuzzPolicy builds a policy, possibly invalid, from fuzz input.
func fuzzPolicy(t *testing.T, sleep, wake uint16, days, depth uint8, sleep2, wake2 uint16, zone, flags uint8, now time.Time) *Policy {
	loc := mustLoad(t, fuzzZones[int(zone)%len(fuzzZones)])
	tod := func(m uint16) TimeOfDay { return TimeOfDay{int(m%1440) / 60, int(m%1440) % 60} }
	p := testPolicy(loc, Window{Name: "a", Days: Weekdays(days & 0x7f), Sleep: tod(sleep), Wake: tod(wake), Depth: Depth(depth%2 + 1)})
	if flags&1 != 0 {
		p.Windows = append(p.Windows, Window{Name: "b", Days: Weekdays(days >> 1), Sleep: tod(sleep2), Wake: tod(wake2), Depth: Depth((depth>>1)%2 + 1)})
	}
	if flags&2 != 0 {
		d := DateOf(now.In(loc))
		e := Exception{Name: "x", From: d.AddDays(int(flags>>5) - 2), To: d.AddDays(int(flags >> 5)), Awake: flags&16 != 0}
		if !e.Awake {
			e.Windows = []Window{{Name: "r", Sleep: tod(sleep2), Wake: tod(wake), Depth: SystemHalted}}
		}
		p.Exceptions = []Exception{e}
	}
	if flags&64 != 0 {
		p.MinAwake = 0
	}
	return p
}

func fuzzTime(sec int64) time.Time {
	const span = 130 * 365 * 24 * 3600 // 1970 to 2100
	if sec < 0 {
		sec = -sec
	}
	return time.Unix(sec%span, 0)
}

func FuzzDecide(f *testing.F) {
	f.Add(uint16(1410), uint16(420), uint8(0), uint8(1), uint16(60), uint16(600), uint8(1), uint8(0), int64(1764628200), int64(300), int64(0), int64(0))
	f.Add(uint16(120), uint16(150), uint8(0x41), uint8(0), uint16(1380), uint16(360), uint8(1), uint8(0x0f), int64(1774746000), int64(-7200), int64(3600), int64(5000))
	f.Add(uint16(90), uint16(60), uint8(0x7f), uint8(3), uint16(30), uint16(100), uint8(2), uint8(0xff), int64(1793491200), int64(40000), int64(-1), int64(-600))
	f.Fuzz(func(t *testing.T, sleep, wake uint16, days, depth uint8, sleep2, wake2 uint16, zone, flags uint8, now, step, stay, timer int64) {
		start := fuzzTime(now)
		p := fuzzPolicy(t, sleep, wake, days, depth, sleep2, wake2, zone, flags, start)
		valid := p.Validate() == nil
		var mem Memory
		var mono time.Duration
		at := start
		for i := range 6 {
			o := Observations{
				Now:         at,
				ClockSynced: i > 0 || flags&4 == 0,
				Monotonic:   mono + time.Minute,
			}
			if flags&8 != 0 && i%2 == 0 {
				o.Active = []Activity{{Check: "fuzz", Detail: "busy"}}
			}
			if stay != 0 {
				o.StayAwakeUntil = start.Add(time.Duration(stay%(3*86400)) * time.Second)
			}
			if timer != 0 {
				o.Timers = []Timer{{Name: "t", Next: start.Add(time.Duration(timer%(3*86400)) * time.Second)}}
			}
			if i == 3 && flags&128 != 0 {
				o.AwakeSince = at.Add(-time.Minute)
			}
			d, m := Decide(p, mem, o)
			d2, m2 := Decide(p, mem, o)
			if !reflect.DeepEqual(d, d2) || !reflect.DeepEqual(m, m2) {
				t.Fatalf("Decide is not deterministic at %v", at)
			}
			if !d.State.valid() {
				t.Fatalf("state %v", d.State)
			}
			if !valid && d.State != Awake {
				t.Fatalf("invalid policy, state %v", d.State)
			}
			if !o.ClockSynced && d.State > mem.LastState && mem.LastState != SystemHalted {
				t.Fatalf("slept deeper (%v → %v) on an unsynchronised clock", mem.LastState, d.State)
			}
			if !d.Next.IsZero() {
				if !d.Next.At.After(at) {
					t.Fatalf("at %v: next %v is not after now", at, d.Next.At)
				}
				if d.Next.State == d.State {
					t.Fatalf("at %v: next transition to the current state %v", at, d.State)
				}
			}
			if d.State == SystemHalted && (!d.WakeAt.After(at) || !d.WakeAt.Equal(d.Next.At) || d.Next.State != Awake) {
				t.Fatalf("at %v: halted with wake %v, next %+v", at, d.WakeAt, d.Next)
			}
			if !d.RetryAt.IsZero() && (!d.RetryAt.After(at) || d.State != mem.LastState && mem.LastState != SystemHalted) {
				t.Fatalf("at %v: retry %v, state %v after %v", at, d.RetryAt, d.State, mem.LastState)
			}
			if d.Reason == "" {
				t.Fatalf("at %v: no reason", at)
			}
			mem = m
			s := time.Duration(step%(2*86400)) * time.Second
			if s > 0 {
				mono += s
			}
			at = at.Add(s)
		}
	})
}

func FuzzPreview(f *testing.F) {
	f.Add(uint16(1410), uint16(420), uint8(0), uint8(1), uint16(60), uint16(600), uint8(1), uint8(0), int64(1764628200))
	f.Add(uint16(120), uint16(150), uint8(0x41), uint8(0), uint16(1380), uint16(360), uint8(1), uint8(0x0f), int64(1774746000))
	f.Add(uint16(90), uint16(60), uint8(0x7f), uint8(3), uint16(30), uint16(100), uint8(3), uint8(0x23), int64(1793491200))
	f.Fuzz(func(t *testing.T, sleep, wake uint16, days, depth uint8, sleep2, wake2 uint16, zone, flags uint8, now int64) {
		from := fuzzTime(now)
		p := fuzzPolicy(t, sleep, wake, days, depth, sleep2, wake2, zone, flags, from)
		ts := Preview(p, from, 12)
		if p.Validate() != nil {
			if ts != nil {
				t.Fatal("preview of an invalid policy")
			}
			return
		}
		prev := from
		for i, tr := range ts {
			if !tr.At.After(prev) {
				t.Fatalf("transition %d at %v is not after %v", i, tr.At, prev)
			}
			if i > 0 && tr.State == ts[i-1].State {
				t.Fatalf("transition %d repeats state %v", i, tr.State)
			}
			if i > 0 && ts[i-1].State != Awake && tr.State != Awake && tr.State < ts[i-1].State {
				t.Fatalf("transition %d makes the sleep shallower without waking", i)
			}
			// Decide, with nothing observed, agrees with the plan.
			if d, _ := Decide(p, Memory{}, Observations{Now: tr.At, ClockSynced: true}); d.State != tr.State {
				t.Fatalf("transition %d: Preview says %v at %v, Decide says %v (%s)", i, tr.State, tr.At, d.State, d.Reason)
			}
			prev = tr.At
		}
	})
}
