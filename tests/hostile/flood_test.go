package hostile

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/veille/veille/tests/internal/peers"
)

// cadence is the samples per simulated hour in frames, from the end of the
// first frame to the end of the last (the first frame's own samples count
// as taken before the span starts).
func cadence(t *testing.T, msgs []peers.Message) (perHour float64, frames int, maxOff int64) {
	t.Helper()
	var fs []*peers.Frame
	for _, m := range msgs {
		f, err := peers.DecodeFrame(m.Payload)
		if err != nil {
			t.Errorf("telemetry frame does not decode: %v", err)
			continue
		}
		fs = append(fs, f)
		maxOff = max(maxOff, f.MaxOffset())
	}
	if len(fs) < 3 {
		t.Fatalf("only %d frames to measure a cadence", len(fs))
	}
	end := func(f *peers.Frame) int64 { return f.T0 + int64(f.N-1)*f.Dt }
	var samples int64
	for _, f := range fs[1:] {
		samples += int64(f.N)
	}
	span := end(fs[len(fs)-1]) - end(fs[0])
	return float64(samples) / float64(span) * 3.6e6, len(fs), maxOff
}

// rss returns the resident set size of process pid, in bytes (VmRSS).
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the process's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// flood publishes hostile messages from several clients at about rate
// messages per second until stop is closed, and returns how many it sent.
func flood(t *testing.T, broker string, rate int, stop <-chan struct{}) *atomic.Int64 {
	t.Helper()
	var sent atomic.Int64
	big := make([]byte, 64<<10)
	huge := make([]byte, 1<<20)
	for k := range big {
		big[k] = byte(rand.N(256))
	}
	copy(huge, big)
	kinds := []func(r *rand.Rand) (string, []byte){
		func(r *rand.Rand) (string, []byte) {
			return fmt.Sprintf("veille/demo/cmd/x%d", r.IntN(1e6)), []byte("PRESS")
		},
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmd/schedule", []byte("MAYBE") },
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmd/stay_awake", []byte("-7") },
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmd/sleep_now", []byte("NOW") },
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmd/reboot", big[:33+r.IntN(4000)] },
		func(r *rand.Rand) (string, []byte) {
			b := make([]byte, 1+r.IntN(32))
			for k := range b {
				b[k] = byte(r.IntN(256))
			}
			return "veille/demo/cmd/shutdown", b
		},
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmd/a/b/c", []byte("PRESS") },
		func(r *rand.Rand) (string, []byte) { return "veille/other/cmd/sleep_now", []byte("PRESS") },
		func(r *rand.Rand) (string, []byte) { return "veille/demo/cmdsleep_now", []byte("PRESS") },
		func(r *rand.Rand) (string, []byte) { return "homeassistant/status", big[:r.IntN(64)] },
	}
	var wg sync.WaitGroup
	const clients = 4
	for c := 0; c < clients; c++ {
		cl := peers.Client(t, broker, fmt.Sprintf("flood-%d", c))
		wg.Add(1)
		go func(c int, cl paho.Client) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 42))
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			per := max(1, rate/clients/100)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for k := 0; k < per; k++ {
					topic, payload := kinds[r.IntN(len(kinds))](r)
					cl.Publish(topic, 0, false, payload)
				}
				sent.Add(int64(per))
				switch {
				case n%100 == 0: // about one a second per client
					cl.Publish("veille/demo/cmd/sleep_disks", 0, false, huge)
					sent.Add(1)
				case n%5 == 0:
					cl.Publish("veille/demo/cmd/wake_disks", 0, false, big)
					sent.Add(1)
				}
			}
		}(c, cl)
	}
	t.Cleanup(wg.Wait)
	return &sent
}

