package energy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzStoreLoad reads counter files holding anything (a torn write, a bad
// SD card, an edit by hand). Load must not panic; it returns either a state
// it can use (version 1, maps present) or a fresh one with an error.
func FuzzStoreLoad(f *testing.F) {
	dir := f.TempDir()
	s := &Store{Dir: dir}
	st := State{Version: 1, Epoch: "e1", Saved: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), Clean: true,
		Channels: map[string]uint64{"pi": 36e8, "disk": 12}, Day: 20260301, Today: map[string]uint64{"pi": 1}, SavedEnergy: 5, Baseline: 4.2, Writes: 3}
	if err := s.Save(st); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, fileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, good)
	f.Add(good[:len(good)/2], good)
	f.Add([]byte(`{"state":{"version":2},"crc32":0}`), []byte{})
	f.Add([]byte("null"), []byte(`{"state":null}`))
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, cur, prev []byte) {
		d, err := os.MkdirTemp(base, "store")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(d)
		os.WriteFile(filepath.Join(d, fileName), cur, 0o600)
		os.WriteFile(filepath.Join(d, fileName+".prev"), prev, 0o600)
		st, _ := (&Store{Dir: d}).Load()
		if st.Version != 1 || st.Channels == nil || st.Today == nil || st.Epoch == "" {
			t.Fatalf("unusable state %+v", st)
		}
	})
}
