package button

import (
	"fmt"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

var t0 = time.Date(2026, 3, 29, 1, 59, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// step is a level the line takes at a time (ms from t0).
type step struct {
	at    int
	level gpio.Level
}

// down and up are the levels of an active-low button.
func down(at int) step { return step{at, gpio.Low} }
func up(at int) step   { return step{at, gpio.High} }

// emitted is a press and when the classifier handed it out (ms from t0).
type emitted struct {
	kind     Kind
	at, held int
	when     int
}

func (e emitted) String() string {
	return fmt.Sprintf("%s{at %d held %d}@%d", e.kind, e.at, e.held, e.when)
}

// simulate drives c the way Run does: Advance at every deadline before the
// next edge, Edge at each step, then deadlines up to end.
func simulate(t *testing.T, c *Classifier, steps []step, end int) []emitted {
	t.Helper()
	var got []emitted
	record := func(ps []Press, when time.Time) {
		for _, p := range ps {
			got = append(got, emitted{p.Kind, int(p.At.Sub(t0) / time.Millisecond), int(p.Held / time.Millisecond), int(when.Sub(t0) / time.Millisecond)})
		}
	}
	until := func(limit time.Time) {
		for i := 0; ; i++ {
			if i > 100 {
				t.Fatalf("classifier keeps asking for Advance at %v", limit)
			}
			dl, ok := c.Deadline()
			if !ok || dl.After(limit) {
				return
			}
			record(c.Advance(dl), dl)
		}
	}
	for _, s := range steps {
		at := t0.Add(ms(s.at))
		until(at)
		record(c.Edge(s.level, at), at)
	}
	until(t0.Add(ms(end)))
	return got
}

func TestClassifier(t *testing.T) {
	// Defaults: debounce 30 ms, long 1000 ms, gap 350 ms.
	tests := []struct {
		name string
		opts Opts
		// heldAtStart starts the classifier with the button pressed.
		heldAtStart bool
		steps       []step
		want        []emitted
	}{
		{
			name:  "short",
			steps: []step{down(0), up(120)},
			want:  []emitted{{Short, 0, 120, 470}},
		},
		{
			name: "short with bouncing contacts",
			// The press settles at 8; the release bounces back at 151 and
			// settles at 153.
			steps: []step{down(0), up(2), down(4), up(6), down(8), up(150), down(151), up(153)},
			want:  []emitted{{Short, 8, 145, 503}},
		},
		{
			name:  "glitch shorter than debounce",
			steps: []step{down(0), up(10), down(500), up(529)},
			want:  nil,
		},
		{
			name: "long is reported at the threshold, not at release",
			// Nothing more at release, nor after the gap.
			steps: []step{down(0), up(2500)},
			want:  []emitted{{Long, 0, 1000, 1000}},
		},
		{
			name:  "double is reported at the second press",
			steps: []step{down(0), up(100), down(300), up(400)},
			want:  []emitted{{Double, 0, 100, 330}},
		},
		{
			name:  "long then short",
			steps: []step{down(0), up(1500), down(2000), up(2100)},
			want:  []emitted{{Long, 0, 1000, 1000}, {Short, 2000, 100, 2450}},
		},
		{
			name:  "triple is a double then a short",
			steps: []step{down(0), up(100), down(250), up(350), down(500), up(600)},
			want:  []emitted{{Double, 0, 100, 280}, {Short, 500, 100, 950}},
		},
		{
			name:  "quadruple is two doubles",
			steps: []step{down(0), up(100), down(250), up(350), down(500), up(600), down(700), up(800)},
			want:  []emitted{{Double, 0, 100, 280}, {Double, 500, 100, 730}},
		},
		{
			name:  "second press exactly at the gap starts a new gesture",
			steps: []step{down(0), up(100), down(450), up(550)},
			want:  []emitted{{Short, 0, 100, 450}, {Short, 450, 100, 900}},
		},
		{
			name: "second press settling across the gap timer is a double",
			// Gap timer at 450 waits for the press that started at 440.
			steps: []step{down(0), up(100), down(440), up(600)},
			want:  []emitted{{Double, 0, 100, 470}},
		},
		{
			name: "release settling across the long threshold is short",
			// Long timer at 1000 waits for the release that started at 990.
			steps: []step{down(0), up(990)},
			want:  []emitted{{Short, 0, 990, 1340}},
		},
		{
			name: "release that bounces back across the threshold is long",
			// The timer waited for the release at 990 to settle; the bounce
			// back at 1005 lets it fire.
			steps: []step{down(0), up(990), down(1005), up(2000)},
			want:  []emitted{{Long, 0, 1000, 1005}},
		},
		{
			name:  "release exactly at the threshold is long",
			steps: []step{down(0), up(1000)},
			want:  []emitted{{Long, 0, 1000, 1000}},
		},
		{
			name:        "held at start is ignored until released",
			heldAtStart: true,
			steps:       []step{up(3000), down(4000), up(4100)},
			want:        []emitted{{Short, 4000, 100, 4450}},
		},
		{
			name:        "held at start does not become long",
			heldAtStart: true,
			steps:       []step{up(5000)},
			want:        nil,
		},
		{
			name:  "repeated level is not an edge",
			steps: []step{down(0), down(50), up(120), up(130), up(200)},
			want:  []emitted{{Short, 0, 120, 470}},
		},
		{
			name:  "double with a long second press stays a double",
			steps: []step{down(0), up(100), down(300), up(3000)},
			want:  []emitted{{Double, 0, 100, 330}},
		},
		{
			name:  "active high",
			opts:  Opts{ActiveHigh: true},
			steps: []step{{0, gpio.High}, {120, gpio.Low}, {1000, gpio.High}, {2500, gpio.Low}},
			want:  []emitted{{Short, 0, 120, 470}, {Long, 1000, 1000, 2000}},
		},
		{
			name:  "negative gap disables double",
			opts:  Opts{DoubleGap: -1},
			steps: []step{down(0), up(100), down(200), up(300)},
			want:  []emitted{{Short, 0, 100, 130}, {Short, 200, 100, 330}},
		},
		{
			name:  "custom timings",
			opts:  Opts{Debounce: 5 * time.Millisecond, LongPress: 400 * time.Millisecond, DoubleGap: 100 * time.Millisecond},
			steps: []step{down(0), up(50), down(160), up(210), down(500), up(1000)},
			want:  []emitted{{Short, 0, 50, 150}, {Short, 160, 50, 310}, {Long, 500, 400, 900}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := gpio.Level(!tt.opts.ActiveHigh) // released
			if tt.heldAtStart {
				start = !start
			}
			c, err := NewClassifier(&tt.opts, start, t0)
			if err != nil {
				t.Fatal(err)
			}
			got := simulate(t, c, tt.steps, 10000)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
			if c.Pressed() != (tt.steps[len(tt.steps)-1].level == c.pressedLevel) {
				t.Errorf("Pressed() = %t after the last step", c.Pressed())
			}
		})
	}
}

// Edges and advances may be late (a busy loop, a slow reader): the presses
// and their times must not depend on when the classifier is asked.
func TestClassifierLateProcessing(t *testing.T) {
	c, err := NewClassifier(nil, gpio.High, t0)
	if err != nil {
		t.Fatal(err)
	}
	var got []Press
	got = append(got, c.Edge(gpio.Low, t0)...)
	got = append(got, c.Edge(gpio.High, t0.Add(ms(100)))...)
	// The gap passed long ago; the next press comes much later.
	got = append(got, c.Edge(gpio.Low, t0.Add(ms(5000)))...)
	got = append(got, c.Advance(t0.Add(ms(9000)))...)
	want := []Press{
		{Kind: Short, At: t0, Held: ms(100)},
		{Kind: Long, At: t0.Add(ms(5000)), Held: time.Second},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestClassifierTimeGoingBackwards(t *testing.T) {
	c, err := NewClassifier(nil, gpio.High, t0)
	if err != nil {
		t.Fatal(err)
	}
	c.Edge(gpio.Low, t0.Add(ms(100)))
	// A release stamped before the press is taken as happening at 100 ms:
	// a zero-length press, shorter than the debounce, so nothing.
	c.Edge(gpio.High, t0.Add(ms(50)))
	if ps := c.Advance(t0.Add(ms(5000))); len(ps) != 0 {
		t.Errorf("got %v, want nothing", ps)
	}
}

func TestClassifierDeadline(t *testing.T) {
	c, err := NewClassifier(nil, gpio.High, t0)
	if err != nil {
		t.Fatal(err)
	}
	if dl, ok := c.Deadline(); ok {
		t.Fatalf("idle classifier has deadline %v", dl)
	}
	c.Edge(gpio.Low, t0)
	if dl, ok := c.Deadline(); !ok || !dl.Equal(t0.Add(ms(30))) {
		t.Fatalf("settling press: deadline %v %t, want debounce end", dl, ok)
	}
	c.Advance(t0.Add(ms(30)))
	if dl, ok := c.Deadline(); !ok || !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("held press: deadline %v %t, want long threshold", dl, ok)
	}
}

func TestOptsValidation(t *testing.T) {
	bad := []Opts{
		{Debounce: -time.Millisecond},
		{Debounce: time.Second, LongPress: time.Second},
		{LongPress: -time.Second},
	}
	for _, o := range bad {
		if _, err := NewClassifier(&o, gpio.High, t0); err == nil {
			t.Errorf("NewClassifier(%+v) accepted bad options", o)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Short: "short", Long: "long", Double: "double", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}
