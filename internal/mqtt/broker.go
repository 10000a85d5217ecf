package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:1883"; port 0
	// picks a free one (see Broker.Addr). Keep it on loopback unless the
	// house network is trusted: every client is allowed.
	Addr   string
	Logger *slog.Logger // nil: discard
}

// Broker is an embedded MQTT broker (mochi-mqtt) for the demo and for a
// house without a broker. It allows every client and keeps retained messages
// in memory only: Home Assistant, which should outlive a Pi that halts every
// night, is better served by its own Mosquitto add-on.
type Broker struct {
	srv *mochi.Server
	tcp *listeners.TCP
}

// StartBroker listens on opts.Addr; Run serves.
func StartBroker(opts BrokerOptions) (*Broker, error) {
	if opts.Addr == "" {
		return nil, errors.New("embedded broker: no listen address")
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("embedded broker: listen address %q: %w", opts.Addr, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{Logger: log, InlineClient: false})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: auth hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: "tcp", ID: "veille-tcp", Address: opts.Addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", opts.Addr, err)
	}
	return &Broker{srv: srv, tcp: tcp}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker URL for a client: tcp://Addr.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Run serves clients until ctx is cancelled, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("embedded broker on %s: %w", b.Addr(), err)
	}
	<-ctx.Done()
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("embedded broker on %s: close: %w", b.Addr(), err)
	}
	return nil
}
