package dbustest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// Env is a private bus with both fakes on it.
type Env struct {
	Bus     *Bus
	Login   *Login
	Systemd *Systemd
}

// Address is the bus address to give the code under test.
func (e *Env) Address() string { return e.Bus.Address() }

// New starts a private bus with a fake logind and a fake systemd for a test;
// all of it stops when the test ends.
func New(tb testing.TB) *Env {
	tb.Helper()
	b := Start(tb)
	return &Env{Bus: b, Login: NewLogin(tb, b), Systemd: NewSystemd(tb, b)}
}

// NewLogin serves a fake logind on b until the test ends.
func NewLogin(tb testing.TB, b *Bus) *Login {
	tb.Helper()
	l, err := ServeLogin(b.Address())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// NewSystemd serves a fake systemd on b until the test ends.
func NewSystemd(tb testing.TB, b *Bus) *Systemd {
	tb.Helper()
	s, err := ServeSystemd(b.Address())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// State is the initial world of Run, read from a JSON file.
type State struct {
	Units         []Unit      `json:"units"`
	Sessions      []Session   `json:"sessions"`
	Inhibitors    []Inhibitor `json:"inhibitors"`
	LegacyRefusal bool        `json:"legacy_refusal"`
}

// Run serves a private bus with both fakes until ctx ends, for end-to-end
// tests that run them as a child process (see Main). Flags:
//
//	-dir DIR     where the socket and config go (default: a new temporary directory)
//	-state FILE  JSON State to start from
//
// It prints "DBUS_SYSTEM_BUS_ADDRESS=<address>" once the services own their
// names, then one line "call <interface>.<Member>" per method call, so a
// test can wait for markers such as
// "call org.freedesktop.login1.PowerOffWithFlags". Calls wait for their line
// to be written, so the reader must keep reading.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dbustest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "directory for the socket and config")
	statePath := fs.String("state", "", "JSON file with the initial units, sessions and inhibitors")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("dbustest: %w", err)
	}
	var st State
	if *statePath != "" {
		b, err := os.ReadFile(*statePath)
		if err != nil {
			return fmt.Errorf("dbustest: %w", err)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("dbustest: state %s: %w", *statePath, err)
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dbustest")
		if err != nil {
			return fmt.Errorf("dbustest: %w", err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	bus, err := StartBus(*dir)
	if err != nil {
		return err
	}
	defer bus.Close()
	login, err := ServeLogin(bus.Address())
	if err != nil {
		return err
	}
	defer login.Close()
	sd, err := ServeSystemd(bus.Address())
	if err != nil {
		return err
	}
	defer sd.Close()

	login.SetLegacyRefusal(st.LegacyRefusal)
	for _, u := range st.Units {
		if err := sd.AddUnit(u); err != nil {
			return err
		}
	}
	for _, s := range st.Sessions {
		if err := login.AddSession(s); err != nil {
			return err
		}
	}
	for _, in := range st.Inhibitors {
		login.HoldInhibitor(in)
	}
	var mu sync.Mutex
	var writeErr error
	observe := func(call string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(stdout, "call %s\n", call); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	login.SetObserver(observe)
	sd.SetObserver(observe)
	mu.Lock()
	_, err = fmt.Fprintf(stdout, "DBUS_SYSTEM_BUS_ADDRESS=%s\n", bus.Address())
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("dbustest: %w", err)
	}
	<-ctx.Done()
	mu.Lock()
	defer mu.Unlock()
	return writeErr
}

// Main is Run for a process of its own: a test binary's TestMain calls it
// when an environment variable says so, and the test starts
// os.Args[0] with that variable set. It stops on SIGINT or SIGTERM.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}
