package sim

import (
	"errors"
	"sort"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Button is a momentary push button between a GPIO and ground, with a
// pull-up: it reads High at rest and Low while pressed, so a press is a
// falling edge and the release a rising one. Presses are scripted on the
// world's clock; WaitForEdge returns when the world's time reaches the next
// edge of the kind In asked for, and LastEdge tells the edge's exact world
// time.
//
// Button implements gpio.PinIO (Out and PWM fail: it is an input) so it can
// be wrapped by gpioutil.Debounce.
type Button struct {
	w     *World
	o     ButtonOpts
	edges []Edge // scripted, in time order
	next  int    // first edge WaitForEdge has not consumed
	pull  gpio.Pull
	edge  gpio.Edge
	stop  chan struct{} // closed by Halt and In to end a pending wait
	last  time.Time

	timerAt time.Time
	timer   <-chan time.Time
}

// Edge is a scripted change of the pin's level at a world time.
type Edge struct {
	At    time.Time
	Level gpio.Level
}

var _ gpio.PinIO = (*Button)(nil)

func newButton(w *World, o ButtonOpts) *Button {
	if o.Name == "" {
		o.Name = "GPIO17"
	}
	return &Button{w: w, o: o, pull: gpio.PullUp, stop: make(chan struct{})}
}

// Press scripts a press at at, held for d. If the button wakes the board
// (ButtonOpts.WakesBoard), pressing it while the board is halted boots it.
func (b *Button) Press(at time.Time, d time.Duration) {
	b.Script(Edge{At: at, Level: gpio.Low}, Edge{At: at.Add(d), Level: gpio.High})
}

// Script adds raw edges (contact bounce, a stuck button). Edges at or before
// the world's present when scripted are delivered at once.
func (b *Button) Script(edges ...Edge) {
	w := b.w
	w.lock()
	defer w.unlock()
	for _, e := range edges {
		b.edges = append(b.edges, e)
		if e.Level == gpio.Low && b.o.WakesBoard {
			w.schedule(e.At, func(t time.Time) {
				if w.board.state == BoardHalted {
					w.log.Info("sim: button press boots the board", "at", t)
					w.boot(t)
				}
			})
		}
	}
	consumed := b.edges[:b.next]
	rest := b.edges[b.next:]
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].At.Before(rest[j].At) })
	b.edges = append(consumed, rest...)
	w.wake()
}

// level is the pin's level at t.
func (b *Button) level(t time.Time) gpio.Level {
	l := gpio.High
	for _, e := range b.edges {
		if e.At.After(t) {
			break
		}
		l = e.Level
	}
	return l
}

// String returns the pin name.
func (b *Button) String() string { return b.o.Name }

// Name returns the pin name.
func (b *Button) Name() string { return b.o.Name }

// Number returns the GPIO number.
func (b *Button) Number() int { return b.o.Number }

// Function returns "In".
func (b *Button) Function() string { return "In" }

// Halt ends a pending WaitForEdge.
func (b *Button) Halt() error {
	b.w.lock()
	defer b.w.unlock()
	close(b.stop)
	b.stop = make(chan struct{})
	return nil
}

// In configures the pin as an input watching edge; edges already past are
// flushed, and a pending WaitForEdge returns false.
func (b *Button) In(pull gpio.Pull, edge gpio.Edge) error {
	w := b.w
	w.lock()
	defer w.unlock()
	if pull != gpio.PullNoChange {
		b.pull = pull
	}
	b.edge = edge
	for b.next < len(b.edges) && !b.edges[b.next].At.After(w.t) {
		b.next++
	}
	close(b.stop)
	b.stop = make(chan struct{})
	return nil
}

// Read returns the level at the world's present.
func (b *Button) Read() gpio.Level {
	b.w.lock()
	defer b.w.unlock()
	return b.level(b.w.t)
}

// LastEdge is the world time of the edge the last successful WaitForEdge
// returned for.
func (b *Button) LastEdge() time.Time {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	return b.last
}

// Pull returns the configured pull.
func (b *Button) Pull() gpio.Pull {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	return b.pull
}

// DefaultPull is PullUp.
func (b *Button) DefaultPull() gpio.Pull { return gpio.PullUp }

// Out fails: the button is an input.
func (b *Button) Out(gpio.Level) error { return errors.New("sim: " + b.o.Name + " is an input") }

// PWM fails: the button is an input.
func (b *Button) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("sim: " + b.o.Name + " is an input")
}

func (b *Button) wants(l gpio.Level) bool {
	switch b.edge {
	case gpio.BothEdges:
		return true
	case gpio.RisingEdge:
		return l == gpio.High
	case gpio.FallingEdge:
		return l == gpio.Low
	}
	return false
}

// WaitForEdge waits up to timeout of real time (-1: no limit) for the next
// edge of the configured kind, returning at once for one already past. The
// edge happens when the world's clock reaches it: a fake clock must be
// advanced (and the world's After option set, or Sync called), a fast clock
// gets there on its own.
func (b *Button) WaitForEdge(timeout time.Duration) bool {
	var deadline <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	w := b.w
	for {
		w.lock()
		if w.closed || b.edge == gpio.NoEdge {
			w.unlock()
			return false
		}
		for b.next < len(b.edges) && !b.edges[b.next].At.After(w.t) {
			e := b.edges[b.next]
			b.next++
			if b.wants(e.Level) {
				b.last = e.At
				w.unlock()
				return true
			}
		}
		var timer, poll <-chan time.Time
		if b.next < len(b.edges) {
			at := b.edges[b.next].At
			if w.after != nil {
				if !at.Equal(b.timerAt) || b.timer == nil {
					b.timerAt, b.timer = at, w.after(at.Sub(w.t))
				}
				timer = b.timer
			} else {
				poll = time.After(time.Millisecond)
			}
		}
		kick, stop := w.kick, b.stop
		w.unlock()
		select {
		case <-timer:
			w.mu.Lock()
			b.timer = nil
			w.mu.Unlock()
		case <-poll:
		case <-kick:
		case <-stop:
			return false
		case <-deadline:
			return false
		}
	}
}
