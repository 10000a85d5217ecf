package scheduler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules on every test machine
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at parses "2006-01-02 15:04" in loc; only for readings that are not ambiguous.
func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func utc(t testing.TB, s string) time.Time { t.Helper(); return at(t, time.UTC, s) }

func TestWallTimeDST(t *testing.T) {
	paris, ny := mustLoad(t, "Europe/Paris"), mustLoad(t, "America/New_York")
	lordHowe := mustLoad(t, "Australia/Lord_Howe") // a 30-minute change
	for _, tc := range []struct {
		name string
		loc  *time.Location
		date string
		tod  TimeOfDay
		want string // UTC
	}{
		{"paris ordinary", paris, "2026-12-01", TimeOfDay{23, 30}, "2026-12-01 22:30"},
		{"paris spring gap start", paris, "2026-03-29", TimeOfDay{2, 0}, "2026-03-29 01:00"},
		{"paris spring gap middle", paris, "2026-03-29", TimeOfDay{2, 30}, "2026-03-29 01:00"},
		{"paris spring after gap", paris, "2026-03-29", TimeOfDay{3, 0}, "2026-03-29 01:00"},
		{"paris spring before gap", paris, "2026-03-29", TimeOfDay{1, 59}, "2026-03-29 00:59"},
		{"paris fall first of twice", paris, "2026-10-25", TimeOfDay{2, 30}, "2026-10-25 00:30"},
		{"paris fall after", paris, "2026-10-25", TimeOfDay{3, 0}, "2026-10-25 02:00"},
		{"new york spring gap", ny, "2026-03-08", TimeOfDay{2, 30}, "2026-03-08 07:00"},
		{"new york fall first of twice", ny, "2026-11-01", TimeOfDay{1, 30}, "2026-11-01 05:30"},
		{"new york fall after", ny, "2026-11-01", TimeOfDay{2, 0}, "2026-11-01 07:00"},
		{"lord howe half-hour gap", lordHowe, "2026-10-04", TimeOfDay{2, 15}, "2026-10-03 15:30"},
		{"utc", time.UTC, "2026-06-01", TimeOfDay{0, 0}, "2026-06-01 00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDate(tc.date)
			if err != nil {
				t.Fatal(err)
			}
			got := wallTime(d, tc.tod, tc.loc)
			if want := utc(t, tc.want); !got.Equal(want) {
				t.Errorf("wallTime(%s %v) = %v, want %v", tc.date, tc.tod, got.UTC(), want)
			}
			if got.Location() != tc.loc {
				t.Errorf("location %v, want %v", got.Location(), tc.loc)
			}
		})
	}
}

func testPolicy(loc *time.Location, ws ...Window) *Policy {
	p := DefaultPolicy()
	p.Location = loc
	p.Windows = ws
	return &p
}

// previewLines renders transitions compactly: "2026-12-01 22:30Z system night".
func previewLines(ts []Transition) []string {
	var out []string
	for _, tr := range ts {
		out = append(out, tr.At.UTC().Format("2006-01-02 15:04Z")+" "+tr.State.String()+" "+tr.Window)
	}
	return out
}

