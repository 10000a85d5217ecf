package peers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { Main(m) }

// TestConfig: veille takes what Config writes, with the node, the button
// and windows on the days asked for (a Saturday here).
func TestConfig(t *testing.T) {
	t.Parallel()
	path := Config{Node: "cfg", Enabled: true, ButtonLong: "none", Batch: 30,
		Windows: Window("evening", "21:30", "23:00", "disks") + Window("office", "09:30", "12:00", "disks", "weekdays", "sat")}.Write(t)
	if out, err := exec.Command(Veille(t), "check", "-q", "--config", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("veille check: %v: %s", err, out)
	}
	out, err := exec.Command(Veille(t), "check", "--config", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node = 'cfg'", "long = 'none'", "batch = 30", "days = ['weekdays', 'sat']"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("veille check shows no %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(Veille(t), "schedule", "--config", path, "--from", "2026-06-06 08:00", "--count", "1").Output()
	if want := `{"time":"2026-06-06T09:30:00+02:00","state":"disks","window":"office"`; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("veille schedule from Saturday 08:00: %v: %s; want %s...", err, out, want)
	}
}

// TestWatch: the events of the mask in the watched directories, with the
// directory and the name, until the callback says stop.
func TestWatch(t *testing.T) {
	t.Parallel()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	type event struct{ dir, name string }
	got := make(chan event, 10)
	Watch(t, unix.IN_CLOSE_WRITE, func(dir, name string, _ uint32) bool {
		got <- event{dir, name}
		return name != "last"
	}, a, b)
	for _, p := range []string{filepath.Join(a, "one"), filepath.Join(b, "two"), filepath.Join(a, "last"), filepath.Join(b, "after")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []event{{a, "one"}, {b, "two"}, {a, "last"}} {
		select {
		case e := <-got:
			if e != want {
				t.Errorf("event %v, want %v", e, want)
			}
		case <-time.After(Patience):
			t.Fatalf("no event for %v", want)
		}
	}
	select {
	case e := <-got:
		t.Errorf("event %v after the callback said stop", e)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestPersistentSessionAcrossRestarts: what is published while a
// persistent subscriber is away reaches it when it comes back, across a
// clean stop of the broker and across a SIGKILL (saved on every change).
func TestPersistentSessionAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := Mosquitto(t, &MosquittoOpts{Persist: true, SaveOnChange: true, MaxQueued: 5000})
	rec := Subscribe(t, b.URL(), &SubscribeOpts{Persistent: true}, "peers/+/x")
	pub := Client(t, b.URL(), "")
	Publish(t, pub, "peers/0/x", 1, false, []byte("live"))
	rec.WaitFor("peers/0/x", 0, Patience, "the live message", nil)

	rec.Disconnect()
	Publish(t, pub, "peers/1/x", 1, false, []byte("queued-1"))
	pub.Disconnect(100)
	b.Stop() // saves the database
	b.Start()
	db := filepath.Join(filepath.Dir(b.conf), "mosquitto.db")
	pub = Client(t, b.URL(), "")
	Publish(t, pub, "peers/2/x", 1, false, []byte("queued-2"))
	pub.Disconnect(100)
	WaitUntil(t, Patience, "mosquitto saves its database on a change", func() bool {
		d, _ := os.ReadFile(db)
		return bytes.Contains(d, []byte("queued-2"))
	})
	b.Kill() // only what was saved on the change survives
	b.Start()
	rec.Reconnect()
	for i := range 2 {
		m := rec.WaitFor(fmt.Sprintf("peers/%d/x", i+1), 0, Patience, "a message queued across the restarts", nil)
		if string(m.Payload) != fmt.Sprintf("queued-%d", i+1) || m.At.IsZero() {
			t.Errorf("message %d: %q at %v", m.N, m.Payload, m.At)
		}
	}
	if b.Starts() != 3 || rec.Connects() < 2 {
		t.Errorf("%d starts of the broker, %d connections of the subscriber; want 3 and at least 2", b.Starts(), rec.Connects())
	}
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || !strings.HasSuffix(b.URL(), b.Addr()) {
		t.Errorf("broker URL %s, address %s", b.URL(), b.Addr())
	}
}

// TestMosquittoPortTaken: a broker whose port another process took is
// not taken for up, though the port accepts connections.
func TestMosquittoPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	b := &Broker{t: t, bin: mosquittoBin(t), scheme: "tcp", conf: filepath.Join(dir, "mosquitto.conf"), addr: l.Addr().String()}
	if err := os.WriteFile(b.conf, []byte(mosquittoConf(l.Addr().(*net.TCPAddr).Port, dir, &MosquittoOpts{})), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Kill)
	if err := b.launch(); err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("launch on a taken port: %v, want mosquitto's complaint", err)
	}
}

