package faults

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// TestSensorFaults makes the INA260 on the disk's rail (0x41, channel
// "media") NACK, return garbage, and disappear, ten simulated minutes each,
// with ten minutes of health between. While a fault lasts that channel is
// unavailable (null samples and the unavailable flag in the telemetry, null
// in the Home Assistant state) and nothing it returns is counted; the Pi's
// own channel goes on; when the chip answers again the channel comes back.
func TestSensorFaults(t *testing.T) {
	t.Parallel()
	faults := []string{"nack", "gone"}
	if long() {
		faults = append(faults, "nack", "gone", "nack")
	}
	sensorFaults(t, faults)
}

// TestSensorGarbage is TestSensorFaults with a chip whose reads return
// noise: the drivers refuse implausible registers (reserved bits, settings
// read back, the chip's own arithmetic), so noise is neither published nor
// counted.
func TestSensorGarbage(t *testing.T) {
	t.Parallel()
	sensorFaults(t, []string{"garbage", "nack", "garbage"})
}

func sensorFaults(t *testing.T, faults []string) {
	const speed = 500.0
	b := startBroker(t, false)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-sensor"}, "veille/demo/tele", "veille/demo/state", "veille/demo/meta")
	from := time.Date(2026, 6, 1, 10, 0, 0, 0, peers.Paris)
	conf := peers.Config{Enabled: false, Batch: 6, StateInterval: "5s"}.Write(t)
	type span struct {
		fault    string
		from, to time.Time
	}
	var spans []span
	lines := []string{}
	for i, f := range faults {
		s := span{fault: f, from: from.Add(time.Duration(20*i+10) * time.Minute), to: from.Add(time.Duration(20*i+20) * time.Minute)}
		spans = append(spans, s)
		lines = append(lines,
			fmt.Sprintf(`{"at":"+%s","do":"sensor","addr":"0x41","fault":%q}`, s.from.Sub(from), f),
			fmt.Sprintf(`{"at":"+%s","do":"sensor","addr":"0x41","fault":"none"}`, s.to.Sub(from)))
	}
	end := spans[len(spans)-1].to.Add(15 * time.Minute)
	lines = append(lines, fmt.Sprintf(`{"at":"+%s","do":"stop"}`, end.Sub(from)))
	d := startDemo(t, "--config", conf, "--scenario", scenario(t, lines...), "--from", from.Format("2006-01-02 15:04"),
		"--speed", fmt.Sprint(speed), "--broker", b.URL(), "--for", "0")
	d.wait(time.Duration(float64(end.Sub(from))/speed) + 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	// When the faults really began and ended (a little after their "at" on
	// a loaded host): lines 2k+1 and 2k+2 of the scenario.
	for i := range spans {
		spans[i].from, spans[i].to = d.applied(2*i+1), d.applied(2*i+2)
	}

	ids := channelIDs(t, sub)
	pi, media := ids["pi"], ids["media"]
	fs := sub.Frames(t, "veille/demo/tele")
	if len(fs) < 20 {
		t.Fatalf("only %d frames", len(fs))
	}
	var errs []error
	// A fault takes effect at the next sample; recovery waits for the
	// sensor's retry backoff (at most 5 minutes) and one sample, and a few
	// simulated minutes more on a loaded host.
	const settle, backoff = 20 * time.Second, 9 * time.Minute
	nullDuring := make([]int, len(spans))
	okDuring := make([]int, len(spans))
	backAfter := make([]time.Duration, len(spans))
	piNull, piOK, flagged := 0, 0, 0
	piUp := false // a chip is read only once its first averaging window is complete
	for _, f := range fs {
		pc, mc := f.Channel(pi), f.Channel(media)
		if pc == nil || mc == nil {
			t.Fatalf("frame %d lacks a channel", f.Seq)
		}
		for k := 0; k < f.N; k++ {
			at := f.SampleTime(k)
			piUp = piUp || pc.MW[k] != nil
			if !piUp {
				continue
			}
			if pc.MW[k] == nil {
				piNull++
				errs = append(errs, fmt.Errorf("pi channel unavailable at %s: the other channels must go on", at.In(peers.Paris).Format("15:04:05")))
			} else {
				piOK++
			}
			for i, s := range spans {
				switch {
				case at.After(s.from.Add(settle)) && at.Before(s.to):
					if mc.MW[k] == nil {
						nullDuring[i]++
					} else {
						okDuring[i]++
						errs = append(errs, fmt.Errorf("%s fault: media reads %d mV %d mA %d mW at %s, want unavailable",
							s.fault, *mc.MV[k], *mc.MA[k], *mc.MW[k], at.In(peers.Paris).Format("15:04:05")))
					}
				case !at.Before(s.to) && mc.MW[k] != nil && backAfter[i] == 0:
					backAfter[i] = at.Sub(s.to)
				}
			}
			// Whatever it read, a 2.5" disk on 5 V never draws 15 W.
			if mc.MW[k] != nil && (*mc.MW[k] > 15000 || *mc.MW[k] < 0 || *mc.MV[k] > 6000) {
				errs = append(errs, fmt.Errorf("media reads %d mV %d mW at %s: not a disk's draw", *mc.MV[k], *mc.MW[k], at.In(peers.Paris).Format("15:04:05")))
			}
		}
		if mc.Flags&1 != 0 {
			flagged++
		}
	}
	for i, s := range spans {
		if nullDuring[i] == 0 {
			errs = append(errs, fmt.Errorf("%s fault: no unavailable media sample", s.fault))
		}
		if backAfter[i] == 0 || backAfter[i] > backoff {
			errs = append(errs, fmt.Errorf("%s fault: media back %s after the chip answered, want within %s", s.fault, backAfter[i], backoff))
		}
	}
	if flagged == 0 {
		errs = append(errs, fmt.Errorf("no frame flags the media channel unavailable"))
	}
	// Home Assistant: the channel goes null during each fault and comes back.
	states := haStates(t, sub, "veille/demo/state")
	nullStates, backStates := 0, 0
	piUp = false
	for _, st := range states {
		piUp = piUp || st.Ch["pi"].W != nil
		if !piUp {
			continue
		}
		if st.Ch["pi"].W == nil {
			errs = append(errs, fmt.Errorf("Home Assistant state has pi null"))
		}
		if st.Ch["media"].W == nil {
			nullStates++
		} else if nullStates > 0 {
			backStates++
		}
	}
	if nullStates == 0 || backStates == 0 {
		errs = append(errs, fmt.Errorf("Home Assistant state: media null in %d states, back in %d after", nullStates, backStates))
	}
	// Nothing a faulty chip returned was counted: veille's energy for the
	// channel is not above the exact energy of its rail.
	veille, exact := summaryEnergy(t, d.Stdout(), "media")
	if veille > exact*1.01 {
		errs = append(errs, fmt.Errorf("media energy %.3f Wh, above the exact load's %.3f Wh: faulty readings were counted", veille, exact))
	}
	warned := len(d.records("sensor unavailable; its channels are reported unavailable, the others go on"))
	back := len(d.records("sensor is back"))
	if back < len(spans) {
		errs = append(errs, fmt.Errorf("the log says the sensor came back %d times, want %d", back, len(spans)))
	}
	if err := errorsJoin(errs, 12); err != nil {
		t.Error(err)
	}
	for i, s := range spans {
		report(t, "injected %-7s on 0x41 for 10 simulated minutes: %d media samples unavailable, %d read; back %s after the chip answered",
			s.fault, nullDuring[i], okDuring[i], backAfter[i])
	}
	report(t, "counted: pi samples %d read, %d unavailable; %d frames flag media unavailable; Home Assistant states with media null %d, after recovery %d; log: %d warnings, %d recoveries",
		piOK, piNull, flagged, nullStates, backStates, warned, back)
	report(t, "counted: media energy veille %.3f Wh, exact load %.3f Wh (veille counts nothing while the chip is away)", veille, exact)
}

// channelIDs reads the retained meta: channel name → telemetry id.
func channelIDs(t *testing.T, c *peers.Recorder) map[string]uint64 {
	t.Helper()
	ms := c.On("veille/demo/meta", 0)
	if len(ms) == 0 {
		t.Fatalf("no meta message")
	}
	var meta struct {
		Channels []struct {
			ID   uint64 `json:"id"`
			Name string `json:"name"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(ms[len(ms)-1].Payload, &meta); err != nil {
		t.Fatalf("meta: %v", err)
	}
	ids := map[string]uint64{}
	for _, ch := range meta.Channels {
		ids[ch.Name] = ch.ID
	}
	if len(ids) < 2 {
		t.Fatalf("meta names %d channels: %s", len(ids), ms[len(ms)-1].Payload)
	}
	return ids
}

var summaryRE = regexp.MustCompile(`energy (\S+)\s+veille\s+([0-9.]+) Wh │ exact load over the same time\s+([0-9.]+) Wh`)

// summaryEnergy reads the demo's closing comparison for a channel.
func summaryEnergy(t *testing.T, out, name string) (veille, exact float64) {
	t.Helper()
	for _, m := range summaryRE.FindAllStringSubmatch(out, -1) {
		if m[1] == name {
			veille, _ = strconv.ParseFloat(m[2], 64)
			exact, _ = strconv.ParseFloat(m[3], 64)
			return veille, exact
		}
	}
	t.Fatalf("the demo printed no energy summary for %s", name)
	return 0, 0
}
