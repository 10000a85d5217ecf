package peers

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The names of docs/telemetry.cddl, for reading veille's JSON rendering.
var (
	schedNames = []string{"unknown", "disabled", "awake", "held", "disks_asleep", "halting"}
	diskNames  = []string{"unknown", "active", "standby", "off"}
)

// goldenJSON is the JSON rendering (`veille listen`) of a golden frame.
type goldenJSON struct {
	V        int        `json:"v"`
	Run      uint64     `json:"run"`
	Seq      uint64     `json:"seq"`
	Samples  int        `json:"samples"`
	T        []string   `json:"t"`
	Channels []struct { //
		ID    uint64     `json:"id"`
		V     []*float64 `json:"V"`
		A     []*float64 `json:"A"`
		W     []*float64 `json:"W"`
		Wh    float64    `json:"Wh"`
		Flags string     `json:"flags"`
	} `json:"channels"`
	Status struct {
		SocTemp   *float64 `json:"soc_temp_C"`
		Throttled string   `json:"throttled"`
		Scheduler string   `json:"scheduler"`
		Disks     []string `json:"disks"`
	} `json:"status"`
}

// TestDecodeGoldenFrames decodes veille's golden frames
// (internal/telemetry/testdata) and compares every field with the JSON
// that veille renders of them: the two decoders must agree.
func TestDecodeGoldenFrames(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(root, "internal", "telemetry", "testdata", "*.cbor"))
	if len(paths) < 3 {
		t.Fatalf("%d golden frames in internal/telemetry/testdata, want at least 3", len(paths))
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".cbor")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			j, err := os.ReadFile(strings.TrimSuffix(p, ".cbor") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want goldenJSON
			if err := json.Unmarshal(j, &want); err != nil {
				t.Fatal(err)
			}
			f, err := DecodeFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, f, &want)
		})
	}
}

