package homeassistant

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veille/veille/internal/mqtt"
	"github.com/veille/veille/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type published struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
}

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []published
	err  error
}

func (r *recorder) Publish(_ context.Context, topic string, qos byte, retained bool, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, published{topic, qos, retained, append([]byte(nil), payload...)})
	return nil
}

func (r *recorder) on(topic string) []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []published
	for _, m := range r.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func testOptions(t *testing.T) Options {
	topics, err := mqtt.NewTopics("", "nas")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Topics: Topics(topics),
		Device: Device{Name: "NAS", Manufacturer: "Raspberry Pi Ltd", Model: "Raspberry Pi 5 Model B Rev 1.0", SWVersion: "0.1.0"},
		Channels: []Channel{
			{ID: 0, Key: "pi", Name: "Pi"},
			{ID: 1, Key: "disk1", Name: "USB disk 1"},
		},
		Disks:         []Disk{{Key: "media", Name: "Media disk"}},
		StateInterval: time.Minute,
	}
}

func sampleState() State {
	return State{
		Channels: []ChannelState{
			{MilliVolts: 5102, MilliAmps: 702, MilliWatts: 3581, EnergyMilliWh: 1234567, OK: true},
			{EnergyMilliWh: 734001},
		},
		SoCTemp: 48.66, HasSoCTemp: true, Throttled: telemetry.ThrottledUnderVoltageSeen,
		Disks:     []telemetry.DiskState{telemetry.DiskStandby},
		Scheduler: telemetry.SchedulerHeld, Reason: "ssh session open (alice)", ScheduleEnabled: true,
		StayAwake: 90 * time.Minute, SavedMilliWh: 2500000, CO2eGrams: 140,
	}
}

var (
	// Home Assistant's discovery topic pattern (components/mqtt/discovery.py).
	haDiscoveryTopic = regexp.MustCompile(`^homeassistant/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config$`)
	valueJSONPath    = regexp.MustCompile(`value_json((?:\.[a-z0-9_]+)+)`)
)

// required keys per platform (HA MQTT platform docs).
var requiredKeys = map[string][]string{
	"sensor":        {"state_topic"},
	"binary_sensor": {"state_topic"},
	"button":        {"command_topic"},
	"switch":        {"command_topic"},
	"number":        {"command_topic"},
	"event":         {"state_topic", "event_types"},
}

