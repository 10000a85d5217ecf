// Package mqtt is veille's transport: a Session over eclipse/paho.mqtt.golang
// (TLS, credentials, last will, reconnect with capped backoff, subscriptions
// re-made on every connect, handlers that never block the client), an on-disk
// Spool for telemetry the broker did not acknowledge, Listen for
// `veille listen`, and an embedded broker (mochi-mqtt) for the demo and for
// houses without one.
//
// # Delivery of telemetry
//
// Frames are published with QoS 1, one in flight at a time, and the next
// frame leaves only after the broker's PUBACK. A frame that is not
// acknowledged (not connected, connection lost, no PUBACK within
// PublishTimeout) goes to the spool, and so does every later frame until the
// spool has been replayed, in order, after reconnection: the broker sees the
// frames in their original order with their original timestamps (they are
// inside the frames). Nothing is written to disk while the broker is up and
// acknowledging.
//
// This is at-least-once: if the broker forwarded a frame and died before its
// PUBACK reached us, the frame is sent again after the restart. Consumers drop
// such duplicates by (run, seq), which also shows any loss. QoS 2 would not
// remove that case: its exactly-once state lives in the broker's session,
// which a killed broker without persistence loses, and paho's own store is
// unbounded and lost with the process; a bounded spool that we own is simpler
// to reason about and survives a restart of the agent.
package mqtt

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix is the first level of every veille topic.
const DefaultPrefix = "veille"

var nodeRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Topics builds a node's topic names: <prefix>/<node>/<leaf>.
type Topics struct {
	Prefix string
	Node   string
}

// NewTopics validates prefix (default "veille") and node.
func NewTopics(prefix, node string) (Topics, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidNode(node); err != nil {
		return Topics{}, err
	}
	if strings.ContainsAny(prefix, "+#\x00") || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") ||
		strings.HasPrefix(prefix, "$") || strings.Contains(prefix, "//") {
		return Topics{}, fmt.Errorf("mqtt: topic prefix %q: no wildcards, no leading '$', no empty levels", prefix)
	}
	return Topics{Prefix: prefix, Node: node}, nil
}

// ValidNode checks a node name: [a-zA-Z0-9_-]+, as Home Assistant's
// discovery topics require.
func ValidNode(node string) error {
	if !nodeRE.MatchString(node) {
		return fmt.Errorf("mqtt: node name %q: use only letters, digits, '_' and '-'", node)
	}
	return nil
}

func (t Topics) leaf(s string) string { return t.Prefix + "/" + t.Node + "/" + s }

// Tele carries CBOR telemetry frames (QoS 1, not retained).
func (t Topics) Tele() string { return t.leaf("tele") }

// Meta carries the retained JSON description of the stream.
func (t Topics) Meta() string { return t.leaf("meta") }

// Status is the availability topic: "online"/"offline", retained, last will.
func (t Topics) Status() string { return t.leaf("status") }

// State carries the retained JSON state for Home Assistant.
func (t Topics) State() string { return t.leaf("state") }

// Schedule carries the retained next sleep / next wake, readable while the
// Pi is off.
func (t Topics) Schedule() string { return t.leaf("schedule") }

// Event carries button presses (JSON, not retained).
func (t Topics) Event() string { return t.leaf("event") }

// Cmd is the topic of command name.
func (t Topics) Cmd(name string) string { return t.leaf("cmd/" + name) }

// CmdFilter subscribes to every command.
func (t Topics) CmdFilter() string { return t.leaf("cmd/+") }

// Payloads of the Status topic.
const (
	Online  = "online"
	Offline = "offline"
)
