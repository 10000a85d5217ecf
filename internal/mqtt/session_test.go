package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veille/veille/internal/telemetry"
)

func startEmbedded(t *testing.T) *Broker {
	t.Helper()
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	return b
}

func newTestSession(t *testing.T, broker, node, spoolDir string) *Session {
	t.Helper()
	topics, err := NewTopics("", node)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(Options{
		ConnOptions:          ConnOptions{Broker: broker, KeepAlive: 2 * time.Second, ConnectTimeout: 2 * time.Second},
		Topics:               topics,
		Spool:                SpoolOptions{Dir: spoolDir, NoSync: true},
		PublishTimeout:       2 * time.Second,
		MinReconnectInterval: 20 * time.Millisecond,
		MaxReconnectInterval: 200 * time.Millisecond,
		Logger:               testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTopics(t *testing.T) {
	tp, err := NewTopics("", "pi-5_a")
	if err != nil {
		t.Fatal(err)
	}
	if tp.Tele() != "veille/pi-5_a/tele" || tp.Cmd("sleep_now") != "veille/pi-5_a/cmd/sleep_now" || tp.CmdFilter() != "veille/pi-5_a/cmd/+" {
		t.Errorf("topics %v %v", tp.Tele(), tp.Cmd("sleep_now"))
	}
	for _, bad := range []string{"", "a/b", "a+", "a#", "pi.local", "é"} {
		if _, err := NewTopics("", bad); err == nil {
			t.Errorf("node %q accepted", bad)
		}
	}
	for _, bad := range []string{"a/#", "/veille", "veille/", "$SYS", "a//b"} {
		if _, err := NewTopics(bad, "pi"); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

func TestSessionPublishSubscribeOffline(t *testing.T) {
	b := startEmbedded(t)
	sub := subscribe(t, b.URL(), "veille/#")
	s := newTestSession(t, b.URL(), "pi", t.TempDir())
	var connects atomic.Int32
	s.OnConnect(func() { connects.Add(1) })
	cmds := make(chan Message, 4)
	s.Subscribe(s.Topics().CmdFilter(), 1, func(m Message) { cmds <- m })
	stop := runSession(t, s)

	waitFor(t, "online", 5*time.Second, func() bool {
		m, ok := sub.last("veille/pi/status")
		return ok && string(m.Payload) == Online
	})
	waitFor(t, "on-connect hook", 5*time.Second, func() bool { return connects.Load() == 1 })
	for i := range 20 {
		s.PublishTelemetry([]byte{byte(i)})
	}
	waitFor(t, "20 frames", 5*time.Second, func() bool { return s.Stats().Sent == 20 })
	var tele []byte
	for _, m := range sub.got() {
		if m.Topic == "veille/pi/tele" {
			tele = append(tele, m.Payload...)
		}
	}
	for i, b := range tele {
		if int(b) != i {
			t.Fatalf("telemetry out of order: %v", tele)
		}
	}
	// A command from elsewhere reaches the handler.
	tok := sub.c.Publish("veille/pi/cmd/sleep_now", 1, false, "PRESS")
	tok.Wait()
	select {
	case m := <-cmds:
		if m.Topic != "veille/pi/cmd/sleep_now" || string(m.Payload) != "PRESS" {
			t.Errorf("command %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command did not reach the handler")
	}
	if err := s.Offline(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "offline", 5*time.Second, func() bool {
		m, ok := sub.last("veille/pi/status")
		return ok && string(m.Payload) == Offline
	})
	stop()
	if st := s.Stats(); st.Spooled != 0 || st.Dropped != 0 || st.Waiting != 0 {
		t.Errorf("stats %+v: nothing should have touched the spool", st)
	}
	// Retained status for a late subscriber: still offline after the clean stop.
	late := subscribe(t, b.URL(), "veille/pi/status")
	waitFor(t, "retained offline", 5*time.Second, func() bool {
		m, ok := late.last("veille/pi/status")
		return ok && m.Retained && string(m.Payload) == Offline
	})
}

// TestHandlersNeverBlockClient: a stuck handler must not stop telemetry or
// keepalive; the messages it cannot take are dropped and counted.
func TestHandlersNeverBlockClient(t *testing.T) {
	b := startEmbedded(t)
	pub := subscribe(t, b.URL(), "nothing/here")
	s := newTestSession(t, b.URL(), "pi", t.TempDir())
	release := make(chan struct{})
	var handled atomic.Int32
	s.Subscribe("veille/pi/cmd/+", 1, func(Message) { <-release; handled.Add(1) })
	runSession(t, s)
	waitFor(t, "connected", 5*time.Second, func() bool { return s.Stats().Connected })
	for range 200 {
		pub.c.Publish("veille/pi/cmd/x", 1, false, "y").Wait()
	}
	s.PublishTelemetry([]byte("still flowing"))
	waitFor(t, "telemetry despite a stuck handler", 5*time.Second, func() bool { return s.Stats().Sent == 1 })
	waitFor(t, "drops counted", 5*time.Second, func() bool { return s.Stats().InboxDropped > 0 })
	close(release)
	waitFor(t, "handler resumes", 5*time.Second, func() bool { return handled.Load() > 0 })
}

// TestLastWill: when the connection dies without DISCONNECT, the broker
// publishes the retained "offline"; the session reconnects and says online.
func TestLastWill(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		b := startEmbedded(t)
		testLastWill(t, b.Addr(), b.URL())
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := startMosquitto(t)
		testLastWill(t, m.addr, m.url())
	})
}

func testLastWill(t *testing.T, addr, url string) {
	p := newProxy(t, addr)
	sub := subscribe(t, url, "veille/pi/status")
	s := newTestSession(t, p.url(), "pi", t.TempDir())
	runSession(t, s)
	waitFor(t, "online", 5*time.Second, func() bool {
		m, ok := sub.last("veille/pi/status")
		return ok && string(m.Payload) == Online
	})
	p.setEnabled(false)
	p.cut()
	waitFor(t, "last will", 10*time.Second, func() bool {
		m, ok := sub.last("veille/pi/status")
		return ok && string(m.Payload) == Offline
	})
	p.setEnabled(true)
	waitFor(t, "online again", 10*time.Second, func() bool {
		m, ok := sub.last("veille/pi/status")
		return ok && string(m.Payload) == Online
	})
}

func TestListen(t *testing.T) {
	b := startEmbedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out safeBuffer
	done := make(chan error, 1)
	go func() {
		done <- Listen(ctx, ListenOptions{ConnOptions: ConnOptions{Broker: b.URL()}, Logger: testLogger(t)}, &out)
	}()
	pub := subscribe(t, b.URL(), "nothing/here")
	frame := &telemetry.Frame{Run: 1, Seq: 2, Start: 1767323045000, Interval: 1000, Count: 1,
		Channels: []telemetry.Channel{{ID: 0, Samples: []telemetry.Sample{{MilliVolts: 5100, MilliAmps: 700, MilliWatts: 3570, OK: true}}, EnergyMilliWh: 42}}}
	enc, err := telemetry.Encode(frame)
	if err != nil {
		t.Fatal(err)
	}
	// Listen subscribes asynchronously: publish until its first line shows.
	waitFor(t, "listen to print a frame", 10*time.Second, func() bool {
		pub.c.Publish("veille/pi/tele", 1, false, enc).Wait()
		return strings.Contains(out.String(), `"seq":2`)
	})
	pub.c.Publish("veille/other/tele", 1, false, []byte{0xff, 0x00, 0x13}).Wait()
	waitFor(t, "error line", 5*time.Second, func() bool { return strings.Contains(out.String(), `"size":3`) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if v["error"] != nil && v["topic"] != "veille/other/tele" {
			t.Errorf("error line %v", v)
		}
		if v["error"] == nil && (v["node"] != "pi" || v["channels"].([]any)[0].(map[string]any)["Wh"] != 0.042) {
			t.Errorf("frame line %v", v)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSessionOptionsValidation(t *testing.T) {
	tp, _ := NewTopics("", "pi")
	for name, o := range map[string]Options{
		"no broker":   {Topics: tp, Spool: SpoolOptions{Dir: t.TempDir()}},
		"no node":     {ConnOptions: ConnOptions{Broker: "tcp://127.0.0.1:1"}, Spool: SpoolOptions{Dir: t.TempDir()}},
		"no spool":    {ConnOptions: ConnOptions{Broker: "tcp://127.0.0.1:1"}, Topics: tp},
		"missing CA":  {ConnOptions: ConnOptions{Broker: "ssl://127.0.0.1:1", CAFile: "/nonexistent/ca.pem"}, Topics: tp, Spool: SpoolOptions{Dir: t.TempDir()}},
		"cert no key": {ConnOptions: ConnOptions{Broker: "ssl://127.0.0.1:1", CertFile: "c.pem"}, Topics: tp, Spool: SpoolOptions{Dir: t.TempDir()}},
	} {
		if _, err := NewSession(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := NewSession(Options{ConnOptions: ConnOptions{Broker: "tcp://127.0.0.1:1"}, Topics: tp, Spool: SpoolOptions{Dir: t.TempDir()}, MaxReconnectInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.MaxReconnectInterval != 60*time.Second || s.opts.ClientID != "veille-pi" {
		t.Errorf("defaults %v %q", s.opts.MaxReconnectInterval, s.opts.ClientID)
	}
	if err := s.Publish(context.Background(), "x", 1, false, nil); err == nil {
		t.Error("Publish without connection succeeded")
	}
}

// Frames published after Run has returned (the agent flushing its last
// partial frame on the way down) land in the spool for the next start.
func TestPublishAfterStopIsSpooled(t *testing.T) {
	dir := t.TempDir()
	s := newTestSession(t, "tcp://127.0.0.1:1", "pi", dir) // nothing listens there
	stop := runSession(t, s)
	s.PublishTelemetry([]byte("a"))
	stop()
	s.PublishTelemetry([]byte("b"))
	again := newTestSession(t, "tcp://127.0.0.1:1", "pi", dir)
	var got []string
	for {
		r, ok, err := again.spool.Peek(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(r.Payload))
		again.spool.Pop()
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("spool after restart holds %q, want a,b", got)
	}
}
