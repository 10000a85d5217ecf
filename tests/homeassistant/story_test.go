package homeassistant

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestNightStory plays the demo's own story (`make run`) and reads it as Home
// Assistant would: the button's press reaches the event entity, the
// scheduled halt says "offline" and when it wakes before going, the node is
// back "online" after the RTC alarm, and no lifetime counter ever goes down,
// also across the halt.
func TestNightStory(t *testing.T) {
	t.Parallel()
	broker := mosquitto(t)
	rec := record(t, broker)
	v := startVeille(t, "demo", "--broker", broker, "--speed", "300", "--for", "0", "-v")
	rec.waitFor("homeassistant/device/demo/config", 0, patience, "discovery", nil)
	disc := retainedOn(t, broker, "homeassistant/device/demo/config")
	var d struct {
		Components map[string]map[string]any `json:"components"`
	}
	if err := json.Unmarshal(disc, &d); err != nil {
		t.Fatal(err)
	}
	var types []any
	for _, c := range d.Components {
		if c["platform"] == "event" {
			types, _ = c["event_types"].([]any)
		}
	}

	// 22:15: someone presses the button (short: stay awake).
	v.waitOutput("stdout", regexp.MustCompile(`button short press`), patience)
	ev := rec.waitFor("veille/demo/event", 0, patience, "the button event", nil)
	var e map[string]any
	if err := json.Unmarshal(ev.payload, &e); err != nil || !slices.Contains(types, e["event_type"]) {
		t.Errorf("event %s (%v): event_type must be one of the entity's event_types %v", ev.payload, err, types)
	}
	if ev.retained {
		t.Errorf("the button event is retained: Home Assistant would replay it")
	}

	// The night: a scheduled halt, announced, then the RTC wake.
	v.waitOutput("stdout", regexp.MustCompile(`the Pi is off .*RTC alarm at 06:30`), patience)
	off := rec.waitFor("veille/demo/status", 0, patience, "offline before the halt", func(m message) bool { return string(m.payload) == "offline" })
	var sched []byte
	for _, s := range rec.on("veille/demo/schedule", 0) {
		if s.n < off.n {
			sched = s.payload
		}
	}
	var sj struct {
		NextWake *string `json:"next_wake"`
	}
	if err := json.Unmarshal(sched, &sj); err != nil || sj.NextWake == nil {
		t.Errorf("the schedule before the halt does not say when it wakes: %s", sched)
	} else if w, err := time.Parse(time.RFC3339, *sj.NextWake); err != nil || w.Format("15:04") != "06:30" {
		t.Errorf("the schedule before the halt says it wakes at %s", *sj.NextWake)
	}
	v.waitOutput("stdout", regexp.MustCompile(`RTC alarm: the Pi booted`), patience)
	on := rec.waitFor("veille/demo/status", off.n, patience, "online after the wake", func(m message) bool { return string(m.payload) == "online" })
	rec.waitFor("veille/demo/state", on.n, patience, "a state after the wake", nil)
	v.stop()
	checkStates(t, rec.on("veille/demo/state", 0), readMeta(t, retainedOn(t, broker, "veille/demo/meta")))
}
