// Package peers is the harness of the end-to-end test packages (tests/...):
// the real peers they drive veille against, and the built binary itself.
//
//   - [Veille] builds cmd/veille once per test binary; [Main], called from
//     TestMain, removes it when the tests end.
//   - [Start] runs a veille command for a test and captures its output
//     ([Process]); [Demo] runs `veille demo` to its end; [QuietDemo] starts
//     the demo at a quiet time of day against a broker; [Config] and
//     [DemoConfig] write its configuration.
//   - [Mosquitto] starts a real mosquitto on a free loopback port, with or
//     without persistence, that a test may stop, kill and restart ([Broker]).
//   - [Subscribe] records what a broker carries ([Recorder]); [Client],
//     [Publish] and [Retained] speak to it as Home Assistant would.
//   - [DecodeFrame] decodes a telemetry frame from docs/telemetry.cddl with
//     a generic CBOR decoder, independently of veille's codec, so that a
//     mistake in the codec is not repeated in the check.
//   - [Watch] follows the changes in directories with inotify.
//
// It imports nothing of veille (internal/archtest enforces it): what the
// tests check must not come from the code under test.
//
// A package that uses it:
//
//	func TestMain(m *testing.M) { peers.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		b := peers.Mosquitto(t, nil)
//		rec := peers.Subscribe(t, b.URL(), nil, "veille/demo/#")
//		v := peers.Start(t, "demo", "--broker", b.URL(), "--for", "0")
//		rec.WaitFor("veille/demo/tele", 0, peers.Patience, "a frame", nil)
//		v.Stop()
//	}
package peers

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata" // Paris, also where the system has no zone files
)

// Patience bounds every wait for something that should happen: generous,
// as the machine may be loaded (2 cores, other packages' tests, fuzzing).
const Patience = 60 * time.Second

// stopPatience is how long a process may take to end after SIGINT.
const stopPatience = 30 * time.Second

// binDir is the temporary directory of Main, where Veille builds.
var binDir string

var built struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests of a package and then removes the binary Veille
// built for them; it does not return. Call it from TestMain:
//
//	func TestMain(m *testing.M) { peers.Main(m) }
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "veille-tests-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "peers: temporary directory for the veille binary: %v\n", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Veille returns the path of the veille binary, built from cmd/veille of
// this module the first time a test asks (CGO_ENABLED=0, as it ships) and
// shared by the whole test binary.
func Veille(t testing.TB) string {
	t.Helper()
	if binDir == "" {
		t.Fatalf("peers.Veille: TestMain must call peers.Main (it removes the binary when the tests end)")
	}
	built.once.Do(func() { built.path, built.err = build(binDir) })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "veille")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/veille")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building veille (go build ./cmd/veille in %s): %v\n%s", root, err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory of veille's go.mod, found upwards from the
// working directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("peers: working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && regexp.MustCompile(`(?m)^module github\.com/veille/veille\s*$`).Match(b) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("peers: no go.mod of github.com/veille/veille above %s", wd)
		}
	}
}

// --- processes -------------------------------------------------------------

// Opts are the choices of StartWith.
type Opts struct {
	// Env adds variables ("K=V") to the test's environment.
	Env []string
	// StderrLine, if set, receives every line of standard error (without
	// its newline) as it comes, in order, and Stderr keeps nothing. It is
	// called from one goroutine; all calls have returned when Done is
	// closed. line is valid only during the call.
	StderrLine func(line []byte)
}

// Process is a veille command running for a test, its output captured.
// When the test ends it is interrupted as Ctrl-C would (an error if it does
// not end within 30 s), and if the test failed the end of its output goes
// to the test's log.
type Process struct {
	t        testing.TB
	args     []string
	cmd      *exec.Cmd
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	output   bytes.Buffer // both, as they came
	lines    *lineWriter
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// Start runs the veille binary with args until the test ends (or Stop).
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartWith(t, Opts{}, args...)
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Opts, args ...string) *Process {
	t.Helper()
	return start(t, Veille(t), o, args...)
}

func start(t testing.TB, bin string, o Opts, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	if o.Env != nil {
		p.cmd.Env = append(os.Environ(), o.Env...)
	}
	p.cmd.Stdout = streamWriter{p, &p.stdout}
	if o.StderrLine != nil {
		p.lines = &lineWriter{p: p, line: o.StderrLine}
		p.cmd.Stderr = p.lines
	} else {
		p.cmd.Stderr = streamWriter{p, &p.stderr}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	go func() {
		err := p.cmd.Wait() // returns once the output is copied
		if p.lines != nil {
			p.lines.flush()
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("veille %s: stdout:\n%s", strings.Join(args, " "), tail(p.Stdout(), 6000))
			if p.lines == nil {
				t.Logf("veille %s: stderr:\n%s", strings.Join(args, " "), tail(p.Stderr(), 6000))
			}
		}
	})
	return p
}

