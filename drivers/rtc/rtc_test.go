package rtc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kernel plays drivers/rtc/sysfs.c wakealarm_store over a file in a temporary
// tree: a future time while enabled is EBUSY, a past time disables, and the
// attribute shows the alarm only while it is enabled.
type kernel struct {
	now     time.Time
	enabled bool
	writes  []string
	// ignoreClear makes writing a past time a no-op, like a driver whose
	// alarm cannot be disabled: the next arm then meets EBUSY.
	ignoreClear bool
}

func (k *kernel) write(name string, data []byte, perm fs.FileMode) error {
	k.writes = append(k.writes, string(data))
	sec, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return &fs.PathError{Op: "write", Path: name, Err: syscall.EINVAL}
	}
	if sec > k.now.Unix() {
		if k.enabled {
			return &fs.PathError{Op: "write", Path: name, Err: syscall.EBUSY}
		}
		k.enabled = true
		return os.WriteFile(name, []byte(strconv.FormatInt(sec, 10)+"\n"), perm)
	}
	if k.ignoreClear {
		return nil
	}
	k.enabled = false
	return os.WriteFile(name, nil, perm)
}

// tree makes <root>/sys/class/rtc/rtc0/wakealarm with content.
func tree(t *testing.T, content string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "class", "rtc", "rtc0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wakealarm"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

var now = time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)

func TestPathDefaults(t *testing.T) {
	t.Parallel()
	w := &WakeAlarm{}
	if got, want := w.Path(), "/sys/class/rtc/rtc0/wakealarm"; got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	w = &WakeAlarm{Root: "/tmp/x", Name: "rtc1"}
	if got, want := w.Path(), "/tmp/x/sys/class/rtc/rtc1/wakealarm"; got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	if got := w.String(); got != "rtc1 wake alarm" {
		t.Errorf("String() = %q", got)
	}
}

func TestCapable(t *testing.T) {
	t.Parallel()
	root := tree(t, "")
	if ok, err := (&WakeAlarm{Root: root}).Capable(); err != nil || !ok {
		t.Errorf("rtc0 with wakealarm: Capable() = %v, %v; want true, nil", ok, err)
	}
	// An RTC without wakealarm: the directory exists, the attribute does not.
	if err := os.MkdirAll(filepath.Join(root, "sys", "class", "rtc", "rtc1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, err := (&WakeAlarm{Root: root, Name: "rtc1"}).Capable(); err != nil || ok {
		t.Errorf("rtc1 without wakealarm: Capable() = %v, %v; want false, nil", ok, err)
	}
	if ok, err := (&WakeAlarm{Root: root, Name: "rtc9"}).Capable(); err != nil || ok {
		t.Errorf("missing rtc9: Capable() = %v, %v; want false, nil", ok, err)
	}
	// A path through a regular file is an error, not "not capable".
	f := filepath.Join(root, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&WakeAlarm{Root: f}).Capable(); err == nil {
		t.Error("Capable() under a regular file: got nil error")
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		content string
		want    time.Time
		ok      bool
		err     bool
	}{
		{content: "", ok: false},
		{content: "\n", ok: false},
		{content: "1795474800\n", want: time.Unix(1795474800, 0), ok: true},
		{content: "soon\n", err: true},
		{content: "-5\n", err: true},
	} {
		w := &WakeAlarm{Root: tree(t, tc.content)}
		got, ok, err := w.Read()
		if (err != nil) != tc.err {
			t.Errorf("%q: Read() error = %v, want error %v", tc.content, err, tc.err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "rtc0 wake alarm") {
				t.Errorf("%q: error %q does not name the RTC", tc.content, err)
			}
			continue
		}
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%q: Read() = %v, %v; want %v, %v", tc.content, got, ok, tc.want, tc.ok)
		}
	}
	if _, _, err := (&WakeAlarm{Root: t.TempDir()}).Read(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read() without the attribute: error %v, want fs.ErrNotExist", err)
	}
}

func TestSetReplacesArmedAlarm(t *testing.T) {
	t.Parallel()
	k := &kernel{now: now}
	w := &WakeAlarm{Root: tree(t, ""), WriteFile: k.write}
	first := now.Add(6 * time.Hour)
	if err := w.Set(first); err != nil {
		t.Fatalf("Set(%v): %v", first, err)
	}
	// The second Set meets an enabled alarm: without the leading 0 the kernel
	// would answer EBUSY.
	second := now.Add(7*time.Hour + 1500*time.Millisecond)
	if err := w.Set(second); err != nil {
		t.Fatalf("Set(%v) over an armed alarm: %v", second, err)
	}
	got, ok, err := w.Read()
	if err != nil || !ok || got.Unix() != second.Unix() {
		t.Errorf("Read() = %v, %v, %v; want %v armed", got, ok, err, second.Truncate(time.Second))
	}
	want := []string{"0", strconv.FormatInt(first.Unix(), 10), "0", strconv.FormatInt(second.Unix(), 10)}
	if strings.Join(k.writes, ",") != strings.Join(want, ",") {
		t.Errorf("writes = %q, want %q", k.writes, want)
	}
}