// checkComponent applies Home Assistant's rules to one entity config and
// checks that its templates read keys that the state JSON has.
func checkComponent(t *testing.T, key, platform string, cfg map[string]any, docs map[string]map[string]any) {
	t.Helper()
	if _, ok := requiredKeys[platform]; !ok {
		t.Errorf("%s: platform %q", key, platform)
	}
	for _, k := range requiredKeys[platform] {
		if cfg[k] == nil {
			t.Errorf("%s (%s): required %q missing", key, platform, k)
		}
	}
	if cfg["unique_id"] != "nas_"+key {
		t.Errorf("%s: unique_id %v", key, cfg["unique_id"])
	}
	for _, forbidden := range []string{"object_id", "obj_id", "~"} {
		if _, ok := cfg[forbidden]; ok {
			t.Errorf("%s: has %q", key, forbidden)
		}
	}
	_, hasAvail := cfg["availability_topic"]
	schedule := key == "next_sleep" || key == "next_wake"
	if schedule == hasAvail {
		t.Errorf("%s: availability_topic present=%v; only next sleep/wake go without", key, hasAvail)
	}
	if hasAvail && cfg["availability_topic"] != "veille/nas/status" {
		t.Errorf("%s: availability_topic %v", key, cfg["availability_topic"])
	}
	if cfg["entity_category"] != nil && platform == "sensor" && cfg["entity_category"] != "diagnostic" {
		t.Errorf("%s: sensors may only be diagnostic, got %v", key, cfg["entity_category"])
	}
	if cfg["device_class"] == "energy" {
		unit := cfg["unit_of_measurement"]
		if unit != "kWh" && unit != "Wh" {
			t.Errorf("%s: energy unit %v, Energy dashboard wants Wh or kWh", key, unit)
		}
		if sc := cfg["state_class"]; sc != "total_increasing" && sc != "total" {
			t.Errorf("%s: energy state_class %v", key, sc)
		}
		if _, ok := cfg["last_reset_value_template"]; ok {
			t.Errorf("%s: lifetime counter with last_reset", key)
		}
	}
	if cfg["device_class"] == "power" && cfg["state_class"] != "measurement" {
		t.Errorf("%s: power state_class %v", key, cfg["state_class"])
	}
	if cfg["device_class"] == "timestamp" && cfg["unit_of_measurement"] != nil {
		t.Errorf("%s: timestamp with a unit", key)
	}
	if cfg["device_class"] == "enum" && cfg["options"] == nil {
		t.Errorf("%s: enum without options", key)
	}
	// Every template path must exist in the JSON of the topic it reads.
	for _, field := range []string{"value_template", "json_attributes_template"} {
		tpl, _ := cfg[field].(string)
		topic, _ := cfg["state_topic"].(string)
		if field == "json_attributes_template" {
			topic, _ = cfg["json_attributes_topic"].(string)
		}
		for _, m := range valueJSONPath.FindAllStringSubmatch(tpl, -1) {
			var v any = map[string]any(docs[topic])
			for _, part := range strings.Split(m[1][1:], ".") {
				obj, ok := v.(map[string]any)
				if !ok {
					t.Errorf("%s: %s reads value_json%s but %s has no such object", key, field, m[1], topic)
					break
				}
				if v, ok = obj[part]; !ok {
					t.Errorf("%s: %s reads value_json%s, missing in the JSON on %s", key, field, m[1], topic)
					break
				}
			}
		}
	}
}

