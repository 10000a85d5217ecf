package homeassistant

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// documentedEntities are the entity keys docs/homeassistant.md lists, besides
// the four per measured channel (<ch>_voltage, _current, _power, _energy) and
// one per disk (disk_<disk>).
var documentedEntities = []string{
	"soc_temperature", "throttled", "scheduler", "scheduler_reason", "next_sleep", "next_wake",
	"energy_saved", "co2e_avoided", "sleep_now", "sleep_disks", "wake_disks", "reboot", "shutdown",
	"refresh", "schedule", "stay_awake", "button",
}

// meta is the part of the retained meta topic that names channels and disks.
type meta struct {
	Channels []struct{ Name string } `json:"channels"`
	Disks    []struct{ Name string } `json:"disks"`
}

// entityKey makes a configured name into an entity key as documented:
// lower case, runs of anything else than [a-z0-9] become one '_'.
func entityKey(name string) string {
	k := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "_"), "_")
	if k == "" {
		return "x"
	}
	return k
}

// expectedEntities lists the documented entities of a node described by m.
func expectedEntities(m meta) []string {
	out := append([]string(nil), documentedEntities...)
	for _, c := range m.Channels {
		k := entityKey(c.Name)
		out = append(out, k+"_voltage", k+"_current", k+"_power", k+"_energy")
	}
	for _, d := range m.Disks {
		out = append(out, "disk_"+entityKey(d.Name))
	}
	return out
}

func readMeta(t *testing.T, b []byte) meta {
	t.Helper()
	var m meta
	if err := json.Unmarshal(b, &m); err != nil || len(m.Channels) == 0 {
		t.Fatalf("meta %s: %v (or no channels)", peers.Abbrev(b), err)
	}
	return m
}

// state is the JSON state as documented (docs/homeassistant.md).
type state struct {
	Ch map[string]struct {
		V, A, W *float64
		KWh     *float64 `json:"kwh"`
		// TodayKWh restarts at zero at local midnight; it never exceeds KWh.
		TodayKWh *float64 `json:"today_kwh"`
	} `json:"ch"`
	SoCTemp         *float64          `json:"soc_temp"`
	Throttled       *bool             `json:"throttled"`
	ThrottledFlags  []string          `json:"throttled_flags"`
	Disks           map[string]string `json:"disks"`
	Scheduler       string            `json:"scheduler"`
	Reason          *string           `json:"reason"`
	ScheduleEnabled *bool             `json:"schedule_enabled"`
	StayAwakeH      *float64          `json:"stay_awake_h"`
	SavedKWh        *float64          `json:"saved_kwh"`
	CO2eKg          *float64          `json:"co2e_kg"`
}

func parseState(b []byte) (state, error) {
	var s state
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return s, err
	}
	switch {
	case s.Throttled == nil || s.ScheduleEnabled == nil || s.StayAwakeH == nil || s.SavedKWh == nil || s.CO2eKg == nil || s.Reason == nil:
		return s, fmt.Errorf("a documented key is missing")
	case len(s.Ch) == 0:
		return s, fmt.Errorf("no channels")
	}
	return s, nil
}

var (
	schedulerStates = []string{"unknown", "disabled", "awake", "held", "disks_asleep", "halting"}
	diskStates      = []string{"unknown", "active", "standby", "off"}
)

// checkStates checks every state message of a run: documented keys with
// values Home Assistant can show, and lifetime counters that never decrease
// (the Energy dashboard would take a decrease for a meter reset), also
// across the agent's restarts.
func checkStates(t *testing.T, msgs []peers.Message, m meta) {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatal("no state published")
	}
	maxKWh := map[string]float64{}
	var maxSaved, maxCO2 float64
	for _, msg := range msgs {
		s, err := parseState(msg.Payload)
		if err != nil {
			t.Errorf("state %s: %v", peers.Abbrev(msg.Payload), err)
			continue
		}
		for _, c := range m.Channels {
			k := entityKey(c.Name)
			ch, ok := s.Ch[k]
			if !ok {
				t.Errorf("state has no channel %q: %s", k, peers.Abbrev(msg.Payload))
				continue
			}
			if ch.KWh == nil || *ch.KWh < 0 || math.IsNaN(*ch.KWh) {
				t.Errorf("channel %s energy %v is not a number ≥ 0", k, ch.KWh)
				continue
			}
			if ch.TodayKWh == nil || *ch.TodayKWh < 0 || ch.KWh != nil && *ch.TodayKWh > *ch.KWh+1e-9 {
				t.Errorf("channel %s energy today %v is not a number between 0 and the lifetime %v", k, ch.TodayKWh, ch.KWh)
				continue
			}
			if *ch.KWh < maxKWh[k] {
				t.Errorf("channel %s energy went down: %v kWh after %v kWh", k, *ch.KWh, maxKWh[k])
			}
			maxKWh[k] = max(maxKWh[k], *ch.KWh)
			if (ch.V == nil) != (ch.A == nil) || (ch.A == nil) != (ch.W == nil) {
				t.Errorf("channel %s is half unreadable: %s", k, peers.Abbrev(msg.Payload))
			}
		}
		if *s.SavedKWh < maxSaved || *s.CO2eKg < maxCO2 {
			t.Errorf("saved %v kWh / %v kg CO2e went down from %v / %v", *s.SavedKWh, *s.CO2eKg, maxSaved, maxCO2)
		}
		maxSaved, maxCO2 = max(maxSaved, *s.SavedKWh), max(maxCO2, *s.CO2eKg)
		if !slices.Contains(schedulerStates, s.Scheduler) {
			t.Errorf("scheduler %q is not one of %v", s.Scheduler, schedulerStates)
		}
		for _, d := range m.Disks {
			if st := s.Disks[entityKey(d.Name)]; !slices.Contains(diskStates, st) {
				t.Errorf("disk %s state %q is not one of %v", d.Name, st, diskStates)
			}
		}
		if h := *s.StayAwakeH; h < 0 || h > 72 {
			t.Errorf("stay_awake_h %v out of 0..72", h)
		}
	}
}

