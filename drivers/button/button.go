package button

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
)

// maxWait bounds one WaitForEdge, so Run notices a cancelled context even on
// a pin whose Halt does not interrupt the wait (gpiotest's).
const maxWait = 500 * time.Millisecond

// earlyWakeLimit is how many WaitForEdge calls in a row may return false
// before their timeout before Run gives up: gpioioctl does that at once,
// forever, when the line is not requested with edge detection, and Run
// would spin.
const earlyWakeLimit = 16

// Dev is a button on a GPIO input line.
type Dev struct {
	pin  gpio.PinIn
	opts Opts
}

var _ conn.Resource = (*Dev)(nil)

// New configures pin as an input with the bias from opts and edge detection
// on both edges. opts may be nil for DefaultOpts.
func New(pin gpio.PinIn, opts *Opts) (*Dev, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if err := pin.In(o.Pull, gpio.BothEdges); err != nil {
		// EBUSY here usually means a kernel driver (a gpio-key or
		// gpio-shutdown overlay) owns the line.
		return nil, fmt.Errorf("button %s: configure as input with %s and both edges: %w", pin, o.Pull, err)
	}
	return &Dev{pin: pin, opts: o}, nil
}

// String implements conn.Resource.
func (d *Dev) String() string { return "button(" + d.pin.String() + ")" }

// Halt implements conn.Resource: it interrupts a pending wait for an edge.
func (d *Dev) Halt() error { return d.pin.Halt() }

// Run classifies the pin's edges and sends presses to events until ctx is
// done, then returns nil. It blocks on events when nobody reads them.
func (d *Dev) Run(ctx context.Context, events chan<- Press) error {
	// gpioioctl's Halt ends a pending WaitForEdge at once.
	stop := context.AfterFunc(ctx, func() { _ = d.pin.Halt() })
	defer stop()

	now := d.opts.Now
	c, err := NewClassifier(&d.opts, d.pin.Read(), now())
	if err != nil {
		return err
	}
	early := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		start := now()
		wait := maxWait
		var presses []Press
		if dl, ok := c.Deadline(); ok && dl.Sub(start) < wait {
			wait = dl.Sub(start)
		}
		switch {
		case wait <= 0:
			presses = c.Advance(start)
		case d.pin.WaitForEdge(wait):
			early = 0
			presses = c.Edge(d.pin.Read(), now())
		default:
			t := now()
			if t.Sub(start) < wait && ctx.Err() == nil {
				if early++; early >= earlyWakeLimit {
					return fmt.Errorf("button %s: WaitForEdge(%s) returned early %d times in a row without an edge; is the line still requested with edge detection?", d.pin, wait, early)
				}
			} else {
				early = 0
			}
			presses = c.Advance(t)
		}
		for _, p := range presses {
			select {
			case events <- p:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
