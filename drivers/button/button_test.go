package button

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// steppedPin is a gpiotest.Pin whose waits are decided by the test: each
// WaitForEdge announces its timeout and blocks until the test answers with
// an edge (sent through the gpiotest pin's EdgesChan) or a timeout. Run is
// then blocked whenever the test moves the fake time, so the test is
// deterministic and never sleeps.
type steppedPin struct {
	*gpiotest.Pin
	waits   chan time.Duration
	answers chan answer
}

type answer struct {
	edge  bool
	level gpio.Level
}

func newSteppedPin() *steppedPin {
	return &steppedPin{
		Pin: &gpiotest.Pin{
			N: "GPIO17", Num: 17,
			// Never advanced: the pin only ever waits for the edge the
			// test has already queued.
			Clock:     clockwork.NewFakeClock(),
			EdgesChan: make(chan gpio.Level, 1),
		},
		waits:   make(chan time.Duration),
		answers: make(chan answer),
	}
}

func (p *steppedPin) WaitForEdge(timeout time.Duration) bool {
	p.waits <- timeout
	a := <-p.answers
	if !a.edge {
		return false
	}
	p.EdgesChan <- a.level
	return p.Pin.WaitForEdge(time.Hour)
}

// fakeNow is a time source the test moves while Run is blocked.
type fakeNow struct{ ns atomic.Int64 }

func (f *fakeNow) Now() time.Time        { return time.Unix(0, f.ns.Load()) }
func (f *fakeNow) Set(t time.Time)       { f.ns.Store(t.UnixNano()) }
func (f *fakeNow) Add(d time.Duration)   { f.ns.Add(int64(d)) }
func (f *fakeNow) Since(t time.Time) int { return int(f.Now().Sub(t) / time.Millisecond) }

// runScript runs Dev.Run over steps and returns what it emitted and when,
// ending at end ms.
func runScript(t *testing.T, opts Opts, steps []step, end int) []emitted {
	t.Helper()
	pin := newSteppedPin()
	clk := &fakeNow{}
	clk.Set(t0)
	opts.Now = clk.Now
	d, err := New(pin, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := make(chan Press, 16)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, events) }()

	var got []emitted
	drain := func() {
		for {
			select {
			case p := <-events:
				got = append(got, emitted{p.Kind, int(p.At.Sub(t0) / time.Millisecond), int(p.Held / time.Millisecond), clk.Since(t0)})
			default:
				return
			}
		}
	}
	failsafe := time.NewTimer(10 * time.Second)
	defer failsafe.Stop()
	for {
		var wait time.Duration
		select {
		case wait = <-pin.waits:
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-failsafe.C:
			t.Fatal("Run never waited for an edge")
		}
		if wait <= 0 {
			t.Fatalf("WaitForEdge(%s): the timeout must be positive for gpioioctl", wait)
		}
		drain()
		if len(steps) > 0 && !t0.Add(ms(steps[0].at)).After(clk.Now().Add(wait)) {
			clk.Set(t0.Add(ms(steps[0].at)))
			pin.answers <- answer{edge: true, level: steps[0].level}
			steps = steps[1:]
			continue
		}
		if len(steps) == 0 && clk.Now().Add(wait).After(t0.Add(ms(end))) {
			cancel()
			pin.answers <- answer{}
			break
		}
		clk.Add(wait)
		pin.answers <- answer{}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	drain()
	return got
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []emitted
	}{
		{"bounce then short", []step{down(0), up(3), down(5), up(130), down(131), up(133)}, []emitted{{Short, 5, 128, 483}}},
		{"long at the threshold", []step{down(0), up(4000)}, []emitted{{Long, 0, 1000, 1000}}},
		{"double", []step{down(0), up(100), down(300), up(400)}, []emitted{{Double, 0, 100, 330}}},
		{"long then short", []step{down(0), up(1500), down(2000), up(2100)}, []emitted{{Long, 0, 1000, 1000}, {Short, 2000, 100, 2450}}},
		{"triple", []step{down(0), up(100), down(250), up(350), down(500), up(600)}, []emitted{{Double, 0, 100, 280}, {Short, 500, 100, 950}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runScript(t, Opts{}, tt.steps, 6000)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestNewConfiguresPin(t *testing.T) {
	for _, tt := range []struct {
		opts Opts
		pull gpio.Pull
	}{
		{Opts{}, gpio.PullUp},
		{Opts{ActiveHigh: true}, gpio.PullDown},
		{Opts{Pull: gpio.Float}, gpio.Float},
	} {
		p := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level)}
		d, err := New(p, &tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.P != tt.pull {
			t.Errorf("New(%+v) pull = %s, want %s", tt.opts, p.P, tt.pull)
		}
		if got := d.String(); got != "button(GPIO17(17))" {
			t.Errorf("String() = %q", got)
		}
	}
}

func TestNewPinError(t *testing.T) {
	// gpiotest refuses edge detection without an edge channel, as a line
	// owned by a kernel driver refuses the request.
	_, err := New(&gpiotest.Pin{N: "GPIO3", Num: 3}, nil)
	if err == nil || !strings.Contains(err.Error(), "button GPIO3(3): configure as input") {
		t.Fatalf("New on a pin without edge support: %v", err)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	pin := newSteppedPin()
	d, err := New(pin, &Opts{Now: (&fakeNow{}).Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, make(chan Press)) }()
	if w := <-pin.waits; w != maxWait {
		t.Errorf("idle wait %s, want %s", w, maxWait)
	}
	cancel()
	pin.answers <- answer{}
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

func TestRunStopsWhileEventsBlock(t *testing.T) {
	pin := newSteppedPin()
	clk := &fakeNow{}
	clk.Set(t0)
	d, err := New(pin, &Opts{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, make(chan Press)) }() // nobody reads
	<-pin.waits
	pin.answers <- answer{edge: true, level: gpio.Low}
	<-pin.waits // settling: waits the debounce
	clk.Add(time.Second)
	pin.answers <- answer{}
	// Run has a Long to send and nobody takes it: cancelling must end Run
	// there, not after another wait.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-pin.waits:
		t.Fatal("Run went on waiting for edges instead of delivering the press")
	}
}

func TestRunFailsWhenWaitReturnsAtOnce(t *testing.T) {
	// gpioioctl's WaitForEdge returns false at once, forever, on a line
	// without edge detection; time does not move between calls.
	pin := newSteppedPin()
	clk := &fakeNow{}
	clk.Set(t0)
	d, err := New(pin, &Opts{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(t.Context(), make(chan Press)) }()
	for i := 0; i < earlyWakeLimit; i++ {
		<-pin.waits
		pin.answers <- answer{}
	}
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "returned early") {
		t.Fatalf("Run over a pin that never waits: %v", err)
	}
}