func TestSetEBUSY(t *testing.T) {
	t.Parallel()
	k := &kernel{now: now, enabled: true, ignoreClear: true}
	w := &WakeAlarm{Root: tree(t, "1795474800\n"), WriteFile: k.write}
	err := w.Set(now.Add(time.Hour))
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Set() with an alarm that will not clear: error %v, want EBUSY", err)
	}
	for _, s := range []string{"rtc0", "EBUSY", "still has an alarm armed", "device or resource busy"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestSetPastTimeIsDetected(t *testing.T) {
	t.Parallel()
	k := &kernel{now: now}
	w := &WakeAlarm{Root: tree(t, ""), WriteFile: k.write}
	err := w.Set(now.Add(-time.Minute))
	if err == nil || !strings.Contains(err.Error(), "reads back disabled") {
		t.Fatalf("Set(past) error = %v, want a read-back failure", err)
	}
}

func TestSetReadBackMismatch(t *testing.T) {
	t.Parallel()
	root := tree(t, "")
	// An RTC with a coarse alarm (minutes only) stores a different time.
	coarse := func(name string, data []byte, perm fs.FileMode) error {
		sec, _ := strconv.ParseInt(string(data), 10, 64)
		if sec == 0 {
			return os.WriteFile(name, nil, perm)
		}
		return os.WriteFile(name, []byte(strconv.FormatInt(sec/60*60, 10)+"\n"), perm)
	}
	w := &WakeAlarm{Root: root, WriteFile: coarse}
	err := w.Set(time.Unix(1795474830, 0))
	if err == nil || !strings.Contains(err.Error(), "reads back") {
		t.Fatalf("Set() error = %v, want a read-back mismatch", err)
	}
}

func TestSetWriteErrors(t *testing.T) {
	t.Parallel()
	for _, failAt := range []int{1, 2} {
		root := tree(t, "")
		n := 0
		w := &WakeAlarm{Root: root, WriteFile: func(name string, data []byte, perm fs.FileMode) error {
			n++
			if n == failAt {
				return &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
			}
			return os.WriteFile(name, data, perm)
		}}
		err := w.Set(now)
		if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "rtc0 wake alarm: set 2026-11-22T23:00:00Z") {
			t.Errorf("write %d fails: Set() error = %v", failAt, err)
		}
	}
	if err := (&WakeAlarm{Root: tree(t, "")}).Set(time.Unix(0, 0)); err == nil {
		t.Error("Set(epoch): got nil error")
	}
}

func TestClear(t *testing.T) {
	t.Parallel()
	k := &kernel{now: now, enabled: true}
	w := &WakeAlarm{Root: tree(t, "1795474800\n"), WriteFile: k.write}
	if err := w.Clear(); err != nil {
		t.Fatalf("Clear(): %v", err)
	}
	if _, ok, err := w.Read(); ok || err != nil {
		t.Errorf("after Clear, Read() ok = %v, err = %v", ok, err)
	}
	// A clear that does not take is reported.
	k = &kernel{now: now, enabled: true, ignoreClear: true}
	w = &WakeAlarm{Root: tree(t, "1795474800\n"), WriteFile: k.write}
	if err := w.Clear(); err == nil || !strings.Contains(err.Error(), "still armed") {
		t.Errorf("Clear() on a stuck alarm: error %v", err)
	}
	w = &WakeAlarm{Root: tree(t, ""), WriteFile: func(string, []byte, fs.FileMode) error { return syscall.EIO }}
	if err := w.Clear(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Clear() with a failing write: error %v, want EIO", err)
	}
}

func FuzzParseWakeAlarm(f *testing.F) {
	for _, s := range []string{"", "\n", "1795474800\n", "0", "-1", "+600", "12a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, ok, err := ParseWakeAlarm(b)
		if err != nil && ok {
			t.Fatalf("ParseWakeAlarm(%q): ok with an error", b)
		}
		if ok && tm.Unix() < 0 {
			t.Fatalf("ParseWakeAlarm(%q) = %v before the epoch", b, tm)
		}
		if ok {
			again, ok2, err2 := ParseWakeAlarm([]byte(strconv.FormatInt(tm.Unix(), 10)))
			if err2 != nil || !ok2 || !again.Equal(tm) {
				t.Fatalf("round trip of %q: %v %v %v", b, again, ok2, err2)
			}
		}
	})
}
