package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)

func TestFakeFiresInOrder(t *testing.T) {
	f := NewFake(t0)
	a, b := f.After(2*time.Second), f.After(time.Second)
	f.Advance(time.Second)
	select {
	case <-a:
		t.Fatal("2 s timer fired after 1 s")
	case got := <-b:
		if !got.Equal(t0.Add(time.Second)) {
			t.Errorf("fired at %v", got)
		}
	}
	if f.Waiters() != 1 {
		t.Errorf("waiters = %d", f.Waiters())
	}
	f.Set(t0.Add(-time.Hour)) // a step back fires nothing
	if f.Waiters() != 1 {
		t.Error("step back fired a timer")
	}
}

func TestScaledFollowsSpeedAndJumps(t *testing.T) {
	s := NewScaled(t0, 1000)
	begin := time.Now()
	<-s.After(time.Minute) // 60 ms of real time at 1000x
	if real := time.Since(begin); real > 5*time.Second {
		t.Fatalf("a minute at 1000x took %v", real)
	}
	// A wait made at high speed ends early once the clock jumps past it.
	ch := s.After(time.Hour)
	s.Jump(2 * time.Hour)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not fire after a jump past it")
	}
	// Slowing down must not make a short scaled wait last a scaled eternity:
	// the wait is re-armed when the speed comes back.
	s.SetSpeed(1)
	ch = s.After(time.Minute)
	s.SetSpeed(1000)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("wait made at 1x did not follow the speed change")
	}
	if got := s.Now().Sub(t0); got < 2*time.Hour {
		t.Errorf("clock reads %v after the jump", got)
	}
}
