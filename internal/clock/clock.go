// Package clock is the time source of veille. Everything that waits or
// timestamps takes a Clock, so tests run across midnight, DST nights and a
// 1970 boot without sleeping, and the demo runs a whole night in a minute.
package clock

import (
	"sync"
	"time"
)

// Clock is the small part of package time that veille needs.
type Clock interface {
	Now() time.Time
	// After delivers the clock's time once d has passed on this clock.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Sleep waits d on c or until done is closed. It reports whether the whole
// duration elapsed.
func Sleep(c Clock, d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-c.After(d):
		return true
	case <-done:
		return false
	}
}

// Fake is a manual clock for tests: time moves only when Advance or Set is
// called, and timers fire in order as it passes them.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that receives once the fake time reaches Now()+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	return ch
}

// Advance moves the fake time forward by d, firing due timers.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the fake time to t (forward or back, like a clock step) and
// fires every timer that is due at t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(t) {
			w.ch <- t
			continue
		}
		kept = append(kept, w)
	}
	f.waiters = kept
}

// Waiters reports how many timers are pending; tests use it to know that a
// goroutine has reached its wait before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Scaled runs Speed times faster than the wall clock from a chosen origin,
// can change speed, and can jump forward (the demo skips the hours a halted
// Pi is off). Pending waits follow speed changes and jumps.
type Scaled struct {
	mu      sync.Mutex
	speed   float64
	start   time.Time // wall time at origin
	origin  time.Time // clock time at start
	wall    func() time.Time
	waiters map[*scaledWaiter]struct{}
}

type scaledWaiter struct {
	at    time.Time
	ch    chan time.Time
	timer *time.Timer
}

// NewScaled returns a clock that reads origin now and then runs speed times
// faster than real time.
func NewScaled(origin time.Time, speed float64) *Scaled {
	if speed <= 0 {
		speed = 1
	}
	return &Scaled{speed: speed, start: time.Now(), origin: origin, wall: time.Now, waiters: map[*scaledWaiter]struct{}{}}
}

// Speed is how many clock seconds pass per real second.
func (s *Scaled) Speed() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.speed
}

// Now returns the scaled time.
func (s *Scaled) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Scaled) nowLocked() time.Time {
	real := s.wall().Sub(s.start)
	return s.origin.Add(time.Duration(float64(real) * s.speed))
}

// After fires once d of scaled time has passed, whatever speed changes and
// jumps happen meanwhile.
func (s *Scaled) After(d time.Duration) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &scaledWaiter{at: s.nowLocked().Add(d), ch: make(chan time.Time, 1)}
	s.waiters[w] = struct{}{}
	s.armLocked(w)
	return w.ch
}

// armLocked (re)starts w's real timer for the scaled time left.
func (s *Scaled) armLocked(w *scaledWaiter) {
	left := w.at.Sub(s.nowLocked())
	real := time.Duration(float64(left) / s.speed)
	if real < 0 {
		real = 0
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(real, func() { s.fire(w) })
}

func (s *Scaled) fire(w *scaledWaiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.waiters[w]; !ok {
		return
	}
	now := s.nowLocked()
	if now.Before(w.at) { // rounding: not quite there yet
		s.armLocked(w)
		return
	}
	delete(s.waiters, w)
	w.ch <- now
}

func (s *Scaled) rearmLocked() {
	for w := range s.waiters {
		s.armLocked(w)
	}
}

// SetSpeed changes the speed from now on (the demo slows to real time while
// a person presses the button).
func (s *Scaled) SetSpeed(speed float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if speed <= 0 {
		return
	}
	s.origin = s.nowLocked()
	s.start = s.wall()
	s.speed = speed
	s.rearmLocked()
}

// Jump moves the scaled clock forward by d at once; waits that end within
// the jump fire.
func (s *Scaled) Jump(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.origin = s.origin.Add(d)
	s.rearmLocked()
}
