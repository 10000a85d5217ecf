// Package dbustest runs a private dbus-daemon with fake
// org.freedesktop.login1 and org.freedesktop.systemd1 services written in Go,
// so code that talks to logind and systemd is tested over a real bus, with
// real fd passing and real signals, without root and without systemd as PID 1.
//
// The fakes follow the real services' D-Bus API (names, signatures, error
// names and messages) for the parts veille uses, and are scriptable: units
// that refuse to stop, block inhibitors held by other programs, method calls
// that fail, call counters and a history of jobs.
//
//	env := dbustest.New(t)                 // daemon + fake login1 + fake systemd1
//	env.Systemd.AddUnit(dbustest.Unit{Name: "plex.service", StopResult: "timeout"})
//	env.Login.HoldInhibitor(dbustest.Inhibitor{What: "shutdown", Who: "backup", Why: "copying", Mode: "block", UID: 1000, PID: 4242})
//	// point the code under test at env.Address()
//
// dbus-daemon comes from Debian's package dbus-daemon (`make test` installs
// it). Run and Main start the same services outside a test, for end-to-end
// tests that run them as a child process.
package dbustest

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"
)

// Bus is a private dbus-daemon listening on a unix socket.
type Bus struct {
	address string
	tmpDir  string // a short socket directory of our own, removed by Close
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	waited  chan struct{}
	waitErr error
	closing sync.Once
}

// ErrNoDaemon is returned when no dbus-daemon binary is found.
var ErrNoDaemon = errors.New("dbustest: dbus-daemon not found on PATH or in /usr/bin; `make test` installs the Debian package dbus-daemon")

// DaemonPath finds dbus-daemon: on PATH, else /usr/bin/dbus-daemon.
func DaemonPath() (string, error) {
	if p, err := exec.LookPath("dbus-daemon"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/dbus-daemon"); err == nil {
		return "/usr/bin/dbus-daemon", nil
	}
	return "", ErrNoDaemon
}

// maxSocketPath keeps the socket path inside sun_path (108 bytes on Linux)
// with room to spare.
const maxSocketPath = 100

// StartBus starts dbus-daemon with a configuration written into dir and a
// socket there (or, when dir's path is too long for a unix socket, in a
// short temporary directory removed by Close). Close stops it.
func StartBus(dir string) (*Bus, error) {
	bin, err := DaemonPath()
	if err != nil {
		return nil, err
	}
	b := &Bus{stderr: &lockedBuffer{}, waited: make(chan struct{})}
	sockDir := dir
	if len(filepath.Join(dir, "bus.sock")) > maxSocketPath {
		if sockDir, err = os.MkdirTemp("", "dbus"); err != nil {
			return nil, fmt.Errorf("dbustest: socket directory: %w", err)
		}
		b.tmpDir = sockDir
	}
	fail := func(err error) (*Bus, error) {
		if b.tmpDir != "" {
			_ = os.RemoveAll(b.tmpDir)
		}
		return nil, err
	}
	sock := filepath.Join(sockDir, "bus.sock")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, busConfig(sock), 0o600); err != nil {
		return fail(fmt.Errorf("dbustest: write %s: %w", conf, err))
	}
	// --nofork keeps the daemon our child, so Close can reap it (on a
	// machine whose PID 1 does not reap orphans a forked daemon lingers).
	b.cmd = exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return fail(fmt.Errorf("dbustest: %w", err))
	}
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		return fail(fmt.Errorf("dbustest: start %s: %w", bin, err))
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.waited)
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		<-b.waited
		return fail(fmt.Errorf("dbustest: %s printed no address (%v): %s", bin, b.waitErr, strings.TrimSpace(b.stderr.String())))
	}
	// The daemon prints nothing more; drain in case it ever does.
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	b.address = strings.TrimSpace(line)
	return b, nil
}

// Start starts a private bus for a test with its socket in tb.TempDir() and
// stops it when the test ends. A missing dbus-daemon fails the test with
// a message saying how to install it.
func Start(tb testing.TB) *Bus {
	tb.Helper()
	b, err := StartBus(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Error(err)
		}
	})
	return b
}

// Address is the bus address, e.g. "unix:path=/tmp/.../bus.sock,guid=...";
// give it to the code under test (or set DBUS_SYSTEM_BUS_ADDRESS to it).
func (b *Bus) Address() string { return b.address }

// Dial opens an authenticated connection to the bus.
func (b *Bus) Dial(opts ...dbus.ConnOption) (*dbus.Conn, error) {
	return dial(b.address, opts...)
}

// Close stops the daemon and waits for it.
func (b *Bus) Close() error {
	var err error
	b.closing.Do(func() {
		select {
		case <-b.waited:
			err = fmt.Errorf("dbustest: dbus-daemon exited early (%v): %s", b.waitErr, strings.TrimSpace(b.stderr.String()))
		default:
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			<-b.waited
		}
		if b.tmpDir != "" {
			_ = os.RemoveAll(b.tmpDir)
		}
	})
	return err
}

func busConfig(sock string) []byte {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(sock))
	return []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=` + esc.String() + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
`)
}

// dial connects, authenticates with EXTERNAL as our uid (no user lookup,
// which a static binary cannot do) and says Hello.
func dial(address string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	conn, err := dbus.Dial(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("dbustest: dial %s: %w", address, err)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dbustest: authenticate to %s: %w", address, err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dbustest: hello to %s: %w", address, err)
	}
	return conn, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
