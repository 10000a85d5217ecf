// Package homeassistant makes a veille node a Home Assistant device over
// MQTT: discovery (device-based, or per entity for older installs), the JSON
// state and schedule topics that the entities read, button events, and the
// fixed command vocabulary (see ParseCommand). docs/homeassistant.md lists
// the entities.
//
// Home Assistant cannot decode the CBOR telemetry, so it gets its own JSON
// state, published at a slow cadence and on significant change only (its
// recorder database grows with every state). Discovery, availability and the
// schedule are retained: the Pi halts on a schedule, and Home Assistant may
// restart meanwhile; "next sleep" and "next wake" carry no availability so
// they stay readable while the Pi is off.
package homeassistant

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/veille/veille/internal/telemetry"
)

// Topics are the node's topics, <prefix>/<node>/<leaf>: the same layout as
// mqtt.Topics (converting one to the other is a plain type conversion), kept
// here so this package does not depend on the transport.
type Topics struct {
	Prefix string // default "veille"
	Node   string // [a-zA-Z0-9_-]+
}

func (t Topics) leaf(s string) string { return t.Prefix + "/" + t.Node + "/" + s }

// Status is the availability topic ("online"/"offline", retained, last will).
func (t Topics) Status() string { return t.leaf("status") }

// State is the retained JSON state.
func (t Topics) State() string { return t.leaf("state") }

// Schedule is the retained next sleep / next wake.
func (t Topics) Schedule() string { return t.leaf("schedule") }

// Event carries button presses.
func (t Topics) Event() string { return t.leaf("event") }

// Cmd is the topic of command name.
func (t Topics) Cmd(name string) string { return t.leaf("cmd/" + name) }

// CmdFilter matches every command topic.
func (t Topics) CmdFilter() string { return t.leaf("cmd/+") }

// DiscoveryMode chooses the discovery topics.
type DiscoveryMode int

const (
	// DeviceDiscovery publishes one retained config for the whole device on
	// <discovery prefix>/device/<node>/config (Home Assistant ≥ 2024.12).
	DeviceDiscovery DiscoveryMode = iota
	// EntityDiscovery publishes one retained config per entity on
	// <discovery prefix>/<platform>/<node>/<key>/config, for older Home
	// Assistant, openHAB and Domoticz.
	EntityDiscovery
)

// Device describes the node for Home Assistant's device registry.
type Device struct {
	Name         string // shown in HA; default the node name
	Manufacturer string
	Model        string // e.g. "Raspberry Pi 5 Model B Rev 1.0"
	SWVersion    string // veille's version
	HWVersion    string
	SerialNumber string
	ConfigURL    string // e.g. the OpenMediaVault page
}

// Channel names a measured rail for HA.
type Channel struct {
	ID   uint16 // telemetry channel ID
	Key  string // [a-z0-9_]+, used in unique IDs and the state JSON
	Name string // "USB disk 1"
}

// Disk names a disk for HA.
type Disk struct {
	Key  string // [a-z0-9_]+
	Name string
}

var keyRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// component is one entity's discovery config.
type component struct {
	key      string // unique within the device
	platform string
	cfg      map[string]any
}

