package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/veille/veille/internal/clock"
)

// ConnOptions say how to reach the broker.
type ConnOptions struct {
	// Broker is a URL: tcp://host:1883, or ssl:// (also tls://, mqtts://)
	// host:8883 for TLS.
	Broker   string
	ClientID string // stable across restarts; Session defaults to "veille-<node>"
	Username string
	Password string
	// CAFile verifies the broker (system roots when empty). CertFile and
	// KeyFile give a client certificate. Verification is on unless
	// InsecureSkipVerify, which exists for brokers with self-made
	// certificates and says so in the log.
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
	KeepAlive          time.Duration // 0: 30 s
	ConnectTimeout     time.Duration // 0: 10 s
}

// Options configure a Session.
type Options struct {
	ConnOptions
	Topics Topics
	// Spool holds unacknowledged telemetry; Dir is required (the state dir).
	Spool SpoolOptions
	// PublishTimeout bounds the wait for a PUBACK, in real time whatever
	// Clock says: the network is never simulated, and a fast demo clock
	// would otherwise count a broker's ordinary latency as a lost frame and
	// send it again. 0: 10 s.
	PublishTimeout time.Duration
	// MinReconnectInterval and MaxReconnectInterval bound the reconnect
	// backoff, which doubles from the first to the second with jitter.
	// 0: 1 s and 45 s; the maximum is capped at 60 s so the agent is back
	// soon after a broker or Home Assistant restart.
	MinReconnectInterval time.Duration
	MaxReconnectInterval time.Duration
	// QueueSize is how many frames may wait in memory for the sender (a
	// frame every few seconds at most; the sender takes them at once).
	// 0: 64.
	QueueSize int
	// InboxSize bounds the received messages waiting for their handler;
	// past it messages are dropped with a log line. 0: 64.
	InboxSize int
	Clock     clock.Clock  // nil: the wall clock
	Logger    *slog.Logger // nil: discard
}

// Message is a message received on a subscription.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Stats count what happened to telemetry frames.
type Stats struct {
	Sent         uint64 // acknowledged on first try
	Spooled      uint64 // written to the spool
	Replayed     uint64 // acknowledged from the spool
	Dropped      uint64 // lost: queue full, spool size/age limits, spool write errors
	InboxDropped uint64 // received messages dropped because handlers lagged
	Waiting      int    // in the spool now
	Connected    bool
}

// ErrNotConnected is returned by Publish and Offline without a connection.
var ErrNotConnected = errors.New("mqtt: not connected")

type subscription struct {
	filter  string
	qos     byte
	handler func(Message)
}

type inbound struct {
	msg       Message
	handler   func(Message)
	onConnect bool
}

// Session is a connection to the broker that stays up: it reconnects, keeps
// the node's availability right, delivers telemetry through the spool, and
// dispatches received messages to handlers.
type Session struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	spool *Spool
	queue chan []byte
	inbox chan inbound

	mu        sync.Mutex
	subs      []subscription
	onConnect []func()
	client    paho.Client // nil while down
	offline   bool        // Offline was called: say "offline" from now on
	stopped   bool        // Run has returned

	sent, spooled, replayed, dropped, inboxDropped atomic.Uint64
	queueDropped                                   atomic.Uint64
}

