package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/veille/veille/tests/internal/peers"
)

// validFrame encodes a telemetry frame by hand from docs/telemetry.cddl
// (deterministic CBOR, integer keys), independently of veille's encoder.
func validFrame(t *testing.T, seq uint64, mutate func(map[uint64]any)) []byte {
	t.Helper()
	f := map[uint64]any{
		0: 1, 1: uint64(0xabcdef), 2: seq, 3: int64(1773140400000), 4: uint64(10000), 5: uint64(2),
		7: []any{map[uint64]any{0: 0, 1: []any{5090, -2}, 2: []any{540, 3}, 3: []any{2750, 10}, 4: uint64(1234)}},
		8: map[uint64]any{0: 436, 2: 2, 3: []any{1}},
	}
	if mutate != nil {
		mutate(f)
	}
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := em.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listenLine is one line of `veille listen`: a frame or an error.
type listenLine struct {
	Seq   *uint64 `json:"seq"`
	Topic string  `json:"topic"`
	Size  int     `json:"size"`
	Error string  `json:"error"`
}

// TestListenSurvivesGarbage publishes garbage on the telemetry topic:
// `veille listen` prints one error line per message, naming the topic and
// the size, and goes on decoding the next valid frame.
func TestListenSurvivesGarbage(t *testing.T) {
	broker := peers.Mosquitto(t, nil).URL()
	l := peers.Start(t, "listen", "--broker", broker, "--node", "demo")
	pub := peers.Client(t, broker, "garbage")
	const topic = "veille/demo/tele"

	// Wait until it listens: a valid frame comes out decoded.
	seen := func(seq uint64) bool {
		for _, ln := range listenLines(t, l.Stdout()) {
			if ln.Seq != nil && *ln.Seq == seq {
				return true
			}
		}
		return false
	}
	peers.WaitUntil(t, peers.Patience, "veille listen decodes a first frame", func() bool {
		peers.Publish(t, pub, topic, 1, false, validFrame(t, 1, nil))
		time.Sleep(100 * time.Millisecond)
		return seen(1)
	})
	before := len(listenLines(t, l.Stdout()))

	rnd := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte(rnd.IntN(256))
		}
		return b
	}
	deep := append(bytes.Repeat([]byte{0x81}, 100000), 0x00)
	nested := append(bytes.Repeat([]byte{0x81}, 60000), 0x00) // within the size bound
	full := validFrame(t, 2, nil)
	garbage := [][]byte{
		nil,
		[]byte("hello"),
		[]byte(`{"seq":3,"channels":[]}`),
		random(1024),
		random(1 << 20),
		full[:len(full)/2],
		validFrame(t, 4, func(f map[uint64]any) { f[0] = 2 }),                                // another schema
		validFrame(t, 5, func(f map[uint64]any) { f[5] = uint64(1 << 40) }),                  // n beyond any bound
		validFrame(t, 6, func(f map[uint64]any) { f[4] = uint64(0) }),                        // dt 0
		validFrame(t, 7, func(f map[uint64]any) { f[7] = []any{"not a channel"} }),           // wrong type
		validFrame(t, 8, func(f map[uint64]any) { f[3] = "yesterday" }),                      // wrong type
		validFrame(t, 9, func(f map[uint64]any) { f[6] = []any{1, 2, 3, 4, 5, 6, 7, 8, 9} }), // offsets ≠ n
		{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},                               // array of 2^64-1 items
		{0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},                               // map of 2^63-1 pairs
		{0x5f, 0x41, 0x00},                   // unterminated indefinite bytes
		{0xd9, 0xd9, 0xf7, 0xa0},             // self-described empty map
		{0xa2, 0x00, 0x01, 0x00, 0x01},       // duplicate key
		{0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, // NaN
		deep,
		nested,
		append(full, full...), // two frames in one message
	}
	for _, g := range garbage {
		peers.Publish(t, pub, topic, 1, false, g)
	}
	peers.Publish(t, pub, topic, 1, false, validFrame(t, 100, nil))
	peers.WaitUntil(t, peers.Patience, "veille listen decodes the valid frame after the garbage", func() bool { return seen(100) })

	lines := listenLines(t, l.Stdout())[before:]
	var errs int
	for _, ln := range lines {
		if ln.Error == "" {
			continue
		}
		errs++
		if ln.Topic != topic {
			t.Errorf("error line names topic %q, want %q", ln.Topic, topic)
		}
	}
	if errs != len(garbage) {
		t.Errorf("%d error lines for %d garbage messages:\n%s", errs, len(garbage), strings.Join(lineTexts(l.Stdout()), "\n"))
	}
	for _, want := range []int{0, 5, 1024, 1 << 20, len(deep)} {
		found := false
		for _, ln := range lines {
			found = found || ln.Error != "" && ln.Size == want
		}
		if !found {
			t.Errorf("no error line with size %d", want)
		}
	}
	t.Logf("veille listen said:\n%s", strings.Join(lineTexts(l.Stdout()), "\n"))
	if s := l.Stderr(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		t.Errorf("veille listen crashed:\n%s", s)
	}
	select {
	case <-l.Done():
		t.Fatalf("veille listen exited: %v", l.Err())
	default:
	}
}

func lineTexts(out string) []string {
	var ls []string
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		ls = append(ls, s)
	}
	return ls
}

// listenLines parses veille listen's output; every line must be JSON.
func listenLines(t *testing.T, out string) []listenLine {
	t.Helper()
	var ls []listenLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ln listenLine
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatalf("veille listen printed a line that is not JSON: %q", peers.Abbrev(sc.Bytes()))
		}
		ls = append(ls, ln)
	}
	return ls
}