// TestRecorderAndRetained: a clean recorder sees messages in order with
// their marks; Retained reads a retained message as a newcomer would.
func TestRecorderAndRetained(t *testing.T) {
	t.Parallel()
	b := Mosquitto(t, nil)
	rec := Subscribe(t, b.URL(), nil)
	pub := Client(t, b.URL(), "")
	Publish(t, pub, "a/state", 1, true, []byte("one"))
	Publish(t, pub, "b/other", 1, false, []byte("x"))
	Publish(t, pub, "a/state", 1, true, []byte("two"))
	rec.WaitFor("a/state", 0, Patience, "the second state", func(m Message) bool { return string(m.Payload) == "two" })
	mark := rec.Count()
	if ms := rec.On("a/state", 0); len(ms) != 2 || ms[0].N != 0 || ms[1].N != 2 {
		t.Errorf("messages on a/state: %+v", ms)
	}
	if ms := rec.Matching(regexp.MustCompile(`^b/`), 0); len(ms) != 1 || string(ms[0].Payload) != "x" {
		t.Errorf("messages matching ^b/: %+v", ms)
	}
	if _, ok := rec.Last("a/state", mark); ok {
		t.Errorf("a message on a/state after the mark")
	}
	if got := Retained(t, b.URL(), "a/state"); string(got) != "two" {
		t.Errorf("retained %q, want two", got)
	}
	// Published retained only after the reader subscribed: it comes live
	// first, then flagged retained on the subscription that follows.
	got := retained(t, b.URL(), "c/meta", func() { Publish(t, pub, "c/meta", 1, true, []byte("late")) })
	if string(got) != "late" {
		t.Errorf("retained %q, want late", got)
	}
}

// TestProcess runs a shell in place of veille: its output, standard error
// line by line, a wait for output, and the stop by SIGINT.
func TestProcess(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lines []string
	p := start(t, "/bin/sh", Opts{Env: []string{"PEERS_X=42"}, StderrLine: func(l []byte) {
		mu.Lock()
		lines = append(lines, string(l))
		mu.Unlock()
	}}, "-c", `echo "out $PEERS_X"; echo err1 >&2; printf 'err2' >&2; trap 'echo bye; exit 3' INT; while :; do sleep 0.05; done`)
	if got := p.WaitStdout(regexp.MustCompile(`out \d+`), Patience); got != "out 42" {
		t.Errorf("stdout shows %q", got)
	}
	p.Stop()
	<-p.Done()
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "exit status 3") {
		t.Errorf("exit: %v, want exit status 3 (the trap ran)", p.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(lines, ",") != "err1,err2" || p.Stderr() != "" {
		t.Errorf("stderr lines %q, Stderr %q", lines, p.Stderr())
	}
	if out := p.Output(); !strings.Contains(out, "out 42\n") || !strings.Contains(out, "err1\n") || !strings.HasSuffix(out, "bye\n") {
		t.Errorf("output %q", out)
	}
}

// TestProcessWait: a process that ends by itself.
func TestProcessWait(t *testing.T) {
	t.Parallel()
	p := start(t, "/bin/sh", Opts{}, "-c", "echo done >&2; exit 0")
	if err := p.Wait(Patience); err != nil {
		t.Fatal(err)
	}
	if p.Stderr() != "done\n" {
		t.Errorf("stderr %q", p.Stderr())
	}
	if !Within(time.Second, func() bool { return true }) || Within(50*time.Millisecond, func() bool { return false }) {
		t.Errorf("Within")
	}
}
