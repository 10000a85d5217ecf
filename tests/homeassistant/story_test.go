package homeassistant

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// TestNightStory plays the demo's own story (`make run`) and reads it as Home
// Assistant would: the button's press reaches the event entity, the
// scheduled halt says "offline" and when it wakes before going, the node is
// back "online" after the RTC alarm, and no lifetime counter ever goes down,
// also across the halt.
func TestNightStory(t *testing.T) {
	t.Parallel()
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil)
	v := peers.Start(t, "demo", "--broker", broker, "--speed", "300", "--for", "0", "-v")
	rec.WaitFor("homeassistant/device/demo/config", 0, peers.Patience, "discovery", nil)
	disc := peers.Retained(t, broker, "homeassistant/device/demo/config")
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
	v.WaitStdout(regexp.MustCompile(`button short press`), peers.Patience)
	ev := rec.WaitFor("veille/demo/event", 0, peers.Patience, "the button event", nil)
	var e map[string]any
	if err := json.Unmarshal(ev.Payload, &e); err != nil || !slices.Contains(types, e["event_type"]) {
		t.Errorf("event %s (%v): event_type must be one of the entity's event_types %v", ev.Payload, err, types)
	}
	if ev.Retained {
		t.Errorf("the button event is retained: Home Assistant would replay it")
	}

	// The night: a scheduled halt, announced, then the RTC wake.
	v.WaitStdout(regexp.MustCompile(`the Pi is off .*RTC alarm at 06:30`), peers.Patience)
	off := rec.WaitFor("veille/demo/status", 0, peers.Patience, "offline before the halt", func(m peers.Message) bool { return string(m.Payload) == "offline" })
	var sched []byte
	for _, s := range rec.On("veille/demo/schedule", 0) {
		if s.N < off.N {
			sched = s.Payload
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
	v.WaitStdout(regexp.MustCompile(`RTC alarm: the Pi booted`), peers.Patience)
	on := rec.WaitFor("veille/demo/status", off.N, peers.Patience, "online after the wake", func(m peers.Message) bool { return string(m.Payload) == "online" })
	rec.WaitFor("veille/demo/state", on.N, peers.Patience, "a state after the wake", nil)
	v.Stop()
	checkStates(t, rec.On("veille/demo/state", 0), readMeta(t, peers.Retained(t, broker, "veille/demo/meta")))
}
