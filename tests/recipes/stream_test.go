package recipes

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"
)

// frame is a telemetry frame as docs/telemetry.cddl describes it, decoded
// generically (integer keys, delta-coded columns) by decodeFrame.
type frame struct {
	Node      string // from the topic <prefix>/<node>/tele
	Run, Seq  uint64
	T0, Dt    int64 // Unix ms, ms
	N         int
	Off       []int64 // nil: all zero
	Channels  []channel
	SocTemp   *int64 // deci-°C; nil: absent
	Throttled uint64
	Sched     uint64
	Disks     []uint64
}

type channel struct {
	ID         uint64
	MV, MA, MW []*int64 // nil: not read
	MWh        uint64
	Flags      uint64
}

// nominal is the time of sample i without its offset: t0 + i·dt.
func (f *frame) nominal(i int) int64 { return f.T0 + int64(i)*f.Dt }

// actual is the time sample i was taken: t0 + i·dt + off[i].
func (f *frame) actual(i int) int64 {
	if f.Off == nil {
		return f.nominal(i)
	}
	return f.nominal(i) + f.Off[i]
}

func (f *frame) String() string {
	return fmt.Sprintf("frame run %d seq %d of %s", f.Run, f.Seq, f.Node)
}

// decodeFrame decodes one message of <prefix>/<node>/tele, refusing what
// the schema does not allow (another version, a key missing or of another
// type, columns or offsets that are not n long, a sample null in some
// columns only). Unknown keys are skipped, as the schema asks.
func decodeFrame(topic string, b []byte) (*frame, error) {
	parts := strings.Split(topic, "/")
	if len(parts) < 3 || parts[len(parts)-1] != "tele" {
		return nil, fmt.Errorf("topic %q is not <prefix>/<node>/tele", topic)
	}
	var m map[uint64]any
	if err := cbor.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a CBOR map with integer keys: %w", topic, err)
	}
	f := &frame{Node: parts[len(parts)-2]}
	fail := func(format string, a ...any) (*frame, error) {
		return nil, fmt.Errorf("%s: frame seq %d: %s", topic, f.Seq, fmt.Sprintf(format, a...))
	}
	if v, ok := m[0].(uint64); !ok || v != 1 {
		return fail("key 0 (v) is %v, want 1", m[0])
	}
	var n int64
	for _, k := range []struct {
		key  uint64
		name string
		into *int64
		u    *uint64
	}{{1, "run", nil, &f.Run}, {2, "seq", nil, &f.Seq}, {3, "t0", &f.T0, nil}, {4, "dt", &f.Dt, nil}, {5, "n", &n, nil}} {
		var ok bool
		if k.u != nil {
			*k.u, ok = m[k.key].(uint64)
		} else {
			ok = asInt(m[k.key], k.into)
		}
		if !ok {
			return fail("key %d (%s) is %T %v", k.key, k.name, m[k.key], m[k.key])
		}
	}
	if f.Dt < 1 || n < 1 || n > 1024 {
		return fail("dt %d, n %d out of range", f.Dt, n)
	}
	f.N = int(n)
	if raw, ok := m[6]; ok {
		offs, ok := raw.([]any)
		if !ok || len(offs) != f.N {
			return fail("key 6 (off) is %T of %d, want %d integers", raw, len(offs), f.N)
		}
		f.Off = make([]int64, f.N)
		for i, o := range offs {
			if !asInt(o, &f.Off[i]) {
				return fail("off[%d] is %T", i, o)
			}
		}
	}
	chs, ok := m[7].([]any)
	if !ok {
		return fail("key 7 (ch) is %T", m[7])
	}
	for _, raw := range chs {
		c, err := decodeChannel(raw, f.N)
		if err != nil {
			return fail("%v", err)
		}
		f.Channels = append(f.Channels, c)
	}
	st, ok := m[8].(map[any]any)
	if !ok {
		return fail("key 8 (st) is %T", m[8])
	}
	if v, present := st[uint64(0)]; present {
		var c int64
		if !asInt(v, &c) {
			return fail("status key 0 (soc_temp) is %T", v)
		}
		f.SocTemp = &c
	}
	for _, k := range []struct {
		key  uint64
		into *uint64
	}{{1, &f.Throttled}, {2, &f.Sched}} {
		if v, present := st[k.key]; present {
			if *k.into, ok = v.(uint64); !ok {
				return fail("status key %d is %T", k.key, v)
			}
		}
	}
	if v, present := st[uint64(3)]; present {
		ds, ok := v.([]any)
		if !ok {
			return fail("status key 3 (disks) is %T", v)
		}
		for _, d := range ds {
			s, ok := d.(uint64)
			if !ok {
				return fail("a disk state is %T", d)
			}
			f.Disks = append(f.Disks, s)
		}
	}
	return f, nil
}

