//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/homeassistant"
)

var (
	outFile  = flag.String("out", "", "write the figures as JSON to this file")
	spanFlag = flag.Duration("span", 24*time.Hour, "simulated time of each accuracy case and stream")
	phases   = flag.Int("phases", 10, "sampling phases per accuracy case")
)

// TestFigures computes every figure of BENCHMARKS.md that needs no wall
// time, checks them against the targets, and writes them for the report.
func TestFigures(t *testing.T) {
	var figs Figures
	t.Run("accuracy", func(t *testing.T) {
		cases := DefaultAccuracyCases()
		results := make([]PhaseResult, len(cases))
		if err := parallel(len(cases), func(k int) (err error) {
			results[k], err = AccuracyPhases(cases[k], *spanFlag, *phases)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for k, c := range cases {
			r := results[k]
			figs.Accuracy = append(figs.Accuracy, r)
			for i, rr := range r.Rails {
				t.Logf("%-36v %s exact %.4f Wh measured %.4f Wh error %+.3f %% (phases %+.3f…%+.3f)",
					c, rr.Rail, rr.ExactWh, rr.MeasuredWh, rr.ErrorPct, r.MinErrorPct[i], r.MaxErrorPct[i])
				// The target: veille's way within 0.5 % at every interval,
				// whatever the phase, with the chips of the example
				// configuration: the INA226 (averaged window, read several
				// times per interval when it cannot average over all of it)
				// and the INA228 (accumulator). The other chips' figures
				// are reported against the same target in BENCHMARKS.md.
				if c.Veille && (c.Chip == "ina226" || c.Chip == "ina228") &&
					math.Max(math.Abs(r.MinErrorPct[i]), math.Abs(r.MaxErrorPct[i])) > 0.5 {
					t.Errorf("%v on %s: error up to %+.3f…%+.3f %%, target ±0.5 %%", c, rr.Rail, r.MinErrorPct[i], r.MaxErrorPct[i])
				}
			}
		}
	})
	t.Run("wire", func(t *testing.T) {
		results := make([]WireResult, 3)
		if err := parallel(len(results), func(k int) (err error) {
			results[k], err = WireSize(k+1, 10*time.Second, 30, *spanFlag)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for k, r := range results {
			ch := k + 1
			figs.Wire = append(figs.Wire, r)
			t.Logf("%d channels: %d frames, %.2f B per sample-channel (%.2f with MQTT framing); listen JSON %.1f, plain JSON %.1f",
				ch, r.Frames, r.PerSampleChannel(r.CBORBytes), r.PerSampleChannel(r.CBORPackets), r.PerSampleChannel(r.ListenJSON), r.PerSampleChannel(r.PlainJSON))
			if got := r.PerSampleChannel(r.CBORBytes); got > 8 {
				t.Errorf("%d channels: %.2f B per sample-channel, target ≤ 8", ch, got)
			}
		}
	})
	t.Run("homeassistant", func(t *testing.T) {
		samples, err := simulate(3, 10*time.Second, *spanFlag)
		if err != nil {
			t.Fatal(err)
		}
		r := haDay(t, "bursty", samples, 10*time.Second)
		figs.HA = append(figs.HA, r)
		t.Logf("%+v", r)
	})
	if *outFile != "" {
		if err := WriteJSON(*outFile, figs); err != nil {
			t.Fatal(err)
		}
	}
}

// parallel runs f(0) … f(n-1) on as many goroutines as there are CPUs and
// returns the first error. Each simulated world is independent.
func parallel(n int, f func(k int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[k] = f(k)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// published is one message the reporter sent.
type published struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
}

type recorder struct {
	mu   sync.Mutex
	msgs []published
}

func (r *recorder) Publish(_ context.Context, topic string, qos byte, retained bool, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, published{topic, append([]byte(nil), payload...), qos, retained})
	return nil
}

// haDay runs the real Reporter over the samples, in a synctest bubble so that
// its timers follow the samples' simulated time exactly: each sample is
// handed over (as the agent does every sampling tick), then the reporter
// runs until it waits again. A reporter timer due at a sample's instant
// fires before that sample is handed over.
func haDay(t *testing.T, profile string, samples []sample, interval time.Duration) HAResult {
	res := HAResult{Profile: profile, Span: time.Duration(len(samples)) * interval, StateInterval: config.Default().HomeAssistant.StateInterval.D()}
	topics := homeassistant.Topics{Prefix: "veille", Node: StreamNode}
	opts := homeassistant.Options{
		Topics: topics,
		// The shipped heartbeat (significant changes go out at once).
		StateInterval: res.StateInterval,
		Device:        homeassistant.Device{Name: StreamNode, Manufacturer: "veille", Model: "Raspberry Pi 5 Model B Rev 1.0", SWVersion: "bench"},
	}
	for i, name := range StreamRails {
		opts.Channels = append(opts.Channels, homeassistant.Channel{ID: uint16(i), Key: homeassistant.Key(name), Name: name})
	}
	for _, name := range StreamDisks {
		opts.Disks = append(opts.Disks, homeassistant.Disk{Key: name, Name: name})
	}
	rec := &recorder{}
	synctest.Test(t, func(t *testing.T) {
		r, err := homeassistant.New(opts, rec)
		if err != nil {
			t.Fatal(err)
		}
		disc, err := r.Discovery()
		if err != nil {
			t.Fatal(err)
		}
		res.DiscoveryEntities = map[string]int{}
		for _, m := range disc {
			countEntities(t, m.Payload, res.DiscoveryEntities)
			res.DiscoveryMessages++
			res.DiscoveryBytes += len(m.Payload)
			res.DiscoveryPackets += MQTTPublishSize(m.Topic, 1, len(m.Payload))
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		for _, s := range samples {
			// A timer of the reporter due at this very instant runs first,
			// then the sample is handed over: the same order every run.
			synctest.Wait()
			r.Update(haState(s))
			synctest.Wait()
			time.Sleep(interval)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	stateTopic := topics.State()
	var last []byte
	nextTick := time.Duration(0)
	// Replay the published states on the 60 s grid of a fixed-cadence tool:
	// at each tick it would send the values of the latest state.
	for _, m := range rec.msgs {
		if m.topic != stateTopic {
			t.Errorf("unexpected publish on %s", m.topic)
			continue
		}
		res.StateMessages++
		res.StateBytes += len(m.payload)
		res.StatePackets += MQTTPublishSize(m.topic, m.qos, len(m.payload))
		last = m.payload
	}
	if last == nil {
		t.Fatal("the reporter published no state")
	}
	leaves, err := flatten(last)
	if err != nil {
		t.Fatal(err)
	}
	res.Entities = len(leaves)
	for ; nextTick < res.Span; nextTick += time.Minute {
		for _, l := range leaves {
			res.PerValueMessages++
			res.PerValuePackets += MQTTPublishSize(topics.Prefix+"/"+topics.Node+"/"+l.key, 0, len(l.value))
		}
		flat := flatJSON(leaves)
		res.FlatJSONMessages++
		res.FlatJSONPackets += MQTTPublishSize(stateTopic, 1, len(flat))
	}
	return res
}

type leaf struct{ key, value string }

// flatten lists the leaves of a JSON object as key paths joined by "_" and
// their values as plain text (strings unquoted, arrays comma-separated).
func flatten(b []byte) ([]leaf, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	var out []leaf
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "_" + k
				}
				walk(p, x[k])
			}
		case []any:
			var parts []string
			for _, e := range x {
				parts = append(parts, fmt.Sprint(e))
			}
			out = append(out, leaf{prefix, strings.Join(parts, ",")})
		case nil:
			out = append(out, leaf{prefix, "unavailable"})
		default:
			out = append(out, leaf{prefix, fmt.Sprint(x)})
		}
	}
	walk("", v)
	return out, nil
}

// flatJSON is the leaves as one flat JSON object, system_sensors' way.
func flatJSON(leaves []leaf) []byte {
	m := make(map[string]string, len(leaves))
	for _, l := range leaves {
		m[l.key] = l.value
	}
	b, _ := json.Marshal(m)
	return b
}

// countEntities adds the entities of one discovery payload, by platform: a
// device config lists them under "components", an entity config is one.
func countEntities(t *testing.T, payload []byte, by map[string]int) {
	var cfg struct {
		Components map[string]struct {
			Platform string `json:"platform"`
		} `json:"components"`
	}
	if err := json.Unmarshal(payload, &cfg); err != nil {
		t.Fatalf("discovery payload: %v", err)
	}
	if len(cfg.Components) == 0 {
		by["entity"]++
		return
	}
	for _, c := range cfg.Components {
		by[c.Platform]++
	}
}
