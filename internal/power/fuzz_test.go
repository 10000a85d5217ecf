package power

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzTakeWakeReport reads a sleep record holding anything next to a
// boot_id holding anything. It must not panic, and the record is gone
// afterwards whatever it held: a bad one must not be reported at every
// start.
func FuzzTakeWakeReport(f *testing.F) {
	f.Add([]byte(`{"kind":"sleep","at":"2026-03-01T23:00:00Z","wake_at":"2026-03-02T06:30:00Z","boot_id":"a"}`), "b\n")
	f.Add([]byte(`{"kind":"reboot","at":"2026-03-01T23:00:00Z","boot_id":"a"}`), "a\n")
	f.Add([]byte(`{"kind":"shutdown","at":"9999-12-31T23:59:59Z"}`), "")
	f.Add([]byte(`{"at":"0001-01-01T00:00:00Z","wake_at":"0001-01-01T00:00:00Z"}`), "x")
	f.Add([]byte(`{`), "")
	base := f.TempDir()
	now := time.Date(2026, 3, 2, 6, 30, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rec []byte, boot string) {
		root, err := os.MkdirTemp(base, "root")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		state := filepath.Join(root, "state")
		os.MkdirAll(filepath.Join(root, "proc/sys/kernel/random"), 0o755)
		os.MkdirAll(state, 0o755)
		os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte(boot), 0o644)
		os.WriteFile(filepath.Join(state, sleepRecordFile), rec, 0o600)
		w, err := TakeWakeReport(root, state, now)
		if err == nil && w != nil {
			if w.String() == "" || w.Reason == "" {
				t.Fatalf("report %+v says nothing", w)
			}
			if w.Slept < 0 {
				t.Fatalf("slept %v", w.Slept)
			}
		}
		if _, err := os.Stat(filepath.Join(state, sleepRecordFile)); !os.IsNotExist(err) {
			t.Fatalf("the sleep record is still there after it was read (%v)", err)
		}
	})
}
