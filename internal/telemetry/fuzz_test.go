package telemetry

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes. It must never panic, and what it
// accepts must survive Encode → Decode → Encode with identical bytes.
// The corpus in testdata/fuzz/FuzzDecode holds the golden frames.
func FuzzDecode(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.cbor"))
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		fr2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		enc2, err := Encode(fr2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		_ = AppendJSON(nil, "fuzz", fr)
	})
}
