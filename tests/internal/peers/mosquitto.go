package peers

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoOpts are the choices of a broker; nil means the defaults: plain
// MQTT, anonymous, no persistence, mosquitto's own limits.
type MosquittoOpts struct {
	// Listener adds settings to the listener: for TLS its certfile and
	// keyfile (a certfile makes the URL ssl://).
	Listener string
	// Persist keeps mosquitto's database in the broker's directory. It is
	// saved at a clean Stop and read at the next Start, so the
	// subscriptions and queued messages of a persistent session survive.
	Persist bool
	// SaveOnChange, with Persist, saves the database after every change
	// too (autosave_on_changes, interval 1), so that it survives a Kill.
	SaveOnChange bool
	// MaxQueued and MaxInflight are max_queued_messages (per client) and
	// max_inflight_messages; 0 leaves mosquitto's defaults (1000 and 20).
	MaxQueued, MaxInflight int
}

// Broker is a real mosquitto, the test's child, on a loopback port that
// stays its own across Stop, Kill and Start. It is killed when the test
// ends.
type Broker struct {
	t      testing.TB
	bin    string
	conf   string
	addr   string
	scheme string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   bytes.Buffer
	starts int
}

// Mosquitto starts a broker on a free loopback port (127.0.0.1) and waits
// until it accepts connections.
func Mosquitto(t testing.TB, o *MosquittoOpts) *Broker {
	t.Helper()
	if o == nil {
		o = &MosquittoOpts{}
	}
	b := &Broker{t: t, bin: mosquittoBin(t), scheme: "tcp"}
	if strings.Contains(o.Listener, "certfile") {
		b.scheme = "ssl"
	}
	dir := t.TempDir()
	b.conf = filepath.Join(dir, "mosquitto.conf")
	t.Cleanup(b.Kill)
	// The port is free when asked for, but another process may take it
	// before mosquitto binds it: then a new one.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("mosquitto: %v", err)
		}
		b.addr = fmt.Sprintf("127.0.0.1:%d", port)
		if err := os.WriteFile(b.conf, []byte(mosquittoConf(port, dir, o)), 0o644); err != nil {
			t.Fatal(err)
		}
		err = b.launch()
		if err == nil {
			return b
		}
		if attempt < 3 && strings.Contains(b.Log(), "Address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func mosquittoConf(port int, dir string, o *MosquittoOpts) string {
	var c strings.Builder
	if os.Geteuid() == 0 {
		// As root mosquitto would drop to its own user, which cannot read
		// our private temporary directory (certificates, database).
		c.WriteString("user root\n")
	}
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n%s", port, o.Listener)
	if o.Listener != "" && !strings.HasSuffix(o.Listener, "\n") {
		c.WriteString("\n")
	}
	c.WriteString("allow_anonymous true\n")
	if o.MaxQueued > 0 {
		fmt.Fprintf(&c, "max_queued_messages %d\n", o.MaxQueued)
	}
	if o.MaxInflight > 0 {
		fmt.Fprintf(&c, "max_inflight_messages %d\n", o.MaxInflight)
	}
	if !o.Persist {
		c.WriteString("persistence false\n")
		return c.String()
	}
	fmt.Fprintf(&c, "persistence true\npersistence_location %s/\n", dir)
	if o.SaveOnChange {
		c.WriteString("autosave_interval 1\nautosave_on_changes true\n")
	}
	return c.String()
}

func mosquittoBin(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto" // not on a user's PATH on Debian
	}
	t.Fatalf("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the broker's address for an MQTT client: tcp:// or ssl://.
func (b *Broker) URL() string { return b.scheme + "://" + b.addr }

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Start starts the broker again on its port after Stop or Kill, and waits
// until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	if err := b.launch(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Broker) launch() error {
	b.mu.Lock()
	if b.cmd != nil {
		b.mu.Unlock()
		return fmt.Errorf("mosquitto on %s: started while it runs", b.addr)
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = lockedWriter{&b.mu, &b.logs}, lockedWriter{&b.mu, &b.logs}
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		return fmt.Errorf("mosquitto: %w", err)
	}
	exited := make(chan struct{})
	b.cmd, b.exited = cmd, exited
	b.starts++
	from := b.logs.Len()
	b.mu.Unlock()
	go func() { cmd.Wait(); close(exited) }()
	gone := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	// Up once it says so (then the port is its own: another process on it
	// would have made it exit) and accepts a connection.
	running := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return strings.Contains(b.logs.String()[from:], " running")
	}
	up := Within(Patience, func() bool {
		if gone() {
			return true
		}
		if !running() {
			return false
		}
		c, err := net.Dial("tcp", b.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	switch {
	case gone():
		b.mu.Lock()
		b.cmd = nil
		b.mu.Unlock()
		return fmt.Errorf("mosquitto on %s exited at its start: %s", b.addr, b.Log())
	case !up:
		b.signal(syscall.SIGKILL)
		return fmt.Errorf("mosquitto did not accept connections on %s within %v: %s", b.addr, Patience, b.Log())
	}
	return nil
}

// Stop ends the broker cleanly (SIGTERM: it saves its database).
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill ends the broker with SIGKILL, as a power cut would.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Starts is how many times the broker was started.
func (b *Broker) Starts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.starts
}

// Log is what mosquitto printed, over all its starts.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
