package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// waitFor polls cond until it holds or the deadline passes. It waits for a
// state, not for a duration: the poll interval only bounds the latency.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// proxy is a TCP forwarder in front of a broker, so a test can cut a client's
// connection without a DISCONNECT (as a crash or a network failure does) and
// decide when the client may come back.
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	enabled bool
	conns   []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, enabled: true}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		on := p.enabled
		p.mu.Unlock()
		if !on {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// cut closes every proxied connection abruptly.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) setEnabled(on bool) {
	p.mu.Lock()
	p.enabled = on
	p.mu.Unlock()
}

// mosquitto runs the real broker as a child process on a fixed loopback port.
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
	done chan error
}

func findMosquitto(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("mosquitto is not installed: these end-to-end tests need the real broker; `make test` installs it (apt-get install mosquitto)")
	return ""
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, bin: findMosquitto(t), addr: freePort(t)}
	_, port, _ := net.SplitHostPort(m.addr)
	m.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n", port)
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.kill)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stderr = os.Stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(m.cmd, m.done)
	waitFor(m.t, "mosquitto to listen on "+m.addr, 10*time.Second, func() bool {
		select {
		case err := <-m.done:
			m.t.Fatalf("mosquitto exited at start: %v", err)
		default:
		}
		c, err := net.Dial("tcp", m.addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// kill stops the broker the hard way (SIGKILL) and reaps it.
func (m *mosquitto) kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

func (m *mosquitto) url() string { return "tcp://" + m.addr }

// subscriber is a plain paho client that records what arrives.
type subscriber struct {
	mu   sync.Mutex
	msgs []Message
	c    paho.Client
}

func subscribe(t *testing.T, broker, filter string) *subscriber {
	t.Helper()
	s := &subscriber{}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("test-sub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(true).SetAutoReconnect(false)
	s.c = paho.NewClient(o)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect %s: %v", broker, tok.Error())
	}
	tok := s.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()})
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(0) })
	return s
}

func (s *subscriber) got() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *subscriber) last(topic string) (Message, bool) {
	msgs := s.got()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == topic {
			return msgs[i], true
		}
	}
	return Message{}, false
}

// runSession starts s.Run and returns a stop function that cancels it and
// waits for it to return.
func runSession(t *testing.T, s *Session) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("session Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("session Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