func compareGolden(t *testing.T, f *Frame, want *goldenJSON) {
	t.Helper()
	if want.V != 1 || f.Run != want.Run || f.Seq != want.Seq || f.N != want.Samples {
		t.Fatalf("run %d seq %d n %d, the JSON says v %d run %d seq %d n %d", f.Run, f.Seq, f.N, want.V, want.Run, want.Seq, want.Samples)
	}
	for i, ts := range want.T {
		if got := f.SampleTime(i).UTC().Format("2006-01-02T15:04:05.000Z"); got != ts {
			t.Errorf("sample %d at %s, the JSON says %s", i, got, ts)
		}
	}
	if len(f.Channels) != len(want.Channels) {
		t.Fatalf("%d channels, the JSON has %d", len(f.Channels), len(want.Channels))
	}
	milli := func(x *float64) *int64 {
		if x == nil {
			return nil
		}
		v := int64(math.Round(*x * 1000))
		return &v
	}
	same := func(a, b *int64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	for k, wc := range want.Channels {
		c := f.Channels[k]
		if c.ID != wc.ID || c.MWh != uint64(*milli(&wc.Wh)) {
			t.Errorf("channel %d: id %d, %d mWh; the JSON says id %d, %v Wh", k, c.ID, c.MWh, wc.ID, wc.Wh)
		}
		var flags []string
		if c.Flags&1 != 0 {
			flags = append(flags, "unavailable")
		}
		if c.Flags&2 != 0 {
			flags = append(flags, "overflow")
		}
		if got := strings.Join(flags, "|"); got != wc.Flags {
			t.Errorf("channel %d: flags %s, the JSON says %q", c.ID, got, wc.Flags)
		}
		for i := range f.N {
			for _, col := range []struct {
				name string
				got  *int64
				want *float64
			}{{"mV", c.MV[i], wc.V[i]}, {"mA", c.MA[i], wc.A[i]}, {"mW", c.MW[i], wc.W[i]}} {
				if !same(col.got, milli(col.want)) {
					t.Errorf("channel %d sample %d: %s %v, the JSON says %v", c.ID, i, col.name, deref(col.got), deref(milli(col.want)))
				}
			}
		}
	}
	st := want.Status
	if schedNames[f.Sched] != st.Scheduler {
		t.Errorf("scheduler %d, the JSON says %s", f.Sched, st.Scheduler)
	}
	if th, _ := strconv.ParseUint(strings.TrimPrefix(st.Throttled, "0x"), 16, 64); th != f.Throttled {
		t.Errorf("throttled %#x, the JSON says %s", f.Throttled, st.Throttled)
	}
	if (f.SocTemp == nil) != (st.SocTemp == nil) || f.SocTemp != nil && *f.SocTemp != int64(math.Round(*st.SocTemp*10)) {
		t.Errorf("SoC temperature %v deci-°C, the JSON says %v °C", deref(f.SocTemp), st.SocTemp)
	}
	var disks []string
	for _, d := range f.Disks {
		disks = append(disks, diskNames[d])
	}
	if strings.Join(disks, ",") != strings.Join(st.Disks, ",") {
		t.Errorf("disks %v, the JSON says %v", disks, st.Disks)
	}
}

func deref(p *int64) any {
	if p == nil {
		return "null"
	}
	return *p
}

// frameMap is a valid frame written by hand from docs/telemetry.cddl.
func frameMap() map[uint64]any {
	return map[uint64]any{
		0: 1, 1: uint64(0xabcdef), 2: uint64(9), 3: int64(1773140400000), 4: uint64(10000), 5: uint64(3),
		6: []any{0, 2, -1},
		7: []any{map[uint64]any{0: 4, 1: []any{5090, nil, -2}, 2: []any{540, nil, 3}, 3: []any{2750, nil, 10}, 4: uint64(1234), 5: 1}},
		8: map[uint64]any{0: -52, 2: 4, 3: []any{2, 3}},
		9: "a key of a later version",
	}
}

func encode(t *testing.T, m map[uint64]any) []byte {
	t.Helper()
	b, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeFrame checks the delta columns, nulls, offsets, status and the
// times of a hand-written frame.
func TestDecodeFrame(t *testing.T) {
	f, err := DecodeFrame(encode(t, frameMap()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Run != 0xabcdef || f.Seq != 9 || f.N != 3 || f.Dt != 10000 || len(f.Channels) != 1 {
		t.Fatalf("decoded %+v", f)
	}
	c := f.Channel(4)
	if c == nil || f.Channel(5) != nil {
		t.Fatalf("Channel(4) = %v, Channel(5) = %v", c, f.Channel(5))
	}
	if *c.MV[0] != 5090 || c.MV[1] != nil || *c.MV[2] != 5088 || *c.MA[2] != 543 || *c.MW[2] != 2760 || c.MWh != 1234 || c.Flags != 1 {
		t.Errorf("channel: mV %v %v %v, mA %v, mW %v, %d mWh, flags %d", deref(c.MV[0]), deref(c.MV[1]), deref(c.MV[2]), deref(c.MA[2]), deref(c.MW[2]), c.MWh, c.Flags)
	}
	if f.Sched != 4 || len(f.Disks) != 2 || f.Disks[1] != 3 || f.SocTemp == nil || *f.SocTemp != -52 || f.Throttled != 0 {
		t.Errorf("status: sched %d disks %v soc %v throttled %d", f.Sched, f.Disks, deref(f.SocTemp), f.Throttled)
	}
	t0 := time.UnixMilli(1773140400000)
	if !f.SampleTime(1).Equal(t0.Add(10002*time.Millisecond)) || !f.End().Equal(t0.Add(19999*time.Millisecond)) || f.MaxOffset() != 2 {
		t.Errorf("sample 1 at %v, end %v, max offset %d", f.SampleTime(1), f.End(), f.MaxOffset())
	}
}

// TestDecodeFrameRefuses: what the schema does not allow is an error that
// says what is wrong.
func TestDecodeFrameRefuses(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[uint64]any)
		want   string
	}{
		{"version", func(m map[uint64]any) { m[0] = 2 }, "schema version 2"},
		{"no version", func(m map[uint64]any) { delete(m, 0) }, "schema version"},
		{"no seq", func(m map[uint64]any) { delete(m, 2) }, "key 2 (seq) missing"},
		{"negative run", func(m map[uint64]any) { m[1] = -1 }, "key 1 (run) is int64"},
		{"t0 text", func(m map[uint64]any) { m[3] = "yesterday" }, "key 3 (t0) is string"},
		{"dt 0", func(m map[uint64]any) { m[4] = 0 }, "key 4 (dt)"},
		{"n 0", func(m map[uint64]any) { m[5] = 0 }, "key 5 (n)"},
		{"offsets", func(m map[uint64]any) { m[6] = []any{0, 1} }, "key 6 (off)"},
		{"no channels", func(m map[uint64]any) { delete(m, 7) }, "key 7 (ch) missing"},
		{"channel text", func(m map[uint64]any) { m[7] = []any{"ch"} }, "a channel is string"},
		{"short column", func(m map[uint64]any) {
			m[7].([]any)[0].(map[uint64]any)[2] = []any{1, 2}
		}, "channel 4 has 3/2/3 samples"},
		{"float sample", func(m map[uint64]any) {
			m[7].([]any)[0].(map[uint64]any)[1] = []any{1, 2.5, 3}
		}, "channel 4: key 1: sample 1 is float64"},
		{"no status", func(m map[uint64]any) { delete(m, 8) }, "key 8 (st) missing"},
		{"disk text", func(m map[uint64]any) { m[8] = map[uint64]any{3: []any{"on"}} }, "a disk state is string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := frameMap()
			tc.mutate(m)
			_, err := DecodeFrame(encode(t, m))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, b := range [][]byte{nil, []byte("hello"), {0x81, 0x00}, {0xa1, 0x61, 0x61, 0x00}} {
		if _, err := DecodeFrame(b); err == nil {
			t.Errorf("% x decoded", b)
		}
	}
}