// components lists every entity of the device. The value templates read
// the state JSON built by stateJSON; a test checks that they agree.
func (r *Reporter) components() []component {
	t := r.opts.Topics
	avail := t.Status()
	state := t.State()
	expire := int((3 * r.opts.StateInterval).Seconds())
	var out []component
	add := func(key, platform string, cfg map[string]any) {
		cfg["unique_id"] = r.opts.Topics.Node + "_" + key
		if _, ok := cfg["availability_topic"]; !ok && !r.noAvailability[key] {
			cfg["availability_topic"] = avail
		}
		out = append(out, component{key: key, platform: platform, cfg: cfg})
	}
	measure := func(key, name, path, class, unit string, precision int, diagnostic bool) {
		cfg := map[string]any{
			"name": name, "state_topic": state, "value_template": "{{ value_json." + path + " }}",
			"device_class": class, "unit_of_measurement": unit, "state_class": "measurement",
			"suggested_display_precision": precision, "expire_after": expire,
		}
		if diagnostic {
			cfg["entity_category"] = "diagnostic"
		}
		add(key, "sensor", cfg)
	}
	for _, c := range r.opts.Channels {
		p := "ch." + c.Key
		measure(c.Key+"_voltage", c.Name+" voltage", p+".v", "voltage", "V", 2, true)
		measure(c.Key+"_current", c.Name+" current", p+".a", "current", "A", 3, true)
		measure(c.Key+"_power", c.Name+" power", p+".w", "power", "W", 2, false)
		// Energy dashboard: device_class energy, total_increasing, kWh, and a
		// lifetime counter that never decreases (the state JSON holds the
		// persisted counter and never a negative value).
		add(c.Key+"_energy", "sensor", map[string]any{
			"name": c.Name + " energy", "state_topic": state, "value_template": "{{ value_json." + p + ".kwh }}",
			"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing",
			"suggested_display_precision": 3,
		})
		// Today's energy for dashboards; it falls to zero at local midnight,
		// which total_increasing counts as a new cycle. Use the lifetime
		// counter above for the Energy dashboard.
		add(c.Key+"_energy_today", "sensor", map[string]any{
			"name": c.Name + " energy today", "state_topic": state, "value_template": "{{ value_json." + p + ".today_kwh }}",
			"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing",
			"suggested_display_precision": 3, "icon": "mdi:calendar-today",
		})
	}
	measure("soc_temperature", "SoC temperature", "soc_temp", "temperature", "°C", 1, true)
	add("throttled", "binary_sensor", map[string]any{
		"name": "Throttled", "state_topic": state, "device_class": "problem", "entity_category": "diagnostic",
		"value_template":           "{{ 'ON' if value_json.throttled else 'OFF' }}",
		"json_attributes_topic":    state,
		"json_attributes_template": "{{ {'flags': value_json.throttled_flags} | tojson }}",
	})
	for _, d := range r.opts.Disks {
		add("disk_"+d.Key, "sensor", map[string]any{
			"name": d.Name, "state_topic": state, "value_template": "{{ value_json.disks." + d.Key + " }}",
			"device_class": "enum", "options": diskOptions(), "icon": "mdi:harddisk",
		})
	}
	add("scheduler", "sensor", map[string]any{
		"name": "Scheduler", "state_topic": state, "value_template": "{{ value_json.scheduler }}",
		"device_class": "enum", "options": schedulerOptions(), "icon": "mdi:sleep",
	})
	add("scheduler_reason", "sensor", map[string]any{
		"name": "Scheduler reason", "state_topic": state, "value_template": "{{ value_json.reason }}",
		"icon": "mdi:information-outline",
	})
	// Readable while the Pi is off: retained schedule topic, no availability.
	add("next_sleep", "sensor", map[string]any{
		"name": "Next sleep", "state_topic": t.Schedule(), "value_template": "{{ value_json.next_sleep }}",
		"device_class": "timestamp",
	})
	add("next_wake", "sensor", map[string]any{
		"name": "Next wake", "state_topic": t.Schedule(), "value_template": "{{ value_json.next_wake }}",
		"device_class": "timestamp",
	})
	add("energy_saved", "sensor", map[string]any{
		"name": "Energy saved", "state_topic": state, "value_template": "{{ value_json.saved_kwh }}",
		"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing",
		"suggested_display_precision": 3, "icon": "mdi:leaf",
	})
	add("co2e_avoided", "sensor", map[string]any{
		"name": "CO2e avoided", "state_topic": state, "value_template": "{{ value_json.co2e_kg }}",
		"device_class": "weight", "unit_of_measurement": "kg", "state_class": "total_increasing",
		"suggested_display_precision": 2, "icon": "mdi:molecule-co2",
	})
	button := func(cmd, name, class, category string) {
		cfg := map[string]any{"name": name, "command_topic": t.Cmd(cmd), "payload_press": "PRESS"}
		if class != "" {
			cfg["device_class"] = class
		}
		if category != "" {
			cfg["entity_category"] = category
		}
		add(cmd, "button", cfg)
	}
	button(CmdSleepNow, "Sleep now", "", "")
	button(CmdSleepDisks, "Sleep disks", "", "")
	button(CmdWakeDisks, "Wake disks", "", "")
	button(CmdReboot, "Reboot", "restart", "config")
	button(CmdShutdown, "Shut down", "", "config")
	button(CmdRefresh, "Refresh", "", "diagnostic")
	add(CmdSchedule, "switch", map[string]any{
		"name": "Sleep schedule", "command_topic": t.Cmd(CmdSchedule), "state_topic": state,
		"value_template": "{{ 'ON' if value_json.schedule_enabled else 'OFF' }}",
		"payload_on":     "ON", "payload_off": "OFF", "icon": "mdi:calendar-clock",
	})
	add(CmdStayAwake, "number", map[string]any{
		"name": "Stay awake", "command_topic": t.Cmd(CmdStayAwake), "state_topic": state,
		"value_template": "{{ value_json.stay_awake_h }}",
		"min":            0, "max": MaxStayAwakeHours, "step": 1, "mode": "box", "unit_of_measurement": "h",
		"icon": "mdi:coffee",
	})
	add("button", "event", map[string]any{
		"name": "Button", "state_topic": t.Event(), "event_types": []string{PressShort, PressLong, PressDouble},
		"device_class": "button",
	})
	return out
}

