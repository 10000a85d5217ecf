package power

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := filepath.Join(dir, "x.json")
	for _, content := range []string{"one", "two"} {
		if err := writeAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("content %q, want %q", b, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := removeDurable(p); err != nil {
		t.Fatal(err)
	}
	if err := removeDurable(p); err != nil {
		t.Errorf("removing twice: %v", err)
	}
}

func TestTakeWakeReport(t *testing.T) {
	at := time.Date(2026, 2, 3, 23, 30, 0, 0, time.UTC)
	wake := time.Date(2026, 2, 4, 6, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		rec    SleepRecord
		now    time.Time
		reason string
		slept  time.Duration
		none   bool
	}{
		{"alarm", SleepRecord{Kind: "sleep", At: at, WakeAt: wake, BootID: "old"}, wake.Add(20 * time.Second), "rtc alarm", 7*time.Hour + 20*time.Second, false},
		{"alarm, clock a minute behind", SleepRecord{Kind: "sleep", At: at, WakeAt: wake, BootID: "old"}, wake.Add(-time.Minute), "rtc alarm", 7*time.Hour - time.Minute, false},
		{"button", SleepRecord{Kind: "sleep", At: at, WakeAt: wake, BootID: "old"}, at.Add(3 * time.Hour), "button or power", 3 * time.Hour, false},
		{"shutdown", SleepRecord{Kind: "shutdown", At: at, BootID: "old"}, at.Add(time.Hour), "button or power", time.Hour, false},
		{"reboot", SleepRecord{Kind: "reboot", At: at, BootID: "old"}, at.Add(40 * time.Second), "reboot", 40 * time.Second, false},
		{"clock not set", SleepRecord{Kind: "sleep", At: at, WakeAt: wake, BootID: "old"}, time.Unix(0, 0), "unknown", 0, false},
		{"same boot", SleepRecord{Kind: "sleep", At: at, WakeAt: wake, BootID: "this-boot"}, wake, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "proc/sys/kernel/random"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte("this-boot\n"), 0o644)
			b, _ := json.Marshal(tc.rec)
			os.WriteFile(filepath.Join(state, sleepRecordFile), b, 0o644)

			w, err := TakeWakeReport(root, state, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(state, sleepRecordFile)); !os.IsNotExist(err) {
				t.Error("record not removed")
			}
			if tc.none {
				if w != nil {
					t.Errorf("report %v for a record of this boot", w)
				}
				return
			}
			if w == nil || w.Reason != tc.reason || w.Slept != tc.slept {
				t.Fatalf("report %+v, want %s after %s", w, tc.reason, tc.slept)
			}
			if again, err := TakeWakeReport(root, state, tc.now); again != nil || err != nil {
				t.Errorf("second report %v, %v", again, err)
			}
		})
	}
}

func TestTakeWakeReportCorrupt(t *testing.T) {
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, sleepRecordFile), []byte("{"), 0o644)
	if _, err := TakeWakeReport(t.TempDir(), state, time.Now()); err == nil {
		t.Error("corrupt record accepted")
	}
	if _, err := os.Stat(filepath.Join(state, sleepRecordFile)); !os.IsNotExist(err) {
		t.Error("corrupt record kept (it would fail every start)")
	}
}