// NewSession checks opts and opens the spool. Call Run to connect.
func NewSession(opts Options) (*Session, error) {
	if opts.Broker == "" {
		return nil, errors.New("mqtt session: no broker URL")
	}
	if opts.Topics.Node == "" {
		return nil, errors.New("mqtt session: no topics (node name)")
	}
	if opts.ClientID == "" {
		opts.ClientID = "veille-" + opts.Topics.Node
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 10 * time.Second
	}
	if opts.MinReconnectInterval <= 0 {
		opts.MinReconnectInterval = time.Second
	}
	if opts.MaxReconnectInterval <= 0 {
		opts.MaxReconnectInterval = 45 * time.Second
	}
	opts.MaxReconnectInterval = min(opts.MaxReconnectInterval, 60*time.Second)
	opts.MinReconnectInterval = min(opts.MinReconnectInterval, opts.MaxReconnectInterval)
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.InboxSize <= 0 {
		opts.InboxSize = 64
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Spool.Dir == "" {
		return nil, errors.New("mqtt session: no spool directory")
	}
	if _, err := tlsConfig(opts.ConnOptions); err != nil {
		return nil, err
	}
	sp, err := OpenSpool(opts.Spool)
	if err != nil {
		return nil, fmt.Errorf("mqtt session: %w", err)
	}
	s := &Session{
		opts: opts, log: opts.Logger.With("broker", opts.Broker, "client_id", opts.ClientID), clk: opts.Clock,
		spool: sp, queue: make(chan []byte, opts.QueueSize), inbox: make(chan inbound, opts.InboxSize),
	}
	if n := sp.Len(); n > 0 {
		s.log.Info("telemetry spool has frames from before, will replay them", "frames", n, "dir", opts.Spool.Dir)
	}
	return s, nil
}

// Topics returns the node's topics.
func (s *Session) Topics() Topics { return s.opts.Topics }

// Subscribe registers handler for filter. The subscription is made on every
// connect; handler runs on the session's dispatch goroutine, one message at
// a time, and may call Publish.
func (s *Session) Subscribe(filter string, qos byte, handler func(Message)) {
	s.mu.Lock()
	s.subs = append(s.subs, subscription{filter: filter, qos: qos, handler: handler})
	c := s.client
	s.mu.Unlock()
	if c != nil {
		s.subscribe(c, subscription{filter: filter, qos: qos, handler: handler})
	}
}

// OnConnect registers f to run (on the dispatch goroutine) after every
// connect, once the availability is published and the subscriptions are
// made: Home Assistant discovery and state are published from there.
func (s *Session) OnConnect(f func()) {
	s.mu.Lock()
	s.onConnect = append(s.onConnect, f)
	s.mu.Unlock()
}

// PublishTelemetry queues one encoded frame (the slice is copied). It never
// blocks: a frame that finds the queue full is dropped, counted and logged.
// After Run has returned, the frame goes straight to the spool.
func (s *Session) PublishTelemetry(frame []byte) {
	b := append([]byte(nil), frame...)
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		s.toSpool(b)
		if err := s.spool.Close(); err != nil { // keep no file open behind us
			s.log.Error("close telemetry spool", "err", err)
		}
		return
	}
	select {
	case s.queue <- b:
	default:
		s.queueDropped.Add(1)
		s.dropped.Add(1)
		s.log.Warn("telemetry queue full, frame dropped", "queue", cap(s.queue), "bytes", len(b))
	}
}

// Publish sends one message (not spooled) and waits for the broker's
// acknowledgement for QoS > 0.
func (s *Session) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil || !c.IsConnectionOpen() {
		return fmt.Errorf("publish %s: %w", topic, ErrNotConnected)
	}
	return s.wait(ctx, c.Publish(topic, qos, retained, payload), "publish "+topic)
}

func (s *Session) wait(ctx context.Context, tok paho.Token, what string) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case <-time.After(s.opts.PublishTimeout):
		return fmt.Errorf("%s: no acknowledgement within %v", what, s.opts.PublishTimeout)
	}
}

// Offline publishes "offline" (retained) on the status topic and waits for
// the broker. Call it before a planned halt: a clean disconnect sends no last
// will. Until the next start the session keeps saying "offline", also after a
// reconnect.
func (s *Session) Offline(ctx context.Context) error {
	s.mu.Lock()
	s.offline = true
	s.mu.Unlock()
	return s.Publish(ctx, s.opts.Topics.Status(), 1, true, []byte(Offline))
}

// Stats returns the telemetry counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	connected := s.client != nil
	s.mu.Unlock()
	return Stats{
		Sent: s.sent.Load(), Spooled: s.spooled.Load(), Replayed: s.replayed.Load(),
		Dropped:      s.dropped.Load() + s.spool.Dropped(),
		InboxDropped: s.inboxDropped.Load(), Waiting: s.spool.Len(), Connected: connected,
	}
}