func TestPreview(t *testing.T) {
	paris, ny := mustLoad(t, "Europe/Paris"), mustLoad(t, "America/New_York")
	night := Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted}
	xmas, _ := ParseDate("2026-12-24")
	for _, tc := range []struct {
		name string
		p    *Policy
		from time.Time
		n    int
		want []string // UTC
	}{
		{
			name: "midnight crossing every day",
			p:    testPolicy(paris, night),
			from: at(t, paris, "2026-12-01 12:00"), n: 4,
			want: []string{"2026-12-01 22:30Z system night", "2026-12-02 06:00Z awake night", "2026-12-02 22:30Z system night", "2026-12-03 06:00Z awake night"},
		},
		{
			name: "from inside a window",
			p:    testPolicy(paris, night),
			from: at(t, paris, "2026-12-02 03:00"), n: 2,
			want: []string{"2026-12-02 06:00Z awake night", "2026-12-02 22:30Z system night"},
		},
		{
			name: "weekdays only, window belongs to its start day",
			p: testPolicy(paris, Window{Name: "weeknight", Days: DaysOf(time.Friday, time.Saturday),
				Sleep: TimeOfDay{22, 0}, Wake: TimeOfDay{6, 0}, Depth: DisksAsleep}),
			from: at(t, paris, "2026-12-01 00:00"), n: 4, // a Tuesday
			want: []string{"2026-12-04 21:00Z disks weeknight", "2026-12-05 05:00Z awake weeknight", "2026-12-05 21:00Z disks weeknight", "2026-12-06 05:00Z awake weeknight"},
		},
		{
			name: "paris spring forward: wake in the gap moves to 03:00 CEST",
			p:    testPolicy(paris, Window{Name: "n", Sleep: TimeOfDay{22, 0}, Wake: TimeOfDay{2, 30}, Depth: SystemHalted}),
			from: at(t, paris, "2026-03-28 12:00"), n: 4,
			want: []string{"2026-03-28 21:00Z system n", "2026-03-29 01:00Z awake n", "2026-03-29 20:00Z system n", "2026-03-30 00:30Z awake n"},
		},
		{
			name: "paris spring forward: sleep in the gap moves to 03:00 CEST",
			p:    testPolicy(paris, Window{Name: "early", Sleep: TimeOfDay{2, 30}, Wake: TimeOfDay{6, 0}, Depth: DisksAsleep}),
			from: at(t, paris, "2026-03-28 12:00"), n: 4,
			want: []string{"2026-03-29 01:00Z disks early", "2026-03-29 04:00Z awake early", "2026-03-30 00:30Z disks early", "2026-03-30 04:00Z awake early"},
		},
		{
			name: "paris spring forward: a window wholly in the gap vanishes that day",
			p:    testPolicy(paris, Window{Name: "gap", Sleep: TimeOfDay{2, 10}, Wake: TimeOfDay{2, 50}, Depth: DisksAsleep}),
			from: at(t, paris, "2026-03-28 12:00"), n: 2,
			want: []string{"2026-03-30 00:10Z disks gap", "2026-03-30 00:50Z awake gap"},
		},
		{
			name: "paris fall back: a sleep at 02:30 happens once, at the first 02:30",
			p:    testPolicy(paris, Window{Name: "late", Sleep: TimeOfDay{2, 30}, Wake: TimeOfDay{6, 0}, Depth: DisksAsleep}),
			from: at(t, paris, "2026-10-24 12:00"), n: 4,
			want: []string{"2026-10-25 00:30Z disks late", "2026-10-25 05:00Z awake late", "2026-10-26 01:30Z disks late", "2026-10-26 05:00Z awake late"},
		},
		{
			name: "paris fall back: a night is an hour longer",
			p:    testPolicy(paris, night),
			from: at(t, paris, "2026-10-24 12:00"), n: 2,
			want: []string{"2026-10-24 21:30Z system night", "2026-10-25 06:00Z awake night"},
		},
		{
			name: "new york spring forward",
			p:    testPolicy(ny, Window{Name: "n", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{2, 30}, Depth: SystemHalted}),
			from: at(t, ny, "2026-03-07 12:00"), n: 4,
			want: []string{"2026-03-08 06:00Z system n", "2026-03-08 07:00Z awake n", "2026-03-09 05:00Z system n", "2026-03-09 06:30Z awake n"},
		},
		{
			name: "new york fall back: wake at the first 01:30",
			p:    testPolicy(ny, Window{Name: "n", Sleep: TimeOfDay{23, 0}, Wake: TimeOfDay{1, 30}, Depth: SystemHalted}),
			from: at(t, ny, "2026-10-31 12:00"), n: 4,
			want: []string{"2026-11-01 03:00Z system n", "2026-11-01 05:30Z awake n", "2026-11-02 04:00Z system n", "2026-11-02 06:30Z awake n"},
		},
		{
			name: "overlap: deepest wins, wake at the latest end",
			p: testPolicy(paris,
				Window{Name: "disks", Sleep: TimeOfDay{22, 0}, Wake: TimeOfDay{7, 0}, Depth: DisksAsleep},
				Window{Name: "halt", Sleep: TimeOfDay{23, 0}, Wake: TimeOfDay{6, 0}, Depth: SystemHalted}),
			from: at(t, paris, "2026-12-01 12:00"), n: 3,
			want: []string{"2026-12-01 21:00Z disks disks", "2026-12-01 22:00Z system halt", "2026-12-02 06:00Z awake disks"},
		},
		{
			name: "touching windows do not wake in between",
			p: testPolicy(paris,
				Window{Name: "evening", Sleep: TimeOfDay{20, 0}, Wake: TimeOfDay{23, 0}, Depth: DisksAsleep},
				Window{Name: "night", Sleep: TimeOfDay{23, 0}, Wake: TimeOfDay{6, 0}, Depth: SystemHalted}),
			from: at(t, paris, "2026-12-01 12:00"), n: 3,
			want: []string{"2026-12-01 19:00Z disks evening", "2026-12-01 22:00Z system night", "2026-12-02 05:00Z awake night"},
		},
		{
			name: "a shallower window inside a deeper one changes nothing",
			p: testPolicy(paris, night,
				Window{Name: "nap", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{8, 0}, Depth: DisksAsleep}),
			from: at(t, paris, "2026-12-01 12:00"), n: 2,
			want: []string{"2026-12-01 22:30Z system night", "2026-12-02 07:00Z awake nap"},
		},
		{
			name: "exception: stay awake on christmas eve",
			p: func() *Policy {
				p := testPolicy(paris, night)
				p.Exceptions = []Exception{{Name: "xmas", From: xmas, Awake: true}}
				return p
			}(),
			from: at(t, paris, "2026-12-23 12:00"), n: 4,
			want: []string{"2026-12-23 22:30Z system night", "2026-12-24 06:00Z awake night", "2026-12-25 22:30Z system night", "2026-12-26 06:00Z awake night"},
		},
		{
			name: "exception: replacement window over a date range",
			p: func() *Policy {
				p := testPolicy(paris, night)
				p.Exceptions = []Exception{{Name: "holidays", From: xmas, To: xmas.AddDays(1), Windows: []Window{
					{Name: "long", Sleep: TimeOfDay{1, 0}, Wake: TimeOfDay{10, 0}, Depth: DisksAsleep}}}}
				return p
			}(),
			// The night of the 23rd overlaps the replacement window of the
			// 24th: one sleep, halted, until 10:00.
			from: at(t, paris, "2026-12-24 08:00"), n: 5,
			want: []string{"2026-12-24 09:00Z awake long", "2026-12-25 00:00Z disks long", "2026-12-25 09:00Z awake long", "2026-12-26 22:30Z system night", "2026-12-27 06:00Z awake night"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			got := previewLines(Preview(tc.p, tc.from, tc.n))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Preview:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPreviewJSON(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	p := testPolicy(paris, Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted})
	ts := Preview(p, at(t, paris, "2026-12-01 12:00"), 2)
	var lines []string
	for _, tr := range ts {
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	want := `{"time":"2026-12-01T23:30:00+01:00","state":"system","window":"night","reason":"window night: system halt until Wed 07:00"}
{"time":"2026-12-02T07:00:00+01:00","state":"awake","window":"night","reason":"window night ends"}`
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("JSON lines:\n%s\nwant:\n%s", got, want)
	}
	var back Transition
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(ts[0].At) || back.State != ts[0].State || back.Window != "night" || back.Reason != ts[0].Reason {
		t.Errorf("round trip: %+v, want %+v", back, ts[0])
	}
	if err := json.Unmarshal([]byte(`{"time":"tonight","state":"system"}`), &back); err == nil {
		t.Error("a bad time was accepted")
	}
	if err := json.Unmarshal([]byte(`{"time":"2026-12-01T23:30:00+01:00","state":"coma"}`), &back); err == nil {
		t.Error("a bad state was accepted")
	}
}

func TestPreviewFarException(t *testing.T) {
	// A month awake: the next sleep is found past it.
	p := testPolicy(time.UTC, Window{Name: "night", Sleep: TimeOfDay{23, 0}, Wake: TimeOfDay{6, 0}, Depth: DisksAsleep})
	from, _ := ParseDate("2026-07-01")
	p.Exceptions = []Exception{{Name: "summer", From: from, To: from.AddDays(44), Awake: true}}
	got := Preview(p, utc(t, "2026-07-01 12:00"), 1)
	if len(got) != 1 || !got[0].At.Equal(utc(t, "2026-08-15 23:00")) {
		t.Errorf("Preview = %v, want the night of 2026-08-15", previewLines(got))
	}
	if got := Preview(testPolicy(time.UTC), utc(t, "2026-07-01 00:30"), 3); len(got) != 0 {
		t.Errorf("Preview without windows = %v", previewLines(got))
	}
}
