package peers

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one MQTT message as a Recorder received it.
type Message struct {
	N        int // position in the recording
	Topic    string
	Payload  []byte
	Retained bool      // the broker flagged it retained (sent at subscription)
	Dup      bool      // the broker flagged it a redelivery
	At       time.Time // real time of arrival
}

// SubscribeOpts are the choices of a Recorder; nil means the defaults.
type SubscribeOpts struct {
	// ID is the client identifier; empty: one made of the test's name,
	// unique in the test binary.
	ID string
	// Persistent asks for a persistent session (clean session false): the
	// broker keeps the subscriptions and queues QoS 1 messages while the
	// client is away, and delivers them when it connects again with the
	// same ID (Reconnect, or its own reconnection after a broker restart).
	Persistent bool
}

// Recorder is a client subscribed with QoS 1 that keeps every message it
// receives, in arrival order. It reconnects by itself when it loses the
// broker; it disconnects when the test ends.
type Recorder struct {
	t          testing.TB
	url, id    string
	persistent bool
	filters    []string
	mu         sync.Mutex
	msgs       []Message
	client     paho.Client
	connects   int
}

// Subscribe connects a Recorder to the broker at url and subscribes to the
// topic filters (none: "#", everything).
func Subscribe(t testing.TB, url string, o *SubscribeOpts, filters ...string) *Recorder {
	t.Helper()
	if o == nil {
		o = &SubscribeOpts{}
	}
	if len(filters) == 0 {
		filters = []string{"#"}
	}
	r := &Recorder{t: t, url: url, id: o.ID, persistent: o.Persistent, filters: filters}
	if r.id == "" {
		r.id = clientID(t, "rec")
	}
	r.connect(true)
	t.Cleanup(r.Disconnect)
	return r
}

func (r *Recorder) connect(subscribe bool) {
	r.t.Helper()
	opts := paho.NewClientOptions().AddBroker(r.url).SetClientID(r.id).SetCleanSession(!r.persistent).
		SetOrderMatters(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		// Messages a persistent session gets at its connection come before
		// any subscription of this client: one handler takes them all.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { r.add(m) }).
		SetOnConnectHandler(func(paho.Client) {
			r.mu.Lock()
			r.connects++
			r.mu.Unlock()
		})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(Patience) || tok.Error() != nil {
		c.Disconnect(0)
		r.t.Fatalf("subscriber %s: connect to %s: %v", r.id, r.url, tokenError(tok))
	}
	if subscribe || !r.persistent {
		for _, f := range r.filters {
			tok := c.Subscribe(f, 1, nil)
			if !tok.WaitTimeout(Patience) || tok.Error() != nil {
				c.Disconnect(0)
				r.t.Fatalf("subscriber %s: subscribe to %s on %s: %v", r.id, f, r.url, tokenError(tok))
			}
		}
	}
	r.mu.Lock()
	r.client = c
	r.mu.Unlock()
}

func (r *Recorder) add(m paho.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, Message{N: len(r.msgs), Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...),
		Retained: m.Retained(), Dup: m.Duplicate(), At: time.Now()})
}

// Disconnect leaves the broker (a persistent session stays there).
func (r *Recorder) Disconnect() {
	r.mu.Lock()
	c := r.client
	r.client = nil
	r.mu.Unlock()
	if c != nil {
		c.Disconnect(250)
	}
}

// Reconnect connects again after Disconnect, with the same ID: a persistent
// session gets what the broker queued meanwhile and subscribes to nothing
// new; a clean one subscribes again.
func (r *Recorder) Reconnect() {
	r.t.Helper()
	r.connect(false)
}

// Connects is how many times the Recorder connected, its own reconnections
// included.
func (r *Recorder) Connects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects
}

// Count is the number of messages recorded so far: a mark to look after.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// On returns the messages on topic recorded at or after mark, in order.
func (r *Recorder) On(topic string, mark int) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Message
	for _, m := range r.msgs[min(max(mark, 0), len(r.msgs)):] {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// Matching returns the messages whose topic matches re, at or after mark.
func (r *Recorder) Matching(re *regexp.Regexp, mark int) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Message
	for _, m := range r.msgs[min(max(mark, 0), len(r.msgs)):] {
		if re.MatchString(m.Topic) {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the latest message on topic at or after mark.
func (r *Recorder) Last(topic string, mark int) (Message, bool) {
	ms := r.On(topic, mark)
	if len(ms) == 0 {
		return Message{}, false
	}
	return ms[len(ms)-1], true
}

// WaitFor waits for the first message on topic at or after mark that ok
// accepts (nil: any) and returns it; if none comes within timeout the test
// fails, saying what it waited for and what came instead.
func (r *Recorder) WaitFor(topic string, mark int, timeout time.Duration, what string, ok func(Message) bool) Message {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range r.On(topic, mark) {
			if ok == nil || ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, m := range r.On(topic, mark) {
				seen = append(seen, Abbrev(m.Payload))
			}
			r.t.Fatalf("%s: nothing suitable on %s within %v; saw %d messages there: %s", what, topic, timeout, len(seen), strings.Join(seen, " | "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client connects a client that publishes (id empty: one made of the
// test's name); it disconnects when the test ends.
func Client(t testing.TB, url, id string) paho.Client {
	t.Helper()
	if id == "" {
		id = clientID(t, "pub")
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetOrderMatters(true).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(Patience) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tokenError(tok))
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish sends one message and waits until the broker has taken it.
func Publish(t testing.TB, c paho.Client, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(Patience) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tokenError(tok))
	}
}

// Retained reads the retained message of topic as a client that connects
// now would (Home Assistant after a restart): a fresh subscription, where a
// message counts only if the broker flags it retained. A message that
// comes live instead was published after the subscription: the client
// subscribes again, and the broker sends it again, flagged retained if it
// was retained.
func Retained(t testing.TB, url, topic string) []byte {
	t.Helper()
	return retained(t, url, topic, func() {})
}

// retained is Retained with a hook called after the first subscription.
func retained(t testing.TB, url, topic string, subscribed func()) []byte {
	t.Helper()
	c := Client(t, url, clientID(t, "retained"))
	defer c.Disconnect(50)
	got := make(chan []byte, 1)
	live := make(chan struct{}, 1)
	handler := func(_ paho.Client, m paho.Message) {
		if !m.Retained() {
			select {
			case live <- struct{}{}:
			default:
			}
			return
		}
		select {
		case got <- append([]byte(nil), m.Payload()...):
		default:
		}
	}
	subscribe := func() {
		tok := c.Subscribe(topic, 1, handler)
		if !tok.WaitTimeout(Patience) || tok.Error() != nil {
			t.Fatalf("subscribe to %s: %v", topic, tokenError(tok))
		}
	}
	subscribe()
	subscribed()
	deadline := time.After(Patience)
	for {
		select {
		case b := <-got:
			return b
		case <-live:
			subscribe()
		case <-deadline:
			t.Fatalf("no retained message on %s within %v", topic, Patience)
			return nil
		}
	}
}

var clients atomic.Int64

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// clientID makes a client identifier from the test's name, unique in the
// test binary: two clients with one ID would throw each other off.
func clientID(t testing.TB, kind string) string {
	return fmt.Sprintf("%s-%s-%d", kind, unsafeID.ReplaceAllString(t.Name(), "_"), clients.Add(1))
}

// tokenError says why a token failed: its error, or that it timed out.
func tokenError(tok paho.Token) error {
	if err := tok.Error(); err != nil {
		return err
	}
	return fmt.Errorf("no answer within %v", Patience)
}