// Run connects and keeps the session up until ctx is cancelled; it then
// publishes "offline", disconnects, moves waiting frames to the spool, closes
// it and returns nil.
func (s *Session) Run(ctx context.Context) error {
	dispatchDone := make(chan struct{})
	dctx, stopDispatch := context.WithCancel(context.Background())
	go func() { defer close(dispatchDone); s.dispatch(dctx) }()
	defer func() {
		stopDispatch()
		<-dispatchDone
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.drainToSpool()
		if err := s.spool.Close(); err != nil {
			s.log.Error("close telemetry spool", "err", err)
		}
	}()
	backoff := s.opts.MinReconnectInterval
	for ctx.Err() == nil {
		c, lost, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := jitter(backoff)
			s.log.Warn("cannot connect to the MQTT broker, retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
			s.spoolWhile(ctx, wait)
			backoff = min(2*backoff, s.opts.MaxReconnectInterval)
			continue
		}
		backoff = s.opts.MinReconnectInterval
		s.log.Info("connected to the MQTT broker")
		s.afterConnect(ctx, c)
		reason := s.pump(ctx, c, lost)
		s.mu.Lock()
		s.client = nil
		s.mu.Unlock()
		if ctx.Err() != nil {
			s.goodbye(c)
			break
		}
		c.Disconnect(0)
		s.log.Warn("MQTT connection down", "reason", reason, "spooled_frames", s.spool.Len())
		s.spoolWhile(ctx, jitter(s.opts.MinReconnectInterval))
	}
	return nil
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (s *Session) connect(ctx context.Context) (paho.Client, chan struct{}, error) {
	tlsCfg, err := tlsConfig(s.opts.ConnOptions)
	if err != nil {
		return nil, nil, err
	}
	lost := make(chan struct{})
	var once sync.Once
	o := paho.NewClientOptions().
		AddBroker(s.opts.Broker).
		SetClientID(s.opts.ClientID).
		SetUsername(s.opts.Username).
		SetPassword(s.opts.Password).
		SetCleanSession(true).
		SetOrderMatters(false).
		// Reconnection is ours: paho's own would resend an in-flight frame
		// that we have already put in the spool.
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(orDefault(s.opts.KeepAlive, 30*time.Second)).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(orDefault(s.opts.ConnectTimeout, 10*time.Second)).
		SetWriteTimeout(s.opts.PublishTimeout).
		SetWill(s.opts.Topics.Status(), Offline, 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.log.Debug("paho: connection lost", "err", err)
			once.Do(func() { close(lost) })
		}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			s.log.Debug("message on no subscription", "topic", m.Topic())
		})
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, nil, fmt.Errorf("connect %s as %s: %w", s.opts.Broker, s.opts.ClientID, err)
	}
	return c, lost, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func tlsConfig(o ConnOptions) (*tls.Config, error) {
	if o.CAFile == "" && o.CertFile == "" && o.KeyFile == "" && !o.InsecureSkipVerify && o.ServerName == "" {
		return nil, nil // plain TCP, or TLS with system roots (paho's default for ssl://)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in, logged
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt tls: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt tls: CA file %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("mqtt tls: a client certificate needs both cert_file and key_file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt tls: client certificate %s: %w", o.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// afterConnect announces availability, makes the subscriptions and tells the
// OnConnect hooks.
func (s *Session) afterConnect(ctx context.Context, c paho.Client) {
	s.mu.Lock()
	s.client = c
	status := Online
	if s.offline {
		status = Offline
	}
	if s.opts.InsecureSkipVerify {
		s.log.Warn("TLS certificate verification is OFF for this broker")
	}
	subs := append([]subscription(nil), s.subs...)
	s.mu.Unlock()
	if err := s.wait(ctx, c.Publish(s.opts.Topics.Status(), 1, true, status), "publish availability"); err != nil {
		s.log.Warn("cannot publish availability", "err", err)
	}
	for _, sub := range subs {
		s.subscribe(c, sub)
	}
	select {
	case s.inbox <- inbound{onConnect: true}:
	default:
		s.inboxDropped.Add(1)
		s.log.Warn("inbox full, on-connect hooks skipped")
	}
}

func (s *Session) subscribe(c paho.Client, sub subscription) {
	tok := c.Subscribe(sub.filter, sub.qos, func(_ paho.Client, m paho.Message) {
		msg := Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()}
		select {
		case s.inbox <- inbound{msg: msg, handler: sub.handler}:
		default:
			s.inboxDropped.Add(1)
			s.log.Warn("handlers lag, message dropped", "topic", msg.Topic, "bytes", len(msg.Payload))
		}
	})
	go func() {
		// Waiting here would block the caller (maybe a handler); the result
		// only matters for the log.
		if err := s.wait(context.Background(), tok, "subscribe "+sub.filter); err != nil {
			s.log.Warn("subscription failed", "err", err)
		}
	}()
}

func (s *Session) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-s.inbox:
			if in.onConnect {
				s.mu.Lock()
				hooks := append([]func(){}, s.onConnect...)
				s.mu.Unlock()
				for _, h := range hooks {
					h()
				}
				continue
			}
			in.handler(in.msg)
		}
	}
}

