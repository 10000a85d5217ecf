package sim

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Device is a chip on an emulated I²C bus.
type Device interface {
	// Transfer runs one combined transaction addressed to the chip at time
	// now: the bytes of w are written, then len(r) bytes are read (repeated
	// START), as the Linux I2C_RDWR ioctl does.
	Transfer(now time.Time, w, r []byte) error
}

// PowerCycler is implemented by chips that return to their power-on state
// when their supply comes back (a sensor re-plugged, the board booting).
type PowerCycler interface {
	PowerOn(now time.Time)
}

// Fault is an injected failure of one device on a Bus.
type Fault int

const (
	// FaultNone: the device answers normally.
	FaultNone Fault = iota
	// FaultNACK: the device is there but does not acknowledge (a bus
	// glitch, a chip in a bad state). Its registers are kept.
	FaultNACK
	// FaultGarbage: the device acknowledges, writes reach it, but reads
	// return noise (a loose wire, a marginal pull-up).
	FaultGarbage
	// FaultGone: the device is unplugged. Clearing this fault plugs it back
	// in, which power-cycles it: its registers return to power-on values.
	FaultGone
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultNACK:
		return "nack"
	case FaultGarbage:
		return "garbage"
	case FaultGone:
		return "gone"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// NACKError is what a transfer to an address nobody acknowledges returns. The
// Pi's I²C controllers (i2c-bcm2835, i2c-designware) fail the I2C_RDWR ioctl
// with EREMOTEIO then, so the error unwraps to that errno.
type NACKError struct {
	Bus  string
	Addr uint16
}

func (e *NACKError) Error() string {
	return fmt.Sprintf("%s: address 0x%02x not acknowledged: %v", e.Bus, e.Addr, errRemoteIO)
}

// Unwrap returns the errno the kernel reports.
func (e *NACKError) Unwrap() error { return errRemoteIO }

// Bus is an emulated I²C bus: it implements periph's i2c.BusCloser and routes
// each Tx to the chip emulator at that address.
//
// A Bus made by NewBus stands alone (chips on Traces, for chip tests); the
// World's bus advances the world to the present before every transfer.
type Bus struct {
	name string

	// acquire locks the bus (on a World's bus, the whole world, brought to
	// the present) and returns the present time, or an error if the bus
	// cannot run (the board is halted); release always follows it.
	acquire func() (time.Time, error)
	release func()
	// powered reports whether the chip at addr has its supply (a sensor fed
	// from the Pi's 3.3 V is off while the board is halted).
	powered func(addr uint16) bool

	devs   map[uint16]*slot
	speed  physic.Frequency
	closed bool
}

type slot struct {
	dev      Device
	fault    Fault
	nackNext int
	noise    uint64
}

var _ i2c.BusCloser = (*Bus)(nil)

// NewBus returns a standalone bus named name whose chips see the time now
// returns.
func NewBus(name string, now func() time.Time) *Bus {
	var mu sync.Mutex
	return &Bus{
		name:    name,
		devs:    map[uint16]*slot{},
		speed:   100 * physic.KiloHertz,
		acquire: func() (time.Time, error) { mu.Lock(); return now(), nil },
		release: mu.Unlock,
	}
}

// Attach puts d on the bus at the 7-bit address addr. A chip that is a
// PowerCycler is powered on now: its conversions start at this instant.
func (b *Bus) Attach(addr uint16, d Device) error {
	now, err := b.acquire()
	defer b.release()
	if err != nil {
		return fmt.Errorf("%s: attach at 0x%02x: %w", b.name, addr, err)
	}
	return b.attachLocked(now, addr, d)
}

func (b *Bus) attachLocked(now time.Time, addr uint16, d Device) error {
	if addr > 0x7f {
		return fmt.Errorf("%s: attach at 0x%02x: not a 7-bit address", b.name, addr)
	}
	if _, ok := b.devs[addr]; ok {
		return fmt.Errorf("%s: attach at 0x%02x: address already in use", b.name, addr)
	}
	b.devs[addr] = &slot{dev: d, noise: uint64(addr)*0x9e3779b97f4a7c15 + 1}
	if pc, ok := d.(PowerCycler); ok {
		pc.PowerOn(now)
	}
	return nil
}

// Device returns the chip at addr, or nil.
func (b *Bus) Device(addr uint16) Device {
	_, _ = b.acquire()
	defer b.release()
	if s, ok := b.devs[addr]; ok {
		return s.dev
	}
	return nil
}

// Addrs lists the occupied addresses in increasing order.
func (b *Bus) Addrs() []uint16 {
	_, _ = b.acquire()
	defer b.release()
	var out []uint16
	for a := range b.devs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// SetFault injects f on the device at addr (FaultNone clears it). Going from
// FaultGone to anything else plugs the chip back in and power-cycles it.
func (b *Bus) SetFault(addr uint16, f Fault) error {
	now, _ := b.acquire()
	defer b.release()
	s, ok := b.devs[addr]
	if !ok {
		return fmt.Errorf("%s: fault at 0x%02x: no device there", b.name, addr)
	}
	if s.fault == FaultGone && f != FaultGone {
		if pc, ok := s.dev.(PowerCycler); ok {
			pc.PowerOn(now)
		}
	}
	s.fault = f
	return nil
}

// NACKNext makes the next n transfers to addr fail with a NACK, then the
// device answers again with its registers intact (a transient glitch).
func (b *Bus) NACKNext(addr uint16, n int) error {
	_, _ = b.acquire()
	defer b.release()
	s, ok := b.devs[addr]
	if !ok {
		return fmt.Errorf("%s: nack at 0x%02x: no device there", b.name, addr)
	}
	s.nackNext = n
	return nil
}

// String returns the bus name, e.g. "I2C1".
func (b *Bus) String() string { return b.name }

// SetSpeed records the bus clock; the emulation does not depend on it.
func (b *Bus) SetSpeed(f physic.Frequency) error {
	if f < 10*physic.KiloHertz || f > 3400*physic.KiloHertz {
		return fmt.Errorf("%s: set speed %s: outside 10kHz..3.4MHz", b.name, f)
	}
	_, _ = b.acquire()
	defer b.release()
	b.speed = f
	return nil
}

// Close closes the bus; later transfers fail.
func (b *Bus) Close() error {
	_, _ = b.acquire()
	defer b.release()
	b.closed = true
	return nil
}

var errClosed = errors.New("bus closed")

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	now, err := b.acquire()
	defer b.release()
	if b.closed {
		return fmt.Errorf("%s: tx to 0x%02x: %w", b.name, addr, errClosed)
	}
	if addr > 0x7f {
		return fmt.Errorf("%s: tx to 0x%02x: 10-bit addresses are not supported: %w", b.name, addr, errInvalid)
	}
	if len(w) == 0 && len(r) == 0 {
		return nil // periph's sysfs bus does nothing either
	}
	if err != nil {
		return fmt.Errorf("%s: tx to 0x%02x: %w", b.name, addr, err)
	}
	s, ok := b.devs[addr]
	if !ok || s.fault == FaultGone || s.fault == FaultNACK || (b.powered != nil && !b.powered(addr)) {
		return &NACKError{Bus: b.name, Addr: addr}
	}
	if s.nackNext > 0 {
		s.nackNext--
		return &NACKError{Bus: b.name, Addr: addr}
	}
	if err := s.dev.Transfer(now, w, r); err != nil {
		return err
	}
	if s.fault == FaultGarbage {
		for k := range r {
			s.noise = splitmix(s.noise)
			r[k] = byte(s.noise >> 56)
		}
	}
	return nil
}

// splitmix is one step of SplitMix64: the world's only source of
// "randomness", so every run is the same.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
