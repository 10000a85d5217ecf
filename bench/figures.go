//go:build bench

package bench

import (
	"encoding/json"
	"os"
	"time"
)

// Figures are the results of TestFigures, read by the report command.
type Figures struct {
	Accuracy []PhaseResult
	Wire     []WireResult
	HA       []HAResult
}

// HAResult is the Home Assistant stream of one simulated span, published by
// the real homeassistant.Reporter at its default cadence (60 s, plus
// significant changes no more often than every 5 s).
type HAResult struct {
	Profile string
	Span    time.Duration
	// StateInterval is the reporter's heartbeat (the shipped default).
	StateInterval time.Duration
	// The state topic: retained JSON, QoS 1.
	StateMessages int
	StateBytes    int // payloads
	StatePackets  int // MQTT PUBLISH packets (topic and header included)
	// Discovery: the retained configs, sent once per connection (and after
	// Home Assistant restarts).
	DiscoveryMessages int
	DiscoveryBytes    int
	DiscoveryPackets  int
	// DiscoveryEntities counts the Home Assistant entities announced, by
	// platform (sensor, button, switch…).
	DiscoveryEntities map[string]int
	// Entities is the number of values in one state message (its JSON
	// leaves).
	Entities int
	// The same values published the reference tools' ways every 60 s: one
	// message per value as plain text on its own topic (rpi-mqtt-monitor),
	// or one flat JSON object (system_sensors).
	PerValueMessages, PerValuePackets int
	FlatJSONMessages, FlatJSONPackets int
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a file written by WriteJSON.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
