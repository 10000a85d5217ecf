package telemetry

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenFrames are the frames whose bytes are pinned in testdata/. They cover
// every key of the schema.
func goldenFrames() map[string]*Frame {
	ok := func(mv, ma, mw int32) Sample { return Sample{MilliVolts: mv, MilliAmps: ma, MilliWatts: mw, OK: true} }
	return map[string]*Frame{
		// Three rails, four samples on the 1 s grid, full status.
		"three_channels": {
			Run: 0xC0FFEE, Seq: 41, Start: 1767323045000, Interval: 1000, Count: 4,
			Channels: []Channel{
				{ID: 0, Samples: []Sample{ok(5102, 702, 3581), ok(5101, 731, 3729), ok(5103, 688, 3511), ok(5098, 1104, 5628)}, EnergyMilliWh: 1234567},
				{ID: 1, Samples: []Sample{ok(5050, 451, 2278), ok(5049, 455, 2297), ok(5050, 449, 2267), ok(5048, 602, 3039)}, EnergyMilliWh: 734001},
				{ID: 2, Samples: []Sample{ok(5080, 41, 208), ok(5080, 39, 198), ok(5081, 40, 203), ok(5080, 41, 208)}, EnergyMilliWh: 91000},
			},
			Status: Status{SoCTemp: 487, HasSoCTemp: true, Throttled: ThrottledUnderVoltageSeen, Scheduler: SchedulerAwake,
				Disks: []DiskState{DiskActive, DiskStandby}},
		},
		// Jittered sample times, a sensor that drops out and comes back, an
		// overflow, a disk powered off, negative current (a battery charging).
		"gaps_and_flags": {
			Run: 7, Seq: 4294967295, Start: 1767323045123, Interval: 500, Count: 5,
			Offsets: []int32{0, 3, -2, 0, 11},
			Channels: []Channel{
				{ID: 3, Samples: []Sample{ok(12010, -350, -4203), {}, {}, ok(12003, -351, -4213), ok(11990, 2900, 34771)},
					EnergyMilliWh: 5, Flags: ChannelOverflow},
				{ID: 9, Samples: []Sample{ok(5000, 10, 50), ok(5000, 10, 50), ok(5000, 10, 50), ok(5000, 10, 50), {}},
					EnergyMilliWh: 0, Flags: ChannelUnavailable},
			},
			Status: Status{Throttled: ThrottledUnderVoltage | ThrottledNow | ThrottledUnderVoltageSeen | ThrottledSeen,
				Scheduler: SchedulerDisksAsleep, Disks: []DiskState{DiskOff}},
		},
		// A node with no sensor still reports its status.
		"status_only": {
			Run: 1, Seq: 0, Start: 0, Interval: 60000, Count: 1,
			Status: Status{SoCTemp: -52, HasSoCTemp: true, Scheduler: SchedulerHalting},
		},
	}
}

func TestGolden(t *testing.T) {
	for name, f := range goldenFrames() {
		t.Run(name, func(t *testing.T) {
			enc, err := Encode(f)
			if err != nil {
				t.Fatal(err)
			}
			diag, err := cbor.Diagnose(enc)
			if err != nil {
				t.Fatalf("diagnose: %v", err)
			}
			diag += "\n"
			cborPath := filepath.Join("testdata", name+".cbor")
			diagPath := filepath.Join("testdata", name+".diag")
			jsonPath := filepath.Join("testdata", name+".json")
			line := AppendJSON(nil, "pi-"+name, f)
			if *update {
				for p, b := range map[string][]byte{cborPath: enc, diagPath: []byte(diag), jsonPath: line} {
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				writeFuzzSeed(t, name, enc)
			}
			want, err := os.ReadFile(cborPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(enc, want) {
				t.Errorf("encoding differs from %s:\n got %s\nwant %s", cborPath, hex.EncodeToString(enc), hex.EncodeToString(want))
			}
			if wantDiag, _ := os.ReadFile(diagPath); string(wantDiag) != diag {
				t.Errorf("diagnostic notation differs from %s:\n got %s\nwant %s", diagPath, diag, wantDiag)
			}
			if wantJSON, _ := os.ReadFile(jsonPath); !bytes.Equal(wantJSON, line) {
				t.Errorf("JSON line differs from %s:\n got %s\nwant %s", jsonPath, line, wantJSON)
			}
			got, err := Decode(want)
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(f)) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
			}
		})
	}
}

