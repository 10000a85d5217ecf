package recipes

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// patience bounds every wait for something that should happen: generous,
// as the machine may be loaded (2 cores, other tests, a cold build).
const patience = 90 * time.Second

// waitFor polls cond until it holds or timeout passes, and says which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// repoRoot is the directory of veille's go.mod, above this module's.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	re := regexp.MustCompile(`(?m)^module github\.com/veille/veille\s*$`)
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && re.Match(b) {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod of github.com/veille/veille above %s", wd)
		}
	}
}

// buildVeille builds cmd/veille of the repository into dir, as it ships
// (CGO_ENABLED=0).
func buildVeille(root, dir string) (string, error) {
	bin := filepath.Join(dir, "veille")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/veille")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building veille (go build ./cmd/veille in %s): %v\n%s", root, err, out)
	}
	return bin, nil
}

// proc is a child process of the test with its output captured; it is
// ended when the test ends, and the end of its output goes to the test's
// log if the test failed.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// startProc runs bin with args in dir (the test's directory if empty),
// with env added to the test's environment.
func startProc(t testing.TB, name, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	w := lockedWriter{&p.mu, &p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	// Its own process group, so that ending it ends what it started.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s (%s %s): %v", name, bin, strings.Join(args, " "), err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s: output (end):\n%s", name, tail(p.output(), 8000))
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitErr is how the process ended, once it has.
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// stop sends sig to the process group and waits for the process to end;
// after 20 s it is killed.
func (p *proc) stop(sig syscall.Signal) {
	if p.exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// wait waits up to timeout for the process to end by itself and returns
// how it ended; one still running then is killed and fails the test.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.stop(syscall.SIGKILL)
		t.Fatalf("%s did not finish within %v", p.name, timeout)
	}
	return p.exitErr()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// broker is a real mosquitto on a free loopback port, logging connections
// and subscriptions to standard error (which the test reads), and
// publishing $SYS/broker/clients/connected every second.
type broker struct {
	addr string
	p    *proc
}

func startMosquitto(t testing.TB) *broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // not on a user's PATH on Debian
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// The port is free when asked for, but another process may take it
	// before mosquitto binds it: then another one.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		var c strings.Builder
		if os.Geteuid() == 0 {
			c.WriteString("user root\n") // else it drops to a user that cannot read our directory
		}
		fmt.Fprintf(&c, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nsys_interval 1\n", port)
		c.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n")
		if err := os.WriteFile(conf, []byte(c.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		b := &broker{addr: fmt.Sprintf("127.0.0.1:%d", port)}
		b.p = startProc(t, "mosquitto", dir, nil, bin, "-c", conf)
		// Up once it says so (then the port is its own: another process on
		// it would have made it exit) and accepts a connection.
		up := waitFor(patience, func() bool {
			if b.p.exited() {
				return true
			}
			if !strings.Contains(b.p.output(), " running") {
				return false
			}
			c, err := net.Dial("tcp", b.addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		switch {
		case b.p.exited() && attempt < 3 && strings.Contains(b.p.output(), "Address already in use"):
			continue
		case b.p.exited():
			t.Fatalf("mosquitto on %s exited at its start: %s", b.addr, b.p.output())
		case !up:
			t.Fatalf("mosquitto did not accept connections on %s within %v: %s", b.addr, patience, b.p.output())
		}
		return b
	}
}

func (b *broker) url() string { return "tcp://" + b.addr }

// subscribed says whether client has subscribed to filter (mosquitto logs
// "<client> <qos> <filter>").
func (b *broker) subscribed(client, filter string) bool {
	re := regexp.MustCompile(`(?m)^\d+: ` + regexp.QuoteMeta(client) + ` [012] ` + regexp.QuoteMeta(filter) + `$`)
	return re.MatchString(b.p.output())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cacheDir is bin/recipes of the repository, where built and installed
// tools are kept between runs (bin/ is not versioned).
func cacheDir(root string) (string, error) {
	dir := filepath.Join(root, "bin", "recipes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	return dir, nil
}