func diskOptions() []string {
	return []string{telemetry.DiskUnknown.String(), telemetry.DiskActive.String(), telemetry.DiskStandby.String(), telemetry.DiskOff.String()}
}

func schedulerOptions() []string {
	var o []string
	for s := telemetry.SchedulerUnknown; s <= telemetry.SchedulerHalting; s++ {
		o = append(o, s.String())
	}
	return o
}

func (r *Reporter) deviceBlock() map[string]any {
	d := r.opts.Device
	dev := map[string]any{"identifiers": []string{"veille_" + r.opts.Topics.Node}, "name": d.Name}
	for k, v := range map[string]string{"manufacturer": d.Manufacturer, "model": d.Model, "sw_version": d.SWVersion,
		"hw_version": d.HWVersion, "serial_number": d.SerialNumber, "configuration_url": d.ConfigURL} {
		if v != "" {
			dev[k] = v
		}
	}
	return dev
}

func (r *Reporter) originBlock() map[string]any {
	o := map[string]any{"name": "veille"}
	if r.opts.Device.SWVersion != "" {
		o["sw_version"] = r.opts.Device.SWVersion
	}
	return o
}

// DiscoveryMessage is one retained config to publish.
type DiscoveryMessage struct {
	Topic   string
	Payload []byte
}

// Discovery returns the retained config messages of the chosen mode.
func (r *Reporter) Discovery() ([]DiscoveryMessage, error) {
	comps := r.components()
	if r.opts.Mode == EntityDiscovery {
		out := make([]DiscoveryMessage, 0, len(comps))
		for _, c := range comps {
			cfg := map[string]any{"device": r.deviceBlock(), "origin": r.originBlock()}
			for k, v := range c.cfg {
				cfg[k] = v
			}
			b, err := json.Marshal(cfg)
			if err != nil {
				return nil, fmt.Errorf("homeassistant: discovery for %s: %w", c.key, err)
			}
			out = append(out, DiscoveryMessage{Topic: r.entityTopic(c.platform, c.key), Payload: b})
		}
		return out, nil
	}
	cmps := make(map[string]any, len(comps))
	for _, c := range comps {
		cfg := map[string]any{"platform": c.platform}
		for k, v := range c.cfg {
			cfg[k] = v
		}
		cmps[c.key] = cfg
	}
	b, err := json.Marshal(map[string]any{"device": r.deviceBlock(), "origin": r.originBlock(), "components": cmps})
	if err != nil {
		return nil, fmt.Errorf("homeassistant: device discovery: %w", err)
	}
	return []DiscoveryMessage{{Topic: r.deviceTopic(), Payload: b}}, nil
}

func (r *Reporter) deviceTopic() string {
	return r.opts.DiscoveryPrefix + "/device/" + r.opts.Topics.Node + "/config"
}

func (r *Reporter) entityTopic(platform, key string) string {
	return r.opts.DiscoveryPrefix + "/" + platform + "/" + r.opts.Topics.Node + "/" + key + "/config"
}

// configTopics lists every config topic of both modes, for Purge.
func (r *Reporter) configTopics() []string {
	topics := []string{r.deviceTopic()}
	for _, c := range r.components() {
		topics = append(topics, r.entityTopic(c.platform, c.key))
	}
	sort.Strings(topics[1:])
	return topics
}

// Key turns a configured name into an entity key: lower case, runs of
// anything but [a-z0-9] become one '_' ("USB disk 1" → "usb_disk_1").
// An empty result becomes "x".
func Key(name string) string {
	var b []byte
	sep := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if sep && len(b) > 0 {
				b = append(b, '_')
			}
			b = append(b, byte(r))
			sep = false
			continue
		}
		sep = true
	}
	if len(b) == 0 {
		return "x"
	}
	return string(b)
}