// pump sends telemetry until the connection fails or ctx ends. It returns
// why it stopped.
func (s *Session) pump(ctx context.Context, c paho.Client, lost chan struct{}) string {
	topic := s.opts.Topics.Tele()
	for {
		var payload []byte
		fromSpool := false
		if s.spool.Len() > 0 {
			// Order: while older frames wait on disk, new ones queue behind
			// them there.
			s.drainToSpool()
			rec, ok, err := s.spool.Peek(s.clk.Now())
			if err != nil {
				s.log.Error("read telemetry spool", "err", err)
			}
			if ok {
				payload, fromSpool = rec.Payload, true
			}
		}
		if payload == nil {
			select {
			case payload = <-s.queue:
			case <-lost:
				return "connection lost"
			case <-ctx.Done():
				return "stopping"
			}
		}
		tok := c.Publish(topic, 1, false, payload)
		var failure string
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				failure = err.Error()
			}
		case <-lost:
			failure = "connection lost"
		case <-ctx.Done():
			failure = "stopping"
		case <-time.After(s.opts.PublishTimeout):
			failure = fmt.Sprintf("no PUBACK within %v", s.opts.PublishTimeout)
		}
		if failure == "" {
			if fromSpool {
				s.spool.Pop()
				s.replayed.Add(1)
			} else {
				s.sent.Add(1)
			}
			continue
		}
		if !fromSpool {
			s.toSpool(payload)
		}
		s.drainToSpool()
		return failure
	}
}

func (s *Session) toSpool(payload []byte) {
	if err := s.spool.Append(s.clk.Now(), payload); err != nil {
		s.dropped.Add(1)
		s.log.Error("telemetry frame lost: cannot spool it", "err", err)
		return
	}
	s.spooled.Add(1)
}

func (s *Session) drainToSpool() {
	for {
		select {
		case b := <-s.queue:
			s.toSpool(b)
		default:
			return
		}
	}
}

// spoolWhile waits d (or until ctx ends), putting frames that arrive into
// the spool so an agent restart does not lose them.
func (s *Session) spoolWhile(ctx context.Context, d time.Duration) {
	timer := s.clk.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
			return
		case b := <-s.queue:
			s.toSpool(b)
		}
	}
}

// goodbye is the clean end: say offline (a clean disconnect sends no will).
func (s *Session) goodbye(c paho.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.wait(ctx, c.Publish(s.opts.Topics.Status(), 1, true, Offline), "publish offline"); err != nil {
		s.log.Warn("could not say offline before disconnecting", "err", err)
	}
	c.Disconnect(250)
}