// TestCommandFlood floods the running binary with hostile commands
// (thousands a second: unknown, wrong, oversized up to 1 MiB, binary, on
// topics around the node's own) and checks that sampling keeps its cadence
// (samples per simulated hour in the telemetry, with and without the
// flood), that memory stays bounded, and that a real command still works
// afterwards.
func TestCommandFlood(t *testing.T) {
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil, "veille/demo/tele")
	// 120×: a sample every 83 ms of real time, a frame every half second.
	v := peers.Start(t, "demo", "--broker", broker, "--from", "2026-03-10 12:00", "--speed", "120", "--for", "0", "-v")
	v.WaitStderr(regexp.MustCompile(`connected to the MQTT broker`), peers.Patience)
	rec.WaitFor("veille/demo/tele", 0, peers.Patience, "a first frame", nil)
	pid := v.Pid()

	phase := 12 * time.Second
	start := rec.Count()
	time.Sleep(phase)
	quiet := rec.Count()
	rssBefore := rss(t, pid)
	base, nBase, offBase := cadence(t, rec.Matching(regexp.MustCompile(`^veille/demo/tele$`), start)[:quiet-start])

	stop := make(chan struct{})
	sent := flood(t, broker, 4000, stop)
	time.Sleep(phase)
	close(stop)
	flooded := rec.Count()
	during, nFlood, offFlood := cadence(t, rec.Matching(regexp.MustCompile(`^veille/demo/tele$`), quiet)[:flooded-quiet])

	// Still in command: a real command is taken once the flood has passed.
	ha := peers.Client(t, broker, "homeassistant")
	peers.Publish(t, ha, "veille/demo/cmd/stay_awake", 1, false, []byte("0"))
	v.WaitStderr(regexp.MustCompile(`msg="MQTT command" command="stay_awake 0s"`), peers.Patience)
	rssAfter := rss(t, pid)
	logs := v.Stderr()
	refused := strings.Count(logs, `msg="refused MQTT command"`)
	dropped := strings.Count(logs, `handlers lag, message dropped`)
	t.Logf("flood: %d messages in %v (%.0f/s); veille refused %d in its log, dropped %d unread (inbox full)",
		sent.Load(), phase, float64(sent.Load())/phase.Seconds(), refused, dropped)
	t.Logf("cadence: %.1f samples per simulated hour in %d frames without the flood (largest offset %d ms), %.1f in %d frames with it (%d ms)",
		base, nBase, offBase, during, nFlood, offFlood)
	t.Logf("RSS: %.1f MiB before the flood, %.1f MiB after", float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20))

	// A sample every 10 s: 360 an hour. A loaded machine (2 cores, other
	// tests) takes a few late, with or without the flood; the flood must not
	// cost more than that.
	const want = 360
	if base < 0.8*want {
		t.Logf("without the flood veille took only %.1f samples per simulated hour, want %d: the machine is loaded", base, want)
	}
	if during < 0.8*min(base, want) {
		t.Errorf("the flood slowed sampling: %.1f samples per simulated hour, %.1f without it (want %d)", during, base, want)
	}
	if refused == 0 {
		t.Errorf("veille refused nothing: the flood did not reach it")
	}
	if grow := rssAfter - rssBefore; grow > 64<<20 {
		t.Errorf("RSS grew by %.1f MiB during the flood (bound 64 MiB)", float64(grow)/(1<<20))
	}
	if strings.Contains(logs, "panic") {
		t.Errorf("veille panicked")
	}
	// Telemetry lost nothing: sequence numbers follow each other.
	var last peers.Frame
	for k, m := range rec.On("veille/demo/tele", 0) {
		f, err := peers.DecodeFrame(m.Payload)
		if err != nil {
			continue
		}
		if k > 0 && f.Run == last.Run && f.Seq != last.Seq+1 {
			t.Errorf("telemetry frame %d follows %d", f.Seq, last.Seq)
		}
		last = *f
	}
}

// TestAnnouncementFlood floods the two harmless-looking messages that make
// veille publish its whole discovery (about 8 KB, retained, which every Home
// Assistant then parses): the refresh command and Home Assistant's birth.
// veille answers at most once per 5 simulated seconds (the state's minimum
// interval), however many arrive: no amplification.
func TestAnnouncementFlood(t *testing.T) {
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil, "homeassistant/device/demo/config", "veille/demo/tele")
	v := peers.Start(t, "demo", "--broker", broker, "--from", "2026-03-10 12:00", "--speed", "60", "--for", "0", "-v")
	v.WaitStderr(regexp.MustCompile(`connected to the MQTT broker`), peers.Patience)
	rec.WaitFor("homeassistant/device/demo/config", 0, peers.Patience, "discovery at connect", nil)
	rec.WaitFor("veille/demo/tele", 0, peers.Patience, "a first frame", nil)

	c := peers.Client(t, broker, "flood")
	mark := rec.Count()
	var sent int
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		for k := 0; k < 10; k++ {
			c.Publish("veille/demo/cmd/refresh", 0, false, []byte("PRESS"))
			c.Publish("homeassistant/status", 0, false, []byte("online"))
			sent += 2
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the last ones be handled: a command after them is logged.
	ha := peers.Client(t, broker, "homeassistant")
	peers.Publish(t, ha, "veille/demo/cmd/stay_awake", 1, false, []byte("0"))
	v.WaitStderr(regexp.MustCompile(`msg="MQTT command" command="stay_awake 0s"`), peers.Patience)
	end := rec.Count()
	// The flood's simulated span lies between the last frame before it and
	// the first one after it.
	var before []peers.Message
	for _, m := range rec.On("veille/demo/tele", 0) {
		if m.N < mark {
			before = append(before, m)
		}
	}
	after := rec.WaitFor("veille/demo/tele", end, peers.Patience, "a frame after the flood", nil)
	if len(before) == 0 {
		t.Fatal("no frame before the flood")
	}
	first, err1 := peers.DecodeFrame(before[len(before)-1].Payload)
	last, err2 := peers.DecodeFrame(after.Payload)
	if err1 != nil || err2 != nil {
		t.Fatalf("frames: %v, %v", err1, err2)
	}
	simulated := time.Duration(last.T0+int64(last.N)*last.Dt-first.T0) * time.Millisecond
	announced := 0
	for _, m := range rec.On("homeassistant/device/demo/config", mark) {
		if m.N < end {
			announced++
		}
	}
	limit := int(simulated/(5*time.Second)) + 3
	t.Logf("%d refresh commands and births in %v of simulated time: %d announcements (limit %d)", sent, simulated, announced, limit)
	if announced > limit {
		t.Errorf("%d announcements of the discovery for %d requests in %v: more than one per 5 s", announced, sent, simulated)
	}
	if announced == 0 {
		t.Errorf("no announcement at all: the requests did not reach veille")
	}
}
