package faults

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// TestBrokerOutage stops the broker for a while (SIGTERM: it saves its
// database) and later kills it hard (SIGKILL) while frames flow, restarting
// it each time on the same port. A subscriber with a persistent session
// (clean=false, QoS 1) is away across the clean stop. Every frame veille
// took must reach that subscriber once (duplicates, which at-least-once
// allows, are counted and dropped by run/seq), in order, with the time it
// was sampled: frames taken while the broker was down come later from
// veille's spool, frames that reached the broker while the subscriber was
// away come from the broker's persistence.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	const speed = 300.0
	cycles, outage, away := 1, 3*time.Second, 1500*time.Millisecond
	runFor := 2 * time.Hour // simulated
	if long() {
		cycles, outage, away, runFor = 4, 8*time.Second, 4*time.Second, 9*time.Hour
	}
	b := startBroker(t, true)
	sub := peers.Subscribe(t, b.URL(), &peers.SubscribeOpts{ID: "faults-persistent", Persistent: true}, "veille/demo/tele")
	from := time.Date(2026, 6, 1, 10, 0, 0, 0, peers.Paris)
	conf := peers.Config{Enabled: false, Batch: 6}.Write(t)
	sc := scenario(t, fmt.Sprintf(`{"at":"+%s","do":"stop"}`, runFor))
	d := startDemo(t, "--config", conf, "--scenario", sc, "--from", from.Format("2006-01-02 15:04"),
		"--speed", fmt.Sprint(speed), "--broker", b.URL(), "--for", "0")
	started := time.Now()

	type span struct{ from, to time.Time }
	var stops, aways, kills []span
	if !peers.Within(20*time.Second, func() bool { return len(sub.On("veille/demo/tele", 0)) >= 10 }) {
		t.Fatalf("no telemetry at the subscriber")
	}
	for range cycles {
		// The subscriber goes away; the broker keeps its messages.
		a := span{from: time.Now()}
		sub.Disconnect()
		time.Sleep(away)
		// The broker stops cleanly: veille spools what it takes meanwhile.
		s := span{from: time.Now()}
		b.Stop()
		time.Sleep(outage)
		b.Start()
		s.to = time.Now()
		time.Sleep(away)
		sub.Reconnect() // the same session: no new subscription
		a.to = time.Now()
		stops, aways = append(stops, s), append(aways, a)
		time.Sleep(2 * time.Second)
		// Killed while frames flow (five a second).
		k := span{from: time.Now()}
		b.Kill()
		time.Sleep(time.Second)
		b.Start()
		k.to = time.Now()
		kills = append(kills, k)
		time.Sleep(2 * time.Second)
	}
	d.wait(time.Duration(float64(runFor)/speed) + 90*time.Second)
	// Let the last frames arrive: quiet for a second.
	last := -1
	peers.Within(15*time.Second, func() bool {
		n := len(sub.On("veille/demo/tele", 0))
		defer func() { last = n }()
		if n == last {
			return true
		}
		time.Sleep(time.Second)
		return false
	})

	fs := sub.Frames(t, "veille/demo/tele")
	runs := map[uint64]bool{}
	for _, f := range fs {
		runs[f.Run] = true
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs of the agent in the telemetry, want 1 (nothing restarted it)", len(runs))
	}
	// Once, in order: the first arrival of each seq comes in seq order, and
	// no seq is missing between the first and the last.
	first := map[uint64]*peers.Frame{}
	var order []uint64
	dupes := 0
	for _, f := range fs {
		if _, ok := first[f.Seq]; ok {
			dupes++
			continue
		}
		first[f.Seq] = f
		order = append(order, f.Seq)
	}
	var errs []error
	if !slices.IsSorted(order) {
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				errs = append(errs, fmt.Errorf("frame %d arrived after frame %d", order[i], order[i-1]))
			}
		}
	}
	seqs := slices.Sorted(func(yield func(uint64) bool) {
		for s := range first {
			if !yield(s) {
				return
			}
		}
	})
	lo, hi := seqs[0], seqs[len(seqs)-1]
	lost := int(hi-lo+1) - len(seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			errs = append(errs, fmt.Errorf("frames %d to %d never arrived", seqs[i-1]+1, seqs[i]-1))
		}
	}
	// Original timestamps: each frame starts after the previous one's last
	// sample, whenever it was delivered (the frames taken during the outage
	// are checked against the outage's time below).
	for i := 1; i < len(seqs); i++ {
		p, f := first[seqs[i-1]], first[seqs[i]]
		if f.Seq != p.Seq+1 {
			continue
		}
		if gap := time.UnixMilli(f.T0).Sub(p.End()); gap <= 0 {
			errs = append(errs, fmt.Errorf("frame %d starts %s after frame %d ends: not the time it was sampled", f.Seq, gap, p.Seq))
		}
	}
	if lo > 1 {
		errs = append(errs, fmt.Errorf("the persistent subscriber's first frame is %d: it missed the first ones", lo))
	}
	// Map the simulated time of a sample to the real time it was taken,
	// from the frames that arrived live (before anything happened).
	var offs []float64
	for _, f := range fs {
		if f.At.Before(aways[0].from) {
			sim := f.End().Sub(from).Seconds() / speed
			offs = append(offs, f.At.Sub(started).Seconds()-sim)
		}
	}
	sort.Float64s(offs)
	off := offs[0] // delivery latency is positive: the smallest is the clock offset
	takenAt := func(f *peers.Frame) time.Time {
		return started.Add(time.Duration((f.End().Sub(from).Seconds()/speed + off) * float64(time.Second)))
	}
	spooled, kept, keptAcross := 0, 0, 0
	for _, seq := range seqs {
		f := first[seq]
		at := takenAt(f)
		for i := range stops {
			// Taken while the broker was down (a margin of 300 ms of real
			// time, 25 simulated seconds, on each side for the mapping).
			if at.After(stops[i].from.Add(300*time.Millisecond)) && at.Before(stops[i].to.Add(-300*time.Millisecond)) {
				spooled++
				if f.At.Before(stops[i].to) {
					errs = append(errs, fmt.Errorf("frame %d, taken while the broker was down, arrived before it was back", f.Seq))
				}
			}
			// Reached the broker while the subscriber was away.
			if at.After(aways[i].from.Add(300*time.Millisecond)) && at.Before(aways[i].to.Add(-300*time.Millisecond)) &&
				!(at.After(stops[i].from.Add(-300*time.Millisecond)) && at.Before(stops[i].to.Add(300*time.Millisecond))) {
				kept++
				if at.Before(stops[i].from) {
					keptAcross++ // queued before the clean stop: saved and restored by the broker
				}
			}
		}
	}
	if want := int(float64(cycles) * outage.Seconds() * 2); spooled < want {
		errs = append(errs, fmt.Errorf("only %d frames were taken while the broker was down (want ≥ %d): the outage was not covered", spooled, want))
	}
	if keptAcross < cycles {
		errs = append(errs, fmt.Errorf("only %d frames reached the broker before its clean stop while the subscriber was away", keptAcross))
	}
	if err := errorsJoin(errs, 10); err != nil {
		t.Error(err)
	}
	received := len(fs)
	report(t, "injected: %d clean broker stops of %s, %d SIGKILLs mid-publish, persistent subscriber away %s each time",
		cycles, outage, len(kills), (away*2 + outage).Round(100*time.Millisecond))
	report(t, "counted: sent %d frames (seq %d..%d), received %d, duplicates %d, lost %d, out of order %d",
		hi-lo+1, lo, hi, received, dupes, lost, outOfOrder(order))
	report(t, "counted: %d frames taken while the broker was down arrived later with their sampling time; %d reached the broker while the subscriber was away (%d of them across the broker's restart)",
		spooled, kept, keptAcross)
	downs, spooledAtDown := 0, 0
	for _, r := range d.records("MQTT connection down") {
		downs++
		if n, ok := r["spooled_frames"].(float64); ok {
			spooledAtDown += int(n)
		}
	}
	report(t, "veille saw the connection go down %d times (%d frames spooled then); mosquitto started %d times; real→simulated offset %.0f ms",
		downs, spooledAtDown, b.Starts(), math.Round(off*1000))
}

func outOfOrder(order []uint64) int {
	n := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			n++
		}
	}
	return n
}