func decodeChannel(raw any, n int) (channel, error) {
	var c channel
	cm, ok := raw.(map[any]any)
	if !ok {
		return c, fmt.Errorf("a channel is %T, want a map", raw)
	}
	if c.ID, ok = cm[uint64(0)].(uint64); !ok {
		return c, fmt.Errorf("a channel's key 0 (id) is %T", cm[uint64(0)])
	}
	if c.MWh, ok = cm[uint64(4)].(uint64); !ok {
		return c, fmt.Errorf("channel %d: key 4 (mwh) is %T", c.ID, cm[uint64(4)])
	}
	if v, present := cm[uint64(5)]; present {
		if c.Flags, ok = v.(uint64); !ok {
			return c, fmt.Errorf("channel %d: key 5 (flags) is %T", c.ID, v)
		}
	}
	for k, col := range []*[]*int64{&c.MV, &c.MA, &c.MW} {
		v, err := undelta(cm[uint64(k+1)])
		if err != nil {
			return c, fmt.Errorf("channel %d: key %d: %v", c.ID, k+1, err)
		}
		if len(v) != n {
			return c, fmt.Errorf("channel %d: key %d has %d samples, the frame says %d", c.ID, k+1, len(v), n)
		}
		*col = v
	}
	for i := range n {
		if (c.MV[i] == nil) != (c.MA[i] == nil) || (c.MV[i] == nil) != (c.MW[i] == nil) {
			return c, fmt.Errorf("channel %d: sample %d is null in some columns only", c.ID, i)
		}
	}
	return c, nil
}

// undelta reads a column: the first non-null value is absolute, each later
// one is added to the previous non-null value.
func undelta(v any) ([]*int64, error) {
	xs, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("column is %T, want an array", v)
	}
	out := make([]*int64, len(xs))
	var acc int64
	seen := false
	for i, x := range xs {
		if x == nil {
			continue
		}
		var d int64
		if !asInt(x, &d) {
			return nil, fmt.Errorf("sample %d is %T", i, x)
		}
		if seen {
			acc += d
		} else {
			acc, seen = d, true
		}
		val := acc
		out[i] = &val
	}
	return out, nil
}

func asInt(v any, into *int64) bool {
	switch x := v.(type) {
	case uint64:
		if x > 1<<63-1 {
			return false
		}
		*into = int64(x)
		return true
	case int64:
		*into = x
		return true
	}
	return false
}

// sample is one reading of one channel in a frame: what a recipe must
// turn into one point.
type sample struct {
	F          *frame
	Ch         uint64
	I          int
	MV, MA, MW int64
}

func (s sample) String() string {
	return fmt.Sprintf("node %s channel %d sample %d of frame run %d seq %d (%s)",
		s.F.Node, s.Ch, s.I, s.F.Run, s.F.Seq, time.UnixMilli(s.F.actual(s.I)).UTC().Format("2006-01-02T15:04:05.000Z"))
}

func (s sample) values() string {
	return fmt.Sprintf("%s V %s A %s W", milli(s.MV), milli(s.MA), milli(s.MW))
}

// milli writes an integer number of thousandths as a decimal.
func milli(v int64) string {
	return strconv.FormatFloat(float64(v)/1000, 'f', -1, 64)
}

// samples lists every sample the frames hold (null ones left out).
func samples(frames []*frame) []sample {
	var out []sample
	for _, f := range frames {
		for _, c := range f.Channels {
			for i := range f.N {
				if c.MV[i] == nil {
					continue
				}
				out = append(out, sample{F: f, Ch: c.ID, I: i, MV: *c.MV[i], MA: *c.MA[i], MW: *c.MW[i]})
			}
		}
	}
	return out
}

// recorder is the independent subscriber: it keeps every telemetry message
// in arrival order and the broker's count of connected clients.
type recorder struct {
	client    paho.Client
	mu        sync.Mutex
	msgs      []paho.Message
	connected int
}

const (
	teleFilter     = "veille/+/tele"
	connectedTopic = "$SYS/broker/clients/connected"
	sentinelNode   = "recipes-sentinel"
	sentinelTopic  = "veille/" + sentinelNode + "/tele"
	recorderID     = "recipes-decoder"
)

func subscribe(t testing.TB, url string) *recorder {
	t.Helper()
	r := &recorder{connected: -1}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(recorderID).SetCleanSession(true).
		SetOrderMatters(true).SetAutoReconnect(false).SetConnectTimeout(patience)
	r.client = paho.NewClient(opts)
	if tok := r.client.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("decoder: connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { r.client.Disconnect(250) })
	tok := r.client.SubscribeMultiple(map[string]byte{teleFilter: 1, connectedTopic: 0}, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if m.Topic() == connectedTopic {
			if n, err := strconv.Atoi(string(m.Payload())); err == nil {
				r.connected = n
			}
			return
		}
		r.msgs = append(r.msgs, m)
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("decoder: subscribe: %v", tok.Error())
	}
	return r
}

// clients is the broker's last count of connected clients (-1: none yet).
func (r *recorder) clients() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected
}

// count is how many telemetry messages came on topic.
func (r *recorder) count(topic string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.Topic() == topic {
			n++
		}
	}
	return n
}