func stateDocs(t *testing.T, r *Reporter) map[string]map[string]any {
	stateB, err := r.stateJSON(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	schedB, err := scheduleJSONOf(Schedule{NextSleep: time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("CET", 3600)), NextWake: time.Date(2026, 3, 2, 6, 30, 0, 0, time.FixedZone("CET", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for topic, b := range map[string][]byte{"veille/nas/state": stateB, "veille/nas/schedule": schedB} {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		docs[topic] = v
	}
	return docs
}

func TestDeviceDiscovery(t *testing.T) {
	r, err := New(testOptions(t), &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.Discovery()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Topic != "homeassistant/device/nas/config" || !haDiscoveryTopic.MatchString(msgs[0].Topic) {
		t.Fatalf("discovery topics %v", msgs)
	}
	golden(t, "device_config.json", msgs[0].Payload)
	var root map[string]any
	if err := json.Unmarshal(msgs[0].Payload, &root); err != nil {
		t.Fatalf("discovery payload is not a JSON object: %v", err)
	}
	for k := range root {
		if k != "device" && k != "origin" && k != "components" {
			t.Errorf("unexpected root key %q (no root '~', shared options are per component)", k)
		}
	}
	dev, _ := root["device"].(map[string]any)
	if ids, _ := dev["identifiers"].([]any); len(ids) == 0 || dev["name"] != "NAS" {
		t.Errorf("device block %v", dev)
	}
	if o, _ := root["origin"].(map[string]any); o["name"] != "veille" {
		t.Errorf("origin block %v (name is required)", o)
	}
	cmps, _ := root["components"].(map[string]any)
	docs := stateDocs(t, r)
	seen := map[string]bool{}
	for key, c := range cmps {
		cfg := c.(map[string]any)
		platform, _ := cfg["platform"].(string)
		checkComponent(t, key, platform, cfg, docs)
		id := cfg["unique_id"].(string)
		if seen[id] {
			t.Errorf("unique_id %s twice", id)
		}
		seen[id] = true
	}
	for _, want := range []string{"pi_energy", "disk1_power", "next_wake", "stay_awake", "button", "schedule", "disk_media", "scheduler_reason", "energy_saved", "co2e_avoided", "throttled", "soc_temperature", "reboot", "shutdown", "sleep_now", "wake_disks"} {
		if cmps[want] == nil {
			t.Errorf("no %s entity", want)
		}
	}
}

func TestEntityDiscovery(t *testing.T) {
	o := testOptions(t)
	o.Mode = EntityDiscovery
	r, err := New(o, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.Discovery()
	if err != nil {
		t.Fatal(err)
	}
	docs := stateDocs(t, r)
	if len(msgs) < 20 {
		t.Fatalf("%d configs", len(msgs))
	}
	for _, m := range msgs {
		sm := haDiscoveryTopic.FindStringSubmatch(m.Topic)
		if sm == nil {
			t.Errorf("topic %s does not match Home Assistant's pattern", m.Topic)
			continue
		}
		var cfg map[string]any
		if err := json.Unmarshal(m.Payload, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg["device"] == nil || cfg["origin"] == nil {
			t.Errorf("%s: no device or origin block", m.Topic)
		}
		delete(cfg, "device")
		delete(cfg, "origin")
		checkComponent(t, sm[3], sm[1], cfg, docs)
	}
}

func TestPurge(t *testing.T) {
	rec := &recorder{}
	r, err := New(testOptions(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t)
	o.Mode = EntityDiscovery
	re, _ := New(o, &recorder{})
	entity, _ := re.Discovery()
	want := map[string]bool{"homeassistant/device/nas/config": true, "veille/nas/state": true, "veille/nas/schedule": true}
	for _, m := range entity {
		want[m.Topic] = true
	}
	for _, m := range rec.msgs {
		if len(m.payload) != 0 || !m.retained {
			t.Errorf("purge of %s: payload %q retained %v", m.topic, m.payload, m.retained)
		}
		delete(want, m.topic)
	}
	if len(want) != 0 {
		t.Errorf("purge left %v", want)
	}
}

func TestStateJSON(t *testing.T) {
	r, err := New(testOptions(t), &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.stateJSON(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "state.json", b)
	var v struct {
		Ch map[string]struct {
			V   *float64
			KWh float64 `json:"kwh"`
		}
		SoCTemp   float64 `json:"soc_temp"`
		Throttled bool
		Disks     map[string]string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if *v.Ch["pi"].V != 5.102 || v.Ch["pi"].KWh != 1.234567 || v.Ch["disk1"].V != nil || v.SoCTemp != 48.7 ||
		v.Throttled || v.Disks["media"] != "standby" {
		t.Errorf("state %s", b)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, mut := range []func(*Options){
		func(o *Options) { o.Channels[0].Key = "Pi" },
		func(o *Options) { o.Channels[1].Key = "pi" },
		func(o *Options) { o.Disks[0].Key = "a b" },
		func(o *Options) { o.Channels[0].Key = "soc temp" },
		func(o *Options) { o.Disks[0].Key = "" },
		func(o *Options) { o.Topics = Topics{} },
	} {
		o := testOptions(t)
		mut(&o)
		if _, err := New(o, &recorder{}); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(want, pretty.Bytes()) {
		t.Errorf("%s differs from the golden file:\n%s", path, pretty.Bytes())
	}
}

// TestTopicsMatchTransport: this package's topic layout is the transport's.
func TestTopicsMatchTransport(t *testing.T) {
	m, err := mqtt.NewTopics("house", "nas-2")
	if err != nil {
		t.Fatal(err)
	}
	h := Topics(m)
	for name, pair := range map[string][2]string{
		"status": {h.Status(), m.Status()}, "state": {h.State(), m.State()}, "schedule": {h.Schedule(), m.Schedule()},
		"event": {h.Event(), m.Event()}, "cmd": {h.Cmd("reboot"), m.Cmd("reboot")}, "filter": {h.CmdFilter(), m.CmdFilter()},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s: homeassistant %q, mqtt %q", name, pair[0], pair[1])
		}
	}
}
