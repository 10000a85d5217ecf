package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends state lines (e.g. "READY=1", "STATUS=sleeping until 06:00") to
// the service manager through $NOTIFY_SOCKET. Outside systemd (no socket) it
// does nothing and reports false.
func Notify(state ...string) (sent bool, err error) {
	sent, err = daemon.SdNotify(false, strings.Join(state, "\n"))
	if err != nil {
		return false, fmt.Errorf("sd_notify %q: %w", strings.Join(state, " "), err)
	}
	return sent, nil
}

// Ready tells systemd that start-up is finished (Type=notify), with a status
// line for `systemctl status`.
func Ready(status string) error {
	state := []string{daemon.SdNotifyReady}
	if status != "" {
		state = append(state, "STATUS="+oneLine(status))
	}
	_, err := Notify(state...)
	return err
}

// Stopping tells systemd that veille is shutting down.
func Stopping() error {
	_, err := Notify(daemon.SdNotifyStopping)
	return err
}

// Status sets the status line `systemctl status` shows.
func Status(status string) error {
	_, err := Notify("STATUS=" + oneLine(status))
	return err
}

// oneLine keeps a status to one line: a newline would start another
// assignment in the notify datagram.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Clock is the part of internal/clock.Clock the watchdog needs.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Watchdog pets systemd's watchdog (WatchdogSec= in the unit) only while the
// agent's main loop proves it is alive: the loop calls Alive once per pass,
// Run sends WATCHDOG=1 every half interval as long as the last Alive is
// recent enough. A hung loop stops the pings, and systemd kills and restarts
// the agent after WatchdogSec.
type Watchdog struct {
	// Interval is systemd's watchdog timeout (WATCHDOG_USEC); 0 disables
	// the watchdog and Run just waits for its context.
	Interval time.Duration
	// MaxStall is the longest time since the last Alive that still counts
	// as healthy; 0 means Interval. Set it above the main loop's period.
	MaxStall time.Duration
	// Clock defaults to the wall clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	last    time.Time
	stalled bool
}

// WatchdogFromEnv returns a Watchdog with the interval systemd passed in
// WATCHDOG_USEC (and WATCHDOG_PID, when set, naming this process); Interval
// is 0 when systemd asked for no watchdog.
func WatchdogFromEnv() (*Watchdog, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return &Watchdog{Interval: d}, nil
}

// Enabled reports whether systemd expects pings.
func (w *Watchdog) Enabled() bool { return w.Interval > 0 }

// Alive records that the main loop made progress.
func (w *Watchdog) Alive() {
	now := w.clock().Now()
	w.mu.Lock()
	w.last = now
	w.mu.Unlock()
}

func (w *Watchdog) clock() Clock {
	if w.Clock == nil {
		return realClock{}
	}
	return w.Clock
}

func (w *Watchdog) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

// Run pings until ctx ends and returns nil then. The start of Run counts as
// a sign of life, so the main loop has MaxStall to make its first pass.
func (w *Watchdog) Run(ctx context.Context) error {
	if w.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	maxStall := w.MaxStall
	if maxStall <= 0 {
		maxStall = w.Interval
	}
	clk := w.clock()
	w.Alive()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(w.Interval / 2):
		}
		now := clk.Now()
		w.mu.Lock()
		since := now.Sub(w.last)
		healthy := since <= maxStall
		report := !healthy && !w.stalled
		w.stalled = !healthy
		w.mu.Unlock()
		switch {
		case healthy:
			if _, err := Notify(daemon.SdNotifyWatchdog); err != nil {
				w.logger().Warn("watchdog ping failed", "err", err)
			}
		case report:
			msg := fmt.Sprintf("main loop stalled for %v; watchdog pings stopped, systemd will restart veille", since.Round(time.Second))
			w.logger().Error(msg)
			if _, err := Notify("STATUS=" + msg); err != nil {
				w.logger().Warn("watchdog status failed", "err", err)
			}
		}
	}
}