// writeFuzzSeed stores enc in the checked-in fuzz corpus.
func writeFuzzSeed(t *testing.T, name string, enc []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("go test fuzz v1\n[]byte(")
	b.WriteString(quoteBytes(enc))
	b.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(dir, "golden_"+name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func quoteBytes(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		s.WriteString(`\x`)
		s.WriteString(hex.EncodeToString([]byte{c}))
	}
	s.WriteByte('"')
	return s.String()
}

// normalize makes frames comparable: all-zero offsets mean no offsets, and
// a missing sample's values do not matter.
func normalize(f *Frame) *Frame {
	c := cloneFrame(f)
	if !hasOffsets(c.Offsets) {
		c.Offsets = nil
	}
	for i := range c.Channels {
		for j := range c.Channels[i].Samples {
			if !c.Channels[i].Samples[j].OK {
				c.Channels[i].Samples[j] = Sample{}
			}
		}
	}
	if len(c.Status.Disks) == 0 {
		c.Status.Disks = nil
	}
	if len(c.Channels) == 0 {
		c.Channels = nil
	}
	return c
}

// TestDeterministic checks the encoding against fxamacker's own core
// deterministic encoder: re-encoding the generic decoding of our bytes must
// give them back unchanged (sorted keys, shortest integers, definite lengths).
func TestDeterministic(t *testing.T) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	frames := synth(3, defaultRails(3), 17, 3, time.Second, benchStart)
	for _, f := range goldenFrames() {
		frames = append(frames, f)
	}
	for _, f := range frames {
		enc, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		var generic any
		if err := cbor.Unmarshal(enc, &generic); err != nil {
			t.Fatal(err)
		}
		again, err := em.Marshal(generic)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, again) {
			t.Errorf("frame seq %d is not in core deterministic form:\n ours %x\n core %x", f.Seq, enc, again)
		}
	}
}

func TestEncoderReuse(t *testing.T) {
	frames := synth(4, defaultRails(2), 10, 3, time.Second, benchStart)
	var e Encoder
	for _, f := range frames {
		got, err := e.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("reused encoder differs for seq %d", f.Seq)
		}
		back, err := Decode(got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(f)) {
			t.Fatalf("round trip of seq %d differs", f.Seq)
		}
	}
}