// checkSchedule checks the retained schedule: next sleep and next wake as
// RFC 3339 timestamps (Home Assistant timestamp sensors), or null.
func checkSchedule(t *testing.T, b []byte, wantSleep, wantWake time.Time) {
	t.Helper()
	var s struct {
		NextSleep *string `json:"next_sleep"`
		NextWake  *string `json:"next_wake"`
		Window    string  `json:"window"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("schedule %s: %v", b, err)
	}
	for _, x := range []struct {
		name string
		got  *string
		want time.Time
	}{{"next_sleep", s.NextSleep, wantSleep}, {"next_wake", s.NextWake, wantWake}} {
		if x.got == nil {
			if !x.want.IsZero() {
				t.Errorf("schedule %s is null, want %v", x.name, x.want)
			}
			continue
		}
		ts, err := time.Parse(time.RFC3339, *x.got)
		if err != nil {
			t.Errorf("schedule %s %q is not an RFC 3339 timestamp: %v", x.name, *x.got, err)
			continue
		}
		if !x.want.IsZero() && !ts.Equal(x.want) {
			t.Errorf("schedule %s = %v, want %v", x.name, ts, x.want)
		}
	}
}

// TestDeviceDiscovery runs the demo as it ships (device-based discovery) and
// reads it as Home Assistant does: retained discovery, availability, state,
// schedule, and a new announcement after Home Assistant's birth message.
func TestDeviceDiscovery(t *testing.T) {
	t.Parallel()
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil)
	v := peers.QuietDemo(t, broker)
	const topic = "homeassistant/device/demo/config"

	// Published at connect, without waiting for Home Assistant to ask.
	rec.WaitFor(topic, 0, peers.Patience, "discovery after connect", nil)
	rec.WaitFor("veille/demo/state", 0, peers.Patience, "a state from the running control loop with readings", func(m peers.Message) bool {
		s, err := parseState(m.Payload)
		if err != nil || s.Scheduler != "awake" || len(s.Ch) == 0 {
			return false
		}
		for _, ch := range s.Ch { // a chip's first averaged reading takes one window
			if ch.V == nil {
				return false
			}
		}
		return true
	})
	disc := peers.Retained(t, broker, topic)
	m := readMeta(t, peers.Retained(t, broker, "veille/demo/meta"))
	if st := peers.Retained(t, broker, "veille/demo/status"); string(st) != "online" {
		t.Errorf("retained availability %q, want online", st)
	}
	sched := peers.Retained(t, broker, "veille/demo/schedule")
	checkSchedule(t, sched, peers.QuietStart.Add(9*time.Hour+30*time.Minute), peers.QuietStart.Add(18*time.Hour+30*time.Minute))
	stateNow, _ := rec.Last("veille/demo/state", 0)
	if s, err := parseState(stateNow.Payload); err == nil {
		for k, ch := range s.Ch {
			if ch.V == nil || ch.A == nil || ch.W == nil {
				t.Errorf("channel %s has no reading in a running demo: %s", k, peers.Abbrev(stateNow.Payload))
			}
		}
		if s.SoCTemp == nil {
			t.Errorf("no SoC temperature in a running demo")
		}
	}

	e := haExpect{prefix: "veille", node: "demo", states: map[string][]byte{"veille/demo/state": stateNow.Payload, "veille/demo/schedule": sched}}
	ents, probs := checkDevicePayload(disc, e)
	for _, p := range probs {
		t.Errorf("device discovery: %s", p)
	}
	checkEntitySet(t, ents, m)
	t.Logf("device discovery: %d bytes, %d entities", len(disc), len(ents))

	// Home Assistant restarts: its birth message makes veille announce
	// again (after a small random delay), discovery first, then the state.
	ha := peers.Client(t, broker, "homeassistant-birth")
	mark := rec.Count()
	peers.Publish(t, ha, "homeassistant/status", 0, false, []byte("offline"))
	peers.Publish(t, ha, "homeassistant/status", 0, false, []byte("online"))
	again := rec.WaitFor(topic, mark, peers.Patience, "discovery after Home Assistant's birth", nil)
	rec.WaitFor("veille/demo/state", again.N, peers.Patience, "state after the re-announcement", nil)
	if string(again.Payload) != string(disc) {
		t.Errorf("the re-announced discovery differs from the retained one")
	}
	v.WaitStderr(regexp.MustCompile(`Home Assistant is online, announcing again`), peers.Patience)

	states := rec.On("veille/demo/state", 0)
	checkStates(t, states, m)
	// The schedule is on for the whole run: no state may say otherwise (Home
	// Assistant would record the switch going off and on at every start).
	for _, msg := range states {
		if s, err := parseState(msg.Payload); err == nil && (!*s.ScheduleEnabled || s.Scheduler == "disabled" || s.Scheduler == "unknown") {
			t.Errorf("state says schedule_enabled %v, scheduler %q while the schedule is on: %s", *s.ScheduleEnabled, s.Scheduler, peers.Abbrev(msg.Payload))
		}
	}
}

// checkEntitySet checks that the documented entities are all there, and that
// the energy sensors are the ones the Energy dashboard accepts.
func checkEntitySet(t *testing.T, ents []entity, m meta) {
	t.Helper()
	have := map[string]entity{}
	commands := map[string]bool{}
	for _, e := range ents {
		have[e.key] = e
		if ct, ok := e.cfg["command_topic"].(string); ok {
			commands[ct[strings.LastIndex(ct, "/")+1:]] = true
		}
	}
	for _, k := range expectedEntities(m) {
		if _, ok := have[k]; !ok {
			t.Errorf("documented entity %s is missing", k)
		}
	}
	for name := range commandPayloads {
		if !commands[name] {
			t.Errorf("no entity sends the command %s", name)
		}
	}
	for _, c := range m.Channels {
		e := have[entityKey(c.Name)+"_energy"]
		if e.cfg["device_class"] != "energy" || e.cfg["state_class"] != "total_increasing" {
			t.Errorf("channel %s has no Energy dashboard sensor: %v", c.Name, e.cfg)
		}
	}
	if ev := have["button"]; ev.platform != "event" {
		t.Errorf("the button is not an event entity: %v", ev)
	}
}

// TestComponentDiscovery runs the demo's configuration in per-entity mode
// (discovery = "component", for Home Assistant before 2024.12, openHAB,
// Domoticz), with another node name and topic prefix.
func TestComponentDiscovery(t *testing.T) {
	t.Parallel()
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil)
	cfg := peers.DemoConfig(t,
		`node = "demo"`, `node = "attic"`,
		"[mqtt]\n", "[mqtt]\ntopic_prefix = \"house\"\n",
		"[homeassistant]\n", "[homeassistant]\ndiscovery = \"component\"\n")
	v := peers.QuietDemo(t, broker, "--config", cfg)

	m := readMeta(t, peers.Retained(t, broker, "house/attic/meta"))
	// The demo's own subscriber follows the configured prefix too.
	v.WaitStdout(regexp.MustCompile(`decoded from MQTT: frame`), peers.Patience)
	want := expectedEntities(m)
	configRE := regexp.MustCompile(`^homeassistant/[a-z_]+/attic/([a-z0-9_]+)/config$`)
	var msgs map[string][]byte
	peers.WaitUntil(t, peers.Patience, "a config for every documented entity", func() bool {
		msgs = map[string][]byte{}
		keys := map[string]bool{}
		for _, msg := range rec.Matching(configRE, 0) {
			msgs[msg.Topic] = msg.Payload
			keys[configRE.FindStringSubmatch(msg.Topic)[1]] = true
		}
		for _, k := range want {
			if !keys[k] {
				return false
			}
		}
		return true
	})
	if n := len(rec.On("homeassistant/device/attic/config", 0)); n > 0 {
		t.Errorf("component mode also published %d device configs", n)
	}
	rec.WaitFor("house/attic/state", 0, peers.Patience, "a state", nil)
	stateNow, _ := rec.Last("house/attic/state", 0)
	sched := peers.Retained(t, broker, "house/attic/schedule")
	e := haExpect{prefix: "house", node: "attic", states: map[string][]byte{"house/attic/state": stateNow.Payload, "house/attic/schedule": sched}}
	ents, probs := checkComponentPayloads(msgs, "homeassistant", e)
	for _, p := range probs {
		t.Errorf("component discovery: %s", p)
	}
	checkEntitySet(t, ents, m)
	// Each config is retained: an example, read as a restarted HA would.
	for topic, b := range msgs {
		if got := peers.Retained(t, broker, topic); string(got) != string(b) {
			t.Errorf("%s: retained %s, last published %s", topic, peers.Abbrev(got), peers.Abbrev(b))
		}
		break
	}
	if st := peers.Retained(t, broker, "house/attic/status"); string(st) != "online" {
		t.Errorf("retained availability %q, want online", st)
	}
	checkStates(t, rec.On("house/attic/state", 0), m)
	t.Logf("component discovery: %d configs", len(msgs))
}
