package systemd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests set NOTIFY_SOCKET and WATCHDOG_* with t.Setenv, so they do not
// run in parallel.

// notifySocket listens like systemd on a unixgram socket in a temp dir and
// points NOTIFY_SOCKET at it.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// queued returns every datagram waiting on c without blocking. Senders write
// synchronously, so what they sent before a sync point is already queued.
func queued(t *testing.T, c *net.UnixConn) []string {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var rerr error
	err = raw.Control(func(fd uintptr) {
		buf := make([]byte, 4096)
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if err != nil {
				if !errors.Is(err, syscall.EAGAIN) {
					rerr = err
				}
				return
			}
			out = append(out, string(buf[:n]))
		}
	})
	if err != nil || rerr != nil {
		t.Fatal(err, rerr)
	}
	return out
}

func TestNotifyOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := Notify("READY=1")
	if sent || err != nil {
		t.Errorf("Notify without a socket = %v, %v; want false, nil", sent, err)
	}
	if err := Ready("x"); err != nil {
		t.Errorf("Ready without a socket: %v", err)
	}
}

func TestReadyStatusStopping(t *testing.T) {
	c := notifySocket(t)
	if err := Ready("watching 2 disks"); err != nil {
		t.Fatal(err)
	}
	if err := Status("sleeping until 06:00\nreally"); err != nil {
		t.Fatal(err)
	}
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	if err := Ready(""); err != nil {
		t.Fatal(err)
	}
	got := queued(t, c)
	want := []string{"READY=1\nSTATUS=watching 2 disks", "STATUS=sleeping until 06:00 really", "STOPPING=1", "READY=1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("datagrams %q, want %q", got, want)
	}
}

func TestNotifySocketMissing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	sent, err := Notify("READY=1")
	if sent || err == nil || !strings.Contains(err.Error(), `sd_notify "READY=1"`) {
		t.Errorf("Notify to a missing socket = %v, %v", sent, err)
	}
	if err := Stopping(); err == nil {
		t.Error("Stopping to a missing socket: nil error")
	}
}

func TestWatchdogFromEnv(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"20000000", "", 20 * time.Second, false},
		{"20000000", strconv.Itoa(os.Getpid()), 20 * time.Second, false},
		{"20000000", "1", 0, false}, // meant for another process
		{"soon", "", 0, true},
		{"-5", "", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		w, err := WatchdogFromEnv()
		if (err != nil) != tc.err {
			t.Errorf("USEC=%q PID=%q: error %v", tc.usec, tc.pid, err)
			continue
		}
		if err == nil && (w.Interval != tc.want || w.Enabled() != (tc.want > 0)) {
			t.Errorf("USEC=%q PID=%q: interval %v enabled %v, want %v", tc.usec, tc.pid, w.Interval, w.Enabled(), tc.want)
		}
	}
}

// fakeClock moves only when told; every After registration is announced on
// asked, so a test knows the watchdog is waiting again.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	asked   chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC), asked: make(chan struct{}, 64)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.asked <- struct{}{}
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func TestWatchdogPetsOnlyWhileAlive(t *testing.T) {
	sock := notifySocket(t)
	clk := newFakeClock()
	w := &Watchdog{Interval: 10 * time.Second, MaxStall: 15 * time.Second, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-clk.asked // Run started (counts as alive at t=0) and waits half an interval

	step := func(d time.Duration, alive bool, want ...string) {
		t.Helper()
		if alive {
			w.Alive()
		}
		clk.Advance(d)
		<-clk.asked // the tick was handled and Run waits again
		got := queued(t, sock)
		if len(got) != len(want) {
			t.Fatalf("at %v: datagrams %q, want %q", clk.Now().Sub(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)), got, want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Fatalf("datagram %q, want prefix %q", got[i], want[i])
			}
		}
	}
	step(5*time.Second, false, "WATCHDOG=1") // t=5s, last alive 0s
	step(5*time.Second, true, "WATCHDOG=1")  // alive at 5s
	step(5*time.Second, false, "WATCHDOG=1") // t=15s, 10s since
	step(5*time.Second, false, "WATCHDOG=1") // t=20s, 15s since: still within MaxStall
	step(5*time.Second, false, "STATUS=main loop stalled for 20s")
	step(5*time.Second, false) // still stalled: no ping, no repeated status
	step(5*time.Second, true, "WATCHDOG=1")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestWatchdogDefaultsAndDisabled(t *testing.T) {
	sock := notifySocket(t)
	clk := newFakeClock()
	// MaxStall defaults to Interval.
	w := &Watchdog{Interval: 4 * time.Second, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-clk.asked
	for i, want := range []string{"WATCHDOG=1", "WATCHDOG=1", "STATUS=main loop stalled for 6s"} {
		clk.Advance(2 * time.Second)
		<-clk.asked
		if got := queued(t, sock); len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Fatalf("tick %d: %q, want %q", i, got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	off := &Watchdog{}
	if off.Enabled() {
		t.Error("zero Watchdog enabled")
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := off.Run(ctx); err != nil {
		t.Errorf("disabled Run: %v", err)
	}
	if got := queued(t, sock); len(got) != 0 {
		t.Errorf("disabled watchdog sent %q", got)
	}
}
