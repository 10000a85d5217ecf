package mqtt

import (
	"fmt"
	"testing"
	"time"

	"github.com/veille/veille/internal/telemetry"

	"periph.io/x/conn/v3/physic"
)

// producer makes real telemetry frames with a Batcher and a fake sample
// clock, and remembers what it published.
type producer struct {
	t     *testing.T
	b     *telemetry.Batcher
	run   uint32
	at    time.Time
	sent  map[[2]uint32]int64 // (run, seq) → frame start
	order [][2]uint32
}

func newProducer(t *testing.T, run uint32, start time.Time) *producer {
	b, err := telemetry.NewBatcher(telemetry.BatcherOptions{Channels: []uint16{0, 1}, Samples: 5, Interval: time.Second, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	return &producer{t: t, b: b, run: run, at: start, sent: map[[2]uint32]int64{}}
}

func (p *producer) frames(s *Session, n int) {
	rs := []telemetry.Reading{
		{Voltage: 5100 * physic.MilliVolt, Current: 700 * physic.MilliAmpere, Power: 3570 * physic.MilliWatt, OK: true},
		{Voltage: 5050 * physic.MilliVolt, Current: 450 * physic.MilliAmpere, Power: 2272 * physic.MilliWatt, OK: true},
	}
	for done := 0; done < n; {
		p.at = p.at.Add(time.Second)
		rs[0].EnergyMilliWh++
		f, err := p.b.Add(p.at, rs)
		if err != nil {
			p.t.Fatal(err)
		}
		if f == nil {
			continue
		}
		enc, err := telemetry.Encode(f)
		if err != nil {
			p.t.Fatal(err)
		}
		s.PublishTelemetry(enc)
		k := [2]uint32{f.Run, f.Seq}
		p.sent[k] = f.Start
		p.order = append(p.order, k)
		done++
	}
}

// TestMosquittoOutage runs the session against a real mosquitto: the broker
// is killed (SIGKILL) while frames are in flight, stays down while frames keep
// coming and the agent itself restarts, then comes back. Every frame must
// arrive, in order within each subscriber, with its original timestamps.
func TestMosquittoOutage(t *testing.T) {
	m := startMosquitto(t)
	p := newProxy(t, m.addr)
	dir := t.TempDir()
	start := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)

	sub1 := subscribe(t, m.url(), "veille/+/tele")
	s1 := newTestSession(t, p.url(), "pi", dir)
	stop1 := runSession(t, s1)
	waitFor(t, "session connected", 10*time.Second, func() bool { return s1.Stats().Connected })

	prod1 := newProducer(t, 1, start)
	prod1.frames(s1, 30)
	waitFor(t, "first 30 frames acknowledged", 10*time.Second, func() bool { return s1.Stats().Sent == 30 })

	// Hard kill while the next frames are being published.
	p.setEnabled(false) // the session may come back only after the subscriber
	prod1.frames(s1, 10)
	m.kill()
	prod1.frames(s1, 20)
	waitFor(t, "frames spooled during the outage", 10*time.Second, func() bool {
		st := s1.Stats()
		return st.Sent+st.Spooled == 60
	})

	// The agent restarts while the broker is still down.
	stop1()
	st1 := s1.Stats()
	s2 := newTestSession(t, p.url(), "pi", dir)
	if got := s2.Stats().Waiting; got != int(st1.Spooled) {
		t.Fatalf("restarted session finds %d spooled frames, want %d", got, st1.Spooled)
	}
	runSession(t, s2)
	prod2 := newProducer(t, 2, start.Add(time.Hour))
	prod2.frames(s2, 10)
	waitFor(t, "restarted session spools", 10*time.Second, func() bool { return s2.Stats().Spooled == 10 })

	// The broker comes back; a consumer subscribes, then the agent reconnects.
	m.start()
	sub2 := subscribe(t, m.url(), "veille/+/tele")
	p.setEnabled(true)
	prod2.frames(s2, 15)
	total := len(prod1.sent) + len(prod2.sent)
	received := func() map[[2]uint32]bool {
		seen := map[[2]uint32]bool{}
		for _, s := range []*subscriber{sub1, sub2} {
			for _, msg := range s.got() {
				f, err := telemetry.Decode(msg.Payload)
				if err != nil {
					t.Fatalf("undecodable frame on %s: %v", msg.Topic, err)
				}
				seen[[2]uint32{f.Run, f.Seq}] = true
			}
		}
		return seen
	}
	waitFor(t, "every frame received", 30*time.Second, func() bool { return len(received()) == total })

	dups := 0
	for i, s := range []*subscriber{sub1, sub2} {
		last := map[uint32]int64{}
		for _, msg := range s.got() {
			f, _ := telemetry.Decode(msg.Payload)
			k := [2]uint32{f.Run, f.Seq}
			want, ok := prod1.sent[k]
			if !ok {
				want, ok = prod2.sent[k]
			}
			if !ok {
				t.Fatalf("subscriber %d got a frame nobody sent: %v", i+1, k)
			}
			if f.Start != want {
				t.Errorf("frame %v start %d, sent with %d: timestamp changed", k, f.Start, want)
			}
			if prev, seen := last[f.Run]; seen && int64(f.Seq) < prev {
				t.Errorf("subscriber %d: run %d seq %d after %d: out of order", i+1, f.Run, f.Seq, prev)
			}
			last[f.Run] = int64(f.Seq)
		}
	}
	// A frame delivered just before the kill whose PUBACK was lost is
	// replayed: it shows up at both subscribers, which is the documented
	// at-least-once case.
	for k := range received() {
		if n := countIn(sub1, k) + countIn(sub2, k); n > 1 {
			dups += n - 1
		}
	}
	st2 := s2.Stats()
	fmt.Printf("mosquitto outage: produced %d frames; session 1 sent %d spooled %d; session 2 sent %d spooled %d replayed %d; received %d distinct (%d duplicate deliveries); dropped %d\n",
		total, st1.Sent, st1.Spooled, st2.Sent, st2.Spooled, st2.Replayed, len(received()), dups, st1.Dropped+st2.Dropped)
	if st1.Dropped+st2.Dropped != 0 {
		t.Errorf("frames dropped")
	}
	if st2.Waiting != 0 {
		t.Errorf("%d frames still in the spool", st2.Waiting)
	}
	if dups > 2 {
		t.Errorf("%d duplicate deliveries: only a frame in flight at the kill may come twice", dups)
	}
}

func countIn(s *subscriber, k [2]uint32) int {
	n := 0
	for _, msg := range s.got() {
		f, err := telemetry.Decode(msg.Payload)
		if err == nil && f.Run == k[0] && f.Seq == k[1] {
			n++
		}
	}
	return n
}
