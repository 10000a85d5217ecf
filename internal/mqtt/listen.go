package mqtt

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/veille/veille/internal/telemetry"
)

// ListenOptions configure Listen.
type ListenOptions struct {
	ConnOptions
	Prefix string // "" means DefaultPrefix
	Node   string // "" or "+" for every node
	// Buffer bounds frames waiting to be printed; past it they are dropped
	// with an error line. 0: 256.
	Buffer int
	Logger *slog.Logger
}

// Listen subscribes to <prefix>/<node>/tele and writes one JSON line per
// frame to out (telemetry.AppendJSON) until ctx is cancelled. A message that
// does not decode gives an error line naming its topic and size instead:
//
//	{"topic":"veille/pi/tele","size":3,"error":"..."}
func Listen(ctx context.Context, opts ListenOptions, out io.Writer) error {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Node == "" {
		opts.Node = "+"
	}
	if opts.Node != "+" {
		if err := ValidNode(opts.Node); err != nil {
			return err
		}
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.ClientID == "" {
		opts.ClientID = "veille-listen-" + strconv.FormatUint(rand.Uint64()&0xffffffff, 16)
	}
	tlsCfg, err := tlsConfig(opts.ConnOptions)
	if err != nil {
		return err
	}
	filter := opts.Prefix + "/" + opts.Node + "/tele"
	msgs := make(chan Message, opts.Buffer)
	handler := func(_ paho.Client, m paho.Message) {
		select {
		case msgs <- Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)}:
		default:
			// The output is slower than the stream; never block paho.
			log.Warn("output lags, frame dropped", "topic", m.Topic(), "bytes", len(m.Payload()))
		}
	}
	o := paho.NewClientOptions().AddBroker(opts.Broker).SetClientID(opts.ClientID).
		SetUsername(opts.Username).SetPassword(opts.Password).
		SetCleanSession(true).SetOrderMatters(false).SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * 1e9).
		SetKeepAlive(orDefault(opts.KeepAlive, 30e9)).SetConnectTimeout(orDefault(opts.ConnectTimeout, 10e9)).
		SetOnConnectHandler(func(c paho.Client) {
			// Subscriptions are re-made on every connect (clean session).
			c.Subscribe(filter, 1, handler)
			log.Info("listening", "filter", filter)
		})
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("listen: connect %s: %w", opts.Broker, err)
	}
	defer c.Disconnect(250)
	w := bufio.NewWriter(out)
	var line []byte
	for {
		select {
		case <-ctx.Done():
			return w.Flush()
		case m := <-msgs:
			line = renderLine(line[:0], m)
			if _, err := w.Write(line); err != nil {
				return fmt.Errorf("listen: write: %w", err)
			}
			if len(msgs) == 0 {
				if err := w.Flush(); err != nil {
					return fmt.Errorf("listen: write: %w", err)
				}
			}
		}
	}
}

// renderLine turns one message into a JSON line: the frame, or an error.
func renderLine(dst []byte, m Message) []byte {
	node := nodeOf(m.Topic)
	f, err := telemetry.Decode(m.Payload)
	if err != nil {
		b, _ := json.Marshal(struct {
			Topic string `json:"topic"`
			Size  int    `json:"size"`
			Error string `json:"error"`
		}{m.Topic, len(m.Payload), err.Error()}) // cannot fail: strings and an int
		dst = append(dst, b...)
		return append(dst, '\n')
	}
	return telemetry.AppendJSON(dst, node, f)
}

// nodeOf extracts <node> from <prefix>/<node>/tele.
func nodeOf(topic string) string {
	parts := strings.Split(topic, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return topic
}
