package telemetry

import (
	"encoding/json"
	"fmt"
)

// Meta is the retained description of a node's stream, published as JSON on
// <prefix>/<node>/meta. Frames carry only channel IDs and disk positions; Meta
// names them, so a consumer joins the two. It changes only with the
// configuration.
type Meta struct {
	Schema     int           `json:"schema"` // telemetry schema version (Version)
	Node       string        `json:"node"`
	IntervalMS uint32        `json:"interval_ms"`
	Samples    int           `json:"samples_per_frame"`
	Channels   []MetaChannel `json:"channels"`
	Disks      []MetaDisk    `json:"disks"`
	// Units names the unit of every quantity in the frames.
	Units map[string]string `json:"units"`
	// Software is the agent's version string.
	Software string `json:"sw,omitempty"`
}

// MetaChannel describes one measured rail.
type MetaChannel struct {
	ID   uint16 `json:"id"`
	Name string `json:"name"`           // what the rail feeds: "pi", "usb-disk-1"
	Chip string `json:"chip,omitempty"` // "ina226", "hwmon:ina3221", ...
	Bus  string `json:"bus,omitempty"`  // "/dev/i2c-1 0x40 ch1"
	// ShuntMicroOhms is the shunt resistor (0 when the chip has it inside).
	ShuntMicroOhms int64 `json:"shunt_uohm,omitempty"`
	// MaxCurrentMilliAmps is the configured full scale.
	MaxCurrentMilliAmps int64 `json:"max_current_mA,omitempty"`
}

// MetaDisk describes a disk at a position of the frames' disk list.
type MetaDisk struct {
	Index   int     `json:"index"`
	Name    string  `json:"name"`              // label or configured name
	UUID    string  `json:"uuid,omitempty"`    // filesystem UUID
	Channel *uint16 `json:"channel,omitempty"` // the rail that feeds it, if measured
}

// WireUnits is the Units map of every schema-1 Meta.
func WireUnits() map[string]string {
	return map[string]string{
		"time":     "Unix ms",
		"voltage":  "mV",
		"current":  "mA",
		"power":    "mW",
		"energy":   "mWh",
		"soc_temp": "0.1 °C",
	}
}

// MarshalMeta returns m as JSON, filling Schema and Units.
func MarshalMeta(m Meta) ([]byte, error) {
	m.Schema = Version
	m.Units = WireUnits()
	if m.Channels == nil {
		m.Channels = []MetaChannel{}
	}
	if m.Disks == nil {
		m.Disks = []MetaDisk{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("telemetry: encode meta for %q: %w", m.Node, err)
	}
	return b, nil
}
