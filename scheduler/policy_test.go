package scheduler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseTimeOfDay(t *testing.T) {
	for in, want := range map[string]TimeOfDay{"23:30": {23, 30}, "00:00": {0, 0}, "7:05": {7, 5}, "23:59": {23, 59}} {
		got, err := ParseTimeOfDay(in)
		if err != nil || got != want {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"24:00", "12:60", "12", "12:5", "-1:30", "+1:30", "12:+5", "ab:cd", "", "12:30:00"} {
		if got, err := ParseTimeOfDay(in); err == nil {
			t.Errorf("ParseTimeOfDay(%q) = %v, want an error", in, got)
		}
	}
	var tod TimeOfDay
	if err := tod.UnmarshalText([]byte("06:45")); err != nil || tod.String() != "06:45" {
		t.Errorf("UnmarshalText: %v %v", tod, err)
	}
}

func TestParseWeekdays(t *testing.T) {
	for in, want := range map[string]Weekdays{
		"mon-fri":   DaysOf(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday),
		"Sat,Sun":   DaysOf(time.Saturday, time.Sunday),
		"fri-mon":   DaysOf(time.Friday, time.Saturday, time.Sunday, time.Monday),
		"wednesday": DaysOf(time.Wednesday),
		"every day": EveryDay,
		"sun":       DaysOf(time.Sunday),
	} {
		got, err := ParseWeekdays(in)
		if err != nil || got != want {
			t.Errorf("ParseWeekdays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mon-", "funday", "mon,,tue"} {
		if _, err := ParseWeekdays(in); err == nil {
			t.Errorf("ParseWeekdays(%q) accepted", in)
		}
	}
	if s := DaysOf(time.Sunday, time.Monday, time.Saturday).String(); s != "mon,sat,sun" {
		t.Errorf("String = %q", s)
	}
	var none Weekdays
	if !none.Has(time.Tuesday) || none.String() != "every day" {
		t.Error("the empty set is not every day")
	}
	if DaysOf(time.Monday).Has(time.Tuesday) {
		t.Error("monday set has tuesday")
	}
}

func TestDepthText(t *testing.T) {
	for _, d := range []Depth{Awake, DisksAsleep, SystemHalted} {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Depth
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Errorf("%v: round trip gave %v, %v", d, back, err)
		}
	}
	if _, err := Depth(7).MarshalText(); err == nil {
		t.Error("marshalled an unknown depth")
	}
	if Depth(7).String() != "Depth(7)" {
		t.Error(Depth(7).String())
	}
	if _, err := ParseDepth("hibernate"); err == nil {
		t.Error("parsed hibernate")
	}
}

func TestDate(t *testing.T) {
	d, err := ParseDate("2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if n := d.AddDays(1); n.String() != "2027-01-01" || n.Weekday() != time.Friday || !d.Before(n) {
		t.Errorf("AddDays: %v %v", n, n.Weekday())
	}
	if _, err := ParseDate("2026-02-30"); err == nil {
		t.Error("parsed February 30")
	}
	b, _ := json.Marshal(struct{ D Date }{d})
	if string(b) != `{"D":"2026-12-31"}` {
		t.Errorf("JSON %s", b)
	}
}

func TestValidate(t *testing.T) {
	night := Window{Name: "night", Sleep: TimeOfDay{23, 0}, Wake: TimeOfDay{6, 0}, Depth: SystemHalted}
	d := func(s string) Date { v, _ := ParseDate(s); return v }
	for _, tc := range []struct {
		name string
		edit func(p *Policy)
		want string // "" = valid
	}{
		{"default with a window", func(p *Policy) {}, ""},
		{"no zone", func(p *Policy) { p.Location = nil }, "no time zone"},
		{"sleep equals wake", func(p *Policy) { p.Windows[0].Wake = p.Windows[0].Sleep }, `window "night": sleep and wake are both 23:00`},
		{"bad time", func(p *Policy) { p.Windows[0].Wake = TimeOfDay{25, 0} }, "wake 25:00 is not a time of day"},
		{"awake depth", func(p *Policy) { p.Windows[0].Depth = Awake }, "depth must be disks or system, not awake"},
		{"no name", func(p *Policy) { p.Windows[0].Name = "" }, "window 1 has no name"},
		{"duplicate name", func(p *Policy) { p.Windows = append(p.Windows, p.Windows[0]) }, `window name "night" is used twice`},
		{"retry", func(p *Policy) { p.RetryEvery = 0 }, "retry interval 0s must be positive"},
		{"give up", func(p *Policy) { p.GiveUpAfter = -time.Minute }, "give-up delay -1m0s must be positive"},
		{"min awake", func(p *Policy) { p.MinAwake = -time.Minute }, "min awake -1m0s is negative"},
		{"timers", func(p *Policy) { p.WakeBeforeTimers = -time.Minute }, "wake-before-timers -1m0s is negative"},
		{"jump", func(p *Policy) { p.ClockJump = 0 }, "clock jump threshold 0s must be positive"},
		{"exception neither", func(p *Policy) { p.Exceptions = []Exception{{Name: "x", From: d("2026-12-24")}} }, `exception "x": must either keep the server awake or give replacement windows`},
		{"exception both", func(p *Policy) {
			p.Exceptions = []Exception{{Name: "x", From: d("2026-12-24"), Awake: true, Windows: []Window{night}}}
		}, "not both or neither"},
		{"exception backwards", func(p *Policy) {
			p.Exceptions = []Exception{{Name: "x", From: d("2026-12-24"), To: d("2026-12-20"), Awake: true}}
		}, "ends on 2026-12-20 before it starts on 2026-12-24"},
		{"exception bad date", func(p *Policy) { p.Exceptions = []Exception{{Name: "x", From: Date{2026, 2, 30}, Awake: true}} }, "from 2026-02-30 is not a date"},
		{"exceptions overlap", func(p *Policy) {
			p.Exceptions = []Exception{{Name: "a", From: d("2026-12-20"), To: d("2026-12-31"), Awake: true}, {Name: "b", From: d("2026-12-24"), Awake: true}}
		}, `exception "b" overlaps exception 1`},
		{"exception window invalid", func(p *Policy) {
			p.Exceptions = []Exception{{Name: "x", From: d("2026-12-24"), Windows: []Window{{Name: "w", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{1, 0}, Depth: DisksAsleep}}}}
		}, `window "w": sleep and wake are both 01:00`},
		{"windows chain forever", func(p *Policy) {
			p.Windows = []Window{night, {Name: "day", Sleep: TimeOfDay{5, 0}, Wake: TimeOfDay{23, 30}, Depth: DisksAsleep}}
		}, "windows leave no time awake"},
		{"exception windows chain for two weeks", func(p *Policy) {
			p.Exceptions = []Exception{{Name: "away", From: d("2026-08-01"), To: d("2026-08-14"), Windows: []Window{
				{Name: "a", Sleep: TimeOfDay{0, 0}, Wake: TimeOfDay{13, 0}, Depth: SystemHalted},
				{Name: "b", Sleep: TimeOfDay{12, 0}, Wake: TimeOfDay{1, 0}, Depth: SystemHalted}}}}
		}, "windows leave no time awake"},
		{"a long weekend is fine", func(p *Policy) {
			// Friday 18:00 to Monday 17:00 as one sleep.
			p.Windows = []Window{
				{Name: "weekend", Days: DaysOf(time.Friday, time.Saturday, time.Sunday), Sleep: TimeOfDay{18, 0}, Wake: TimeOfDay{17, 0}, Depth: SystemHalted},
				{Name: "bridge", Days: DaysOf(time.Saturday, time.Sunday), Sleep: TimeOfDay{16, 0}, Wake: TimeOfDay{19, 0}, Depth: SystemHalted},
			}
			got := previewLines(Preview(p, utc(t, "2026-12-01 00:00"), 2))
			if want := "2026-12-04 18:00Z system weekend,2026-12-07 17:00Z awake weekend"; strings.Join(got, ",") != want {
				t.Errorf("Preview = %v, want %s", got, want)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(time.UTC, night)
			tc.edit(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate: %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}
