package button

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Kind is what a press was.
type Kind uint8

// Press kinds.
const (
	Short Kind = iota + 1
	Long
	Double
)

func (k Kind) String() string {
	switch k {
	case Short:
		return "short"
	case Long:
		return "long"
	case Double:
		return "double"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Press is one classified gesture.
type Press struct {
	Kind Kind
	// At is when the (first) press of the gesture began.
	At time.Time
	// Held is how long the button was held: for Short the whole press, for
	// Long the threshold (the button is still down when Long is reported), for
	// Double the first press.
	Held time.Duration
}

func (p Press) String() string {
	return fmt.Sprintf("%s press at %s (held %s)", p.Kind, p.At.Format(time.RFC3339Nano), p.Held)
}

// Opts configures the classifier and the pin. Zero fields take the value in
// DefaultOpts.
type Opts struct {
	// Debounce is how long the line must keep a new level before it counts.
	Debounce time.Duration
	// LongPress is how long a press must be held to be Long.
	LongPress time.Duration
	// DoubleGap is the longest release between two presses of a Double. A
	// negative value disables Double and reports Short at release.
	DoubleGap time.Duration
	// ActiveHigh says the line reads High while the button is pressed. The
	// default is active low: a button to ground with a pull-up.
	ActiveHigh bool
	// Pull is the bias New requests on the line. The zero value,
	// gpio.PullNoChange, means a pull towards the released level (up for
	// active low). Use gpio.Float with an external resistor; on gpioioctl it
	// leaves the bias as the kernel has it.
	Pull gpio.Pull
	// Now is Dev's time source; nil means time.Now.
	Now func() time.Time
}

// DefaultOpts are sensible for a hand-pressed tactile switch.
var DefaultOpts = Opts{
	Debounce:  30 * time.Millisecond,
	LongPress: time.Second,
	DoubleGap: 350 * time.Millisecond,
}

// resolve fills zero fields from DefaultOpts and checks the result.
func (o *Opts) resolve() (Opts, error) {
	r := DefaultOpts
	if o != nil {
		r.ActiveHigh = o.ActiveHigh
		r.Pull = o.Pull
		r.Now = o.Now
		if o.Debounce != 0 {
			r.Debounce = o.Debounce
		}
		if o.LongPress != 0 {
			r.LongPress = o.LongPress
		}
		if o.DoubleGap != 0 {
			r.DoubleGap = o.DoubleGap
		}
	}
	switch {
	case r.Debounce < 0:
		return r, fmt.Errorf("button: debounce %s is negative", r.Debounce)
	case r.LongPress <= r.Debounce:
		return r, fmt.Errorf("button: long press %s must be longer than debounce %s", r.LongPress, r.Debounce)
	}
	if r.Pull == gpio.PullNoChange {
		r.Pull = gpio.PullUp
		if r.ActiveHigh {
			r.Pull = gpio.PullDown
		}
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r, nil
}

// state of the gesture being classified.
type state uint8

const (
	idle      state = iota // released, no gesture in progress
	firstDown              // first press held, not yet long
	firstUp                // first press released, waiting DoubleGap for a second one
	heldDown               // pressed and already accounted for (long, double, or down at start)
)

// Classifier is the pure press state machine. Feed it every level the line
// takes with Edge, and call Advance when the time returned by Deadline has
// come, so Long and Short are reported on time without an edge. Times must
// not go backwards; an earlier time is taken as the latest one seen.
//
// A Classifier is not safe for concurrent use.
type Classifier struct {
	debounce, long, gap time.Duration
	pressedLevel        gpio.Level

	raw    bool      // pressed, as last read
	rawAt  time.Time // when raw last changed
	stable bool      // pressed, debounced
	st     state
	downAt time.Time     // start of the gesture's first press
	upAt   time.Time     // end of the first press
	held   time.Duration // length of the first press
	last   time.Time
	out    []Press
}

// NewClassifier starts a classifier with the line at level at time now.
func NewClassifier(opts *Opts, level gpio.Level, now time.Time) (*Classifier, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	c := &Classifier{
		debounce:     o.Debounce,
		long:         o.LongPress,
		gap:          o.DoubleGap,
		pressedLevel: gpio.Low,
		rawAt:        now,
		last:         now,
	}
	if o.ActiveHigh {
		c.pressedLevel = gpio.High
	}
	c.raw = level == c.pressedLevel
	c.stable = c.raw
	if c.stable {
		c.st = heldDown
	}
	return c, nil
}

// Edge records that the line was at level at time at, and returns the
// presses completed up to then. A level equal to the previous one is not a
// change (a bounce whose intermediate level was missed).
func (c *Classifier) Edge(level gpio.Level, at time.Time) []Press {
	at = c.clamp(at)
	c.advance(at)
	if p := level == c.pressedLevel; p != c.raw {
		c.raw = p
		c.rawAt = at
	}
	// A zero debounce commits now, and a bounce back may release a timer
	// that was waiting for the level to settle.
	c.advance(at)
	return c.take()
}

// Advance moves the classifier's time to now and returns the presses
// completed up to then.
func (c *Classifier) Advance(now time.Time) []Press {
	c.advance(c.clamp(now))
	return c.take()
}

// Deadline returns when Advance must next be called, if anything is due
// without a further edge.
func (c *Classifier) Deadline() (time.Time, bool) {
	if c.raw != c.stable {
		return c.rawAt.Add(c.debounce), true
	}
	return c.timer()
}

// Pressed reports the debounced state of the button.
func (c *Classifier) Pressed() bool { return c.stable }

func (c *Classifier) clamp(t time.Time) time.Time {
	if t.Before(c.last) {
		return c.last
	}
	c.last = t
	return t
}

func (c *Classifier) take() []Press {
	out := c.out
	c.out = nil
	return out
}

// timer is the gesture deadline of the current state.
func (c *Classifier) timer() (time.Time, bool) {
	switch c.st {
	case firstDown:
		return c.downAt.Add(c.long), true
	case firstUp:
		return c.upAt.Add(c.gap), true
	}
	return time.Time{}, false
}

// advance processes, in time order, everything due at or before now. While
// a change of level is settling, gesture timers wait for it: a release that
// started before the long threshold settles first (and the press is short),
// a bounce back lets the timer fire.
func (c *Classifier) advance(now time.Time) {
	for {
		if c.raw != c.stable {
			if c.rawAt.Add(c.debounce).After(now) {
				return
			}
			c.commit()
			continue
		}
		t, ok := c.timer()
		if !ok || t.After(now) {
			return
		}
		c.fire()
	}
}

// commit makes the settled raw level the debounced one. The transition
// happened at rawAt.
func (c *Classifier) commit() {
	c.stable = c.raw
	at := c.rawAt
	if c.stable {
		switch c.st {
		case idle:
			c.st, c.downAt = firstDown, at
		case firstUp:
			if at.Sub(c.upAt) < c.gap {
				c.emit(Double, c.held)
				c.st = heldDown
				return
			}
			// The gap timer was waiting for this press to settle, and it
			// started too late: the first press was short, this one is new.
			c.emit(Short, c.held)
			c.st, c.downAt = firstDown, at
		}
		return
	}
	switch c.st {
	case firstDown:
		c.held = at.Sub(c.downAt)
		switch {
		case c.held >= c.long:
			c.emit(Long, c.long)
			c.st = idle
		case c.gap < 0:
			c.emit(Short, c.held)
			c.st = idle
		default:
			c.st, c.upAt = firstUp, at
		}
	case heldDown:
		c.st = idle
	}
}

// fire handles the current state's timer.
func (c *Classifier) fire() {
	switch c.st {
	case firstDown:
		c.emit(Long, c.long)
		c.st = heldDown
	case firstUp:
		c.emit(Short, c.held)
		c.st = idle
	}
}

func (c *Classifier) emit(k Kind, held time.Duration) {
	c.out = append(c.out, Press{Kind: k, At: c.downAt, Held: held})
}