func TestEncodeRejectsBadFrames(t *testing.T) {
	good := func() *Frame { return cloneFrame(goldenFrames()["three_channels"]) }
	cases := map[string]func(f *Frame){
		"no samples":        func(f *Frame) { f.Count = 0 },
		"zero interval":     func(f *Frame) { f.Interval = 0 },
		"short column":      func(f *Frame) { f.Channels[1].Samples = f.Channels[1].Samples[:2] },
		"duplicate channel": func(f *Frame) { f.Channels[2].ID = 0 },
		"offsets length":    func(f *Frame) { f.Offsets = []int32{0, 1} },
		"first offset":      func(f *Frame) { f.Offsets = []int32{5, 0, 0, 0} },
		"too many disks":    func(f *Frame) { f.Status.Disks = make([]DiskState, MaxDisks+1) },
	}
	for name, breakIt := range cases {
		f := good()
		breakIt(f)
		if _, err := Encode(f); err == nil {
			t.Errorf("%s: Encode accepted it", name)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	valid, err := Encode(goldenFrames()["three_channels"])
	if err != nil {
		t.Fatal(err)
	}
	mustCBOR := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func() map[int]any {
		return map[int]any{0: 1, 1: 1, 2: 1, 3: 1000, 4: 1000, 5: 2, 7: []any{
			map[int]any{0: 0, 1: []any{5000, 1}, 2: []any{100, 1}, 3: []any{500, 1}, 4: 0},
		}}
	}
	with := func(k int, v any) []byte { m := base(); m[k] = v; return mustCBOR(m) }
	without := func(k int) []byte { m := base(); delete(m, k); return mustCBOR(m) }
	channel := func(col1 []any) []byte {
		return with(7, []any{map[int]any{0: 0, 1: col1, 2: []any{100, 1}, 3: []any{500, 1}, 4: 0}})
	}
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"empty":            {nil, "EOF"},
		"truncated":        {valid[:len(valid)-3], "unexpected EOF"},
		"trailing bytes":   {append(bytes.Clone(valid), 0x00), "extraneous data"},
		"not a map":        {mustCBOR([]int{1, 2, 3}), "cannot unmarshal array"},
		"too large":        {make([]byte, MaxFrameBytes+1), "too large"},
		"duplicate key":    {[]byte{0xa2, 0x00, 0x01, 0x00, 0x01}, "duplicate map key"},
		"indefinite array": {[]byte{0xa1, 0x07, 0x9f, 0xff}, "indefinite-length"},
		"tag":              {[]byte{0xa1, 0x00, 0xc1, 0x01}, "tag"},
		"wrong version":    {with(0, 2), "schema version 2"},
		"no version":       {without(0), "no schema version"},
		"no channels key":  {without(7), "missing one of the required keys"},
		"zero samples":     {with(5, 0), "sample count 0"},
		"huge count":       {with(5, 1<<40), "sample count"},
		"negative count":   {with(5, -1), "sample count"},
		"count mismatch":   {with(5, 3), "columns have 2/2/2 values, want 3"},
		"offsets mismatch": {with(6, []any{0, 1, 2}), "3 time offsets for 2 samples"},
		"string key":       {mustCBOR(map[any]any{"0": 1}), "no schema version"},
		"float value":      {with(3, 1.5), "cannot unmarshal"},
		"delta overflow":   {channel([]any{2147483647, 1}), "out of range"},
		"huge delta":       {channel([]any{0, int64(1) << 40}), "out of range"},
		"uint64 overflow":  {channel([]any{0, uint64(1) << 63}), "overflows"},
		"partial null":     {channel([]any{5000, nil}), "null in some columns only"},
		"channel no id":    {with(7, []any{map[int]any{1: []any{1, 1}, 2: []any{1, 1}, 3: []any{1, 1}, 4: 0}}), "misses a required key"},
		"deep nesting":     {with(7, []any{map[int]any{0: 0, 1: []any{[]any{[]any{[]any{[]any{1}}}}}}}), "exceeded max nested level"},
		"too many disks":   {with(8, map[int]any{3: make([]int, MaxDisks+1)}), "disks"},
	}
	for name, c := range cases {
		f, err := Decode(c.in)
		if err == nil {
			t.Errorf("%s: decoded %+v", name, f)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
	if _, err := Decode(make([]byte, MaxFrameBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized input: %v, want ErrTooLarge", err)
	}
}

// TestDecodeSkipsUnknownKeys: a newer agent may add keys within schema 1.
func TestDecodeSkipsUnknownKeys(t *testing.T) {
	m := map[int]any{0: 1, 1: 1, 2: 2, 3: 1000, 4: 1000, 5: 1, 7: []any{
		map[int]any{0: 4, 1: []any{5000}, 2: []any{100}, 3: []any{500}, 4: 9, 17: "future"},
	}, 8: map[int]any{0: 400, 9: []any{1, 2}}, 30: map[int]any{1: 2}}
	b, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Channels[0].ID != 4 || f.Channels[0].Samples[0].MilliWatts != 500 || f.Status.SoCTemp != 400 {
		t.Errorf("decoded %+v", f)
	}
}