// streamWriter writes one of the process's streams and the combined output.
type streamWriter struct {
	p   *Process
	buf *bytes.Buffer
}

func (w streamWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	w.buf.Write(b)
	return w.p.output.Write(b)
}

// lineWriter hands standard error to Opts.StderrLine line by line.
type lineWriter struct {
	p       *Process
	line    func([]byte)
	partial []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.output.Write(b)
	w.p.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) == 0 {
		w.partial = nil // let the backing array go
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
}

// Stdout is what the process wrote on standard output so far.
func (p *Process) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Stderr is what the process wrote on standard error so far (nothing when
// Opts.StderrLine takes it).
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Output is standard output and standard error so far, as they came.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended (nil: exit status 0), once Done is closed.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the process, and does not wait.
func (p *Process) Signal(sig os.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// Kill ends the process with SIGKILL and waits until it has ended.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop interrupts the process as Ctrl-C would (SIGINT) and waits for it to
// end; one that does not end within 30 s is killed and fails the test.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(stopPatience):
			p.t.Errorf("veille %s did not stop within %v of SIGINT; killed", strings.Join(p.args, " "), stopPatience)
			p.Kill()
		}
	})
}

// Wait waits up to timeout for the process to end by itself and returns how
// it ended (nil: exit status 0). One that does not end in time is killed
// and fails the test.
func (p *Process) Wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		p.t.Fatalf("veille %s did not finish within %v", strings.Join(p.args, " "), timeout)
	}
	return p.Err()
}

// WaitStdout waits for re to match standard output and returns the match.
func (p *Process) WaitStdout(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	return p.waitOutput("stdout", p.Stdout, re, timeout)
}

// WaitStderr waits for re to match standard error and returns the match.
func (p *Process) WaitStderr(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	return p.waitOutput("stderr", p.Stderr, re, timeout)
}

func (p *Process) waitOutput(stream string, text func() string, re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindString(text()); m != "" {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindString(text()); m != "" {
				return m
			}
			p.t.Fatalf("veille %s exited (%v) before its %s showed %q", p.args[0], p.Err(), stream, re)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("veille %s: its %s did not show %q within %v", p.args[0], stream, re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Demo runs `veille demo args...` to its end and returns what it printed
// (standard output and error, as they came); the test fails if it fails.
func Demo(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(Veille(t), append([]string{"demo"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("veille demo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Paris is the demo's time zone.
var Paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(fmt.Sprintf("peers: the demo's time zone: %v", err))
	}
	return l
}()

// QuietStart is the simulated start of QuietDemo: 12:00 on a Tuesday, in
// the demo's time zone.
var QuietStart = time.Date(2026, 3, 10, 12, 0, 0, 0, Paris)

// QuietDemo starts `veille demo -v` against broker at a quiet time of day
// (QuietStart: no window starts and the demo's scripted people are far
// off) and waits until it is connected. At 60× a simulated hour lasts a
// minute: the demo's 21:30 window is nine real minutes away, longer than
// any test that uses it. extra comes after the other arguments.
func QuietDemo(t testing.TB, broker string, extra ...string) *Process {
	t.Helper()
	args := append([]string{"demo", "--broker", broker, "--from", QuietStart.Format("2006-01-02 15:04"), "--speed", "60", "--for", "0", "-v"}, extra...)
	v := Start(t, args...)
	v.WaitStderr(regexp.MustCompile(`connected to the MQTT broker`), Patience)
	return v
}

// DemoConfig writes the demo's own configuration (internal/agent/demo.toml)
// with replacements applied (old, new, old, new...) and returns its path;
// each old string must be there, so that a change of the demo's file shows
// up here instead of silently testing something else.
func DemoConfig(t testing.TB, replace ...string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "internal", "agent", "demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if len(replace)%2 != 0 {
		t.Fatalf("peers.DemoConfig: %d replacement strings, want pairs of old and new", len(replace))
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("internal/agent/demo.toml no longer contains %q: update this test", replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "veille.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// --- waiting ---------------------------------------------------------------

// Within polls cond until it holds, for up to d of real time, and reports
// whether it did.
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitUntil polls cond until it holds, and fails the test (saying what it
// waited for) if it does not within timeout.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("%s: not within %v", what, timeout)
	}
}

// Abbrev shortens a payload for a message: its first 300 bytes.
func Abbrev(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