func (r *recorder) publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	tok := r.client.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// frames decodes every telemetry message received; one that does not
// decode fails the test.
func (r *recorder) frames(t testing.TB) []*frame {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*frame
	seen := map[string]bool{}
	for k, m := range r.msgs {
		f, err := decodeFrame(m.Topic(), m.Payload())
		if err != nil {
			t.Fatalf("telemetry message %d (%d bytes): %v", k, len(m.Payload()), err)
		}
		// Delivery is at least once: a frame delivered again (same node,
		// run and sequence number) is the same frame.
		id := fmt.Sprint(f.Node, "/", f.Run, "/", f.Seq)
		if seen[id] {
			t.Logf("frame %s delivered again (at least once): counted once", id)
			continue
		}
		seen[id] = true
		out = append(out, f)
	}
	return out
}

// testFrames are the frames the test publishes after veille's last one:
// once a recipe has written their points, it has written every earlier
// frame's. They hold what the demo may not: a frame where no channel could
// be read, without offsets and with an empty status; then one with a null
// between values, negative currents and power, offsets near ±dt/2, flags,
// a channel null all along, a column that starts after nulls, no SoC
// temperature, an energy counter past 2^32 and every other status key.
func testFrames(t testing.TB) [][]byte {
	t.Helper()
	null := any(nil)
	nulls := []any{null, null, null}
	docs := []map[uint64]any{{
		0: 1, 1: uint32(4000000001), 2: 0,
		3: int64(1767225000000), // 2025-12-31T23:50:00Z
		4: 60000, 5: 3,
		7: []any{
			map[uint64]any{0: 0, 1: nulls, 2: nulls, 3: nulls, 4: uint64(4294967296000), 5: 1},
			map[uint64]any{0: 3, 1: nulls, 2: nulls, 3: nulls, 4: 17, 5: 1},
		},
		8: map[uint64]any{},
	}, {
		0: 1, 1: uint32(4000000001), 2: 1,
		3: int64(1767225600000), // 2026-01-01T00:00:00Z
		4: 60000, 5: 5,
		6: []any{0, 250, -1200, 29999, -29999},
		7: []any{
			map[uint64]any{0: 0,
				1: []any{12034, null, -3, 5, -40},
				2: []any{-1500, null, 3000, -1, 0},
				3: []any{-18051, null, 36100, -20, 7},
				4: uint64(4294967296123), 5: 2},
			map[uint64]any{0: 3,
				1: []any{null, null, 3300, 0, 1},
				2: []any{null, null, 250, 10, -260},
				3: []any{null, null, 825, 33, -857},
				4: 17},
			map[uint64]any{0: 7,
				1: []any{null, null, null, null, null},
				2: []any{null, null, null, null, null},
				3: []any{null, null, null, null, null},
				4: 0, 5: 1},
		},
		8: map[uint64]any{1: 0x50005, 2: 4, 3: []any{2, 3}},
	}}
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range docs {
		b, err := em.Marshal(d)
		if err != nil {
			t.Fatalf("test frame: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// TestDecodeSentinel checks the decoder itself on the sentinel frame,
// whose values are known: the recipes are compared with it.
func TestDecodeSentinel(t *testing.T) {
	fs := testFrames(t)
	empty, err := decodeFrame(sentinelTopic, fs[0])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(samples([]*frame{empty})); n != 0 || empty.Off != nil || empty.SocTemp != nil || empty.Sched != 0 || empty.Disks != nil ||
		len(empty.Channels) != 2 || empty.Channels[0].MWh != 4294967296000 {
		t.Errorf("the empty test frame decoded as %+v, %d samples", empty, n)
	}
	f, err := decodeFrame(sentinelTopic, fs[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range samples([]*frame{f}) {
		got = append(got, fmt.Sprintf("%d/%d@%d:%d,%d,%d", s.Ch, s.I, s.F.actual(s.I), s.MV, s.MA, s.MW))
	}
	want := []string{
		"0/0@1767225600000:12034,-1500,-18051",
		"0/2@1767225718800:12031,1500,18049",
		"0/3@1767225809999:12036,1499,18029",
		"0/4@1767225810001:11996,1499,18036",
		"3/2@1767225718800:3300,250,825",
		"3/3@1767225809999:3300,260,858",
		"3/4@1767225810001:3301,0,1",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sentinel samples:\n got %v\nwant %v", got, want)
	}
	if f.Node != sentinelNode || f.Run != 4000000001 || f.Seq != 1 || f.N != 5 || f.SocTemp != nil || f.Throttled != 0x50005 || f.Sched != 4 ||
		fmt.Sprint(f.Disks) != "[2 3]" || len(f.Channels) != 3 || f.Channels[0].MWh != 4294967296123 || f.Channels[0].Flags != 2 ||
		f.Channels[2].Flags != 1 || f.Channels[1].Flags != 0 {
		t.Errorf("sentinel frame decoded as %+v", f)
	}
	if _, err := decodeFrame(sentinelTopic, []byte{0xa1, 0x00, 0x02}); err == nil {
		t.Error("a frame of schema version 2 decoded")
	}
}
