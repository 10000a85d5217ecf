package recipes

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRecipes runs docs/recipes/telegraf.conf in Telegraf and
// docs/recipes/node-red-flow.json in Node-RED against one `veille demo`
// on a real mosquitto, and compares what each wrote with the frames an
// independent decoder read from the same broker.
func TestRecipes(t *testing.T) {
	root := repoRoot(t)
	demoFor := 55 * time.Second
	if v := os.Getenv("VEILLE_RECIPES_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("VEILLE_RECIPES_FOR=%q: %v", v, err)
		}
		demoFor = d
	}

	// Build veille and Telegraf and install Node-RED, at once.
	var (
		veille, telegraf string
		red              *nodeRed
		errs             [3]error
		took             [3]time.Duration
		wg               sync.WaitGroup
	)
	tmp := t.TempDir()
	for k, f := range []func() error{
		func() (err error) { veille, err = buildVeille(root, tmp); return },
		func() (err error) { telegraf, err = telegrafBinary(root); return },
		func() (err error) { red, err = installNodeRed(root); return },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			errs[k] = f()
			took[k] = time.Since(start)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tgVersion, _ := exec.Command(telegraf, "--version").Output()
	nodeVersion, _ := exec.Command("node", "--version").Output()
	t.Logf("veille built in %.1fs; %s (%s, %.1fs); Node-RED %s on node %s (%s, %.1fs)",
		took[0].Seconds(), strings.TrimSpace(string(tgVersion)), filepath.Base(telegraf), took[1].Seconds(),
		red.version, strings.TrimSpace(string(nodeVersion)), filepath.Base(red.dir), took[2].Seconds())

	b := startMosquitto(t)
	rec := subscribe(t, b.url())

	// Telegraf with the recipe.
	tgDir := t.TempDir()
	tgOut := filepath.Join(tgDir, "metrics.json")
	recipe, err := os.ReadFile(filepath.Join(root, "docs", "recipes", "telegraf.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf, tgClient, err := telegrafConfig(recipe, b.url(), tgOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tgDir, "telegraf.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := startProc(t, "telegraf", tgDir, nil, telegraf, "--config", filepath.Join(tgDir, "telegraf.conf"))

	// Node-RED with the flow.
	redDir := t.TempDir()
	redOut := filepath.Join(redDir, "messages.jsonl")
	recipe, err = os.ReadFile(filepath.Join(root, "docs", "recipes", "node-red-flow.json"))
	if err != nil {
		t.Fatal(err)
	}
	flow, redClient, modules, err := nodeRedFlow(recipe, b.addr, redOut)
	if err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(redDir, "user")
	if err := red.userDir(user, flow, modules); err != nil {
		t.Fatal(err)
	}
	nr := startProc(t, "node-red", redDir, []string{"NODE_RED_DISABLE_TELEMETRY=1"}, "node",
		filepath.Join(red.dir, "node_modules", "node-red", "red.js"),
		"--settings", filepath.Join(user, "settings.js"), "--userDir", user, "--no-telemetry")

	// Both subscribed before veille publishes anything.
	if !waitFor(patience, func() bool {
		return tg.exited() || nr.exited() || b.subscribed(tgClient, teleFilter) && b.subscribed(redClient, teleFilter)
	}) || tg.exited() || nr.exited() {
		t.Fatalf("Telegraf (%s) and Node-RED (%s) did not both subscribe to %s within %v (exited: telegraf %v, node-red %v); broker log:\n%s",
			tgClient, redClient, teleFilter, patience, tg.exited(), nr.exited(), tail(b.p.output(), 3000))
	}

	start := time.Now()
	demo := startProc(t, "veille demo", tmp, nil, veille, "demo", "--broker", b.url(), "--for", demoFor.String())
	if err := demo.wait(t, demoFor+2*patience); err != nil {
		t.Fatalf("veille demo: %v\n%s", err, tail(demo.output(), 4000))
	}
	t.Logf("veille demo --for %v ran %.1fs", demoFor, time.Since(start).Seconds())
	// Once every client of veille has left, the broker has every frame it
	// will get; the test's own frames come after all of them to each
	// subscriber.
	const ours = 3 // the decoder, Telegraf, Node-RED
	if !waitFor(patience, func() bool { return rec.clients() == ours }) {
		t.Fatalf("the broker still counts %d clients %v after veille ended, want %d (ours)", rec.clients(), patience, ours)
	}
	own := testFrames(t)
	// The first is published twice, as an at-least-once delivery may: each
	// recipe must take it as one frame.
	sent := append([][]byte{own[0]}, own...)
	for _, b := range sent {
		rec.publish(t, sentinelTopic, b)
	}
	if !waitFor(patience, func() bool { return rec.count(sentinelTopic) == len(sent) }) {
		t.Fatalf("the decoder got %d of its own %d frames within %v", rec.count(sentinelTopic), len(sent), patience)
	}
	frames := rec.frames(t)
	var tests []*frame
	for _, f := range frames {
		if f.Node == sentinelNode {
			tests = append(tests, f)
		}
	}
	all := samples(frames)
	runs := map[string]bool{}
	var veilles []sample
	for _, s := range all {
		if s.F.Node != sentinelNode {
			runs[fmt.Sprint(s.F.Node, "/", s.F.Run)] = true
			veilles = append(veilles, s)
		}
	}
	if len(frames)-len(tests) < 10 || len(veilles) == 0 {
		t.Fatalf("the decoder read %d frames of veille (%d samples): the demo published too little to check the recipes", len(frames)-len(tests), len(veilles))
	}
	first, last := veilles[0], veilles[len(veilles)-1]
	t.Logf("the decoder read %d frames (%d of veille in %d runs, %d of the test), %d samples; first: %s: %s; last of veille: %s: %s",
		len(frames), len(frames)-len(tests), len(runs), len(tests), len(all), first, first.values(), last, last.values())

	t.Run("telegraf", func(t *testing.T) {
		want := telegrafExpected(frames)
		sentinel := telegrafExpected(tests)
		var pts []point
		var err error
		done := waitFor(patience, func() bool {
			pts, err = readPoints(tgOut)
			n := 0
			for _, p := range pts {
				if p.Tags["node"] == sentinelNode {
					n++
				}
			}
			return err != nil || tg.exited() || n >= sentinel || complained(tg.output(), telegrafBad)
		})
		if err != nil {
			t.Fatal(err)
		}
		if complained(tg.output(), telegrafBad) {
			t.Errorf("Telegraf complained before writing the test's frames: what it wrote so far is checked")
		} else if !done || tg.exited() {
			t.Fatalf("Telegraf wrote %d of %d points within %v, not all of the test's frames (exited: %v)", len(pts), want, patience, tg.exited())
		}
		tg.stop(syscall.SIGTERM) // a last flush, for anything beyond what is expected
		if pts, err = readPoints(tgOut); err != nil {
			t.Fatal(err)
		}
		checkLog(t, "telegraf", tg.output(), telegrafBad)
		checkTelegraf(t, frames, pts)
		t.Logf("Telegraf wrote %d points (expected %d: %d samples × V, A, W, one energy point per channel and frame, one status per frame)", len(pts), want, len(all))
		logFirstLast(t, pts, func(p point) string {
			return fmt.Sprintf("%s %v %v at %s", p.Name, p.Tags, p.Fields, time.UnixMilli(p.Timestamp).UTC().Format(time.RFC3339Nano))
		})
	})

	t.Run("node-red", func(t *testing.T) {
		want := nodeRedExpected(frames)
		sentinel := nodeRedExpected(tests)
		var msgs []redMessage
		var err error
		done := waitFor(patience, func() bool {
			msgs, err = readRedMessages(redOut)
			n := 0
			for _, m := range msgs {
				if strings.HasPrefix(m.Topic, sentinelNode+"/") {
					n++
				}
			}
			return err != nil || nr.exited() || n >= sentinel || complained(nr.output(), nodeRedBad)
		})
		if err != nil {
			t.Fatal(err)
		}
		if complained(nr.output(), nodeRedBad) {
			t.Errorf("Node-RED complained before sending the test's frames: what it sent so far is checked")
		} else if !done || nr.exited() {
			t.Fatalf("Node-RED wrote %d of %d messages within %v, not all of the test's frames (exited: %v)", len(msgs), want, patience, nr.exited())
		}
		nr.stop(syscall.SIGTERM)
		if msgs, err = readRedMessages(redOut); err != nil {
			t.Fatal(err)
		}
		checkLog(t, "node-red", nr.output(), nodeRedBad)
		checkNodeRed(t, frames, msgs)
		t.Logf("Node-RED sent %d messages (expected %d: %d samples, one energy message per channel and frame, one status per frame)", len(msgs), want, len(all))
		logFirstLast(t, msgs, func(m redMessage) string {
			return fmt.Sprintf("%s at %s: %s", m.Topic, time.UnixMilli(*m.Timestamp).UTC().Format(time.RFC3339Nano), payloadString(m.Payload))
		})
	})
}

// What in a tool's log says the recipe made it complain.
var (
	telegrafBad = []string{" E! ", " W! [inputs", " W! [parsers"}
	nodeRedBad  = []string{"[error]", "[warn] [function", "[warn] [mqtt"}
)

func complained(log string, bad []string) bool {
	for _, b := range bad {
		if strings.Contains(log, b) {
			return true
		}
	}
	return false
}

// checkLog fails the test for each line of a tool's log that holds one
// of bad: the recipe made it complain.
func checkLog(t testing.TB, who, log string, bad []string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(log, "\n") {
		for _, b := range bad {
			if strings.Contains(l, b) {
				if n++; n <= 10 {
					t.Errorf("%s logged: %s", who, l)
				}
				break
			}
		}
	}
	if n > 10 {
		t.Errorf("%s logged %d such lines in all", who, n)
	}
}

func logFirstLast[T any](t testing.TB, xs []T, show func(T) string) {
	t.Helper()
	if len(xs) > 0 {
		t.Logf("first: %s", show(xs[0]))
		t.Logf("last:  %s", show(xs[len(xs)-1]))
	}
}

func payloadString(p map[string]json.RawMessage) string {
	var parts []string
	for _, k := range []string{"node", "channel", "volts", "amps", "watts", "energy_wh", "flags", "run", "seq", "soc_temp_c", "throttled", "scheduler", "disks"} {
		if v, ok := p[k]; ok {
			parts = append(parts, k+"="+string(v))
		}
	}
	return strings.Join(parts, " ")
}
