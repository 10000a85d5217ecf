//go:build bench

// Command footprint runs veille and prometheus-node-exporter side by side on
// this machine for the same wall time and measures what each costs: the
// resident memory of its process tree (VmRSS, sampled at 5 Hz), its CPU time
// (utime+stime of the process, its live descendants and its reaped
// children) and, for veille, every byte it publishes to a local mosquitto
// (subscribed to veille/# and homeassistant/#). node-exporter is scraped
// every 15 s over loopback, as a Prometheus server would, gzip accepted.
//
// veille runs `veille run` with a realistic configuration (three INA
// channels on the emulated bus of `[simulation] sensors = true`, Home
// Assistant discovery on, the schedule on, dry_run so that nothing on this
// machine is touched) and a temporary state directory. Everything listens on
// 127.0.0.1 only.
//
//	go run -tags bench ./bench/footprint -veille bin/veille -duration 10m -out footprint.json
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/veille/veille/bench"
)

// veilleConfig is the configuration veille runs with; the %q are the node
// name, the state directory, the broker URL, the topic prefix and the
// discovery prefix.
const veilleConfig = `# written by bench/footprint
version = 1
node = %q
state_dir = %q
log_level = "info"
dry_run = true   # nothing on this machine is put to sleep

[sampling]
interval = "10s"

[[sensor]]
name = "pi"
chip = "ina228"
address = 0x40
shunt_resistance = "15mΩ"
max_current = "10A"

[[sensor]]
name = "media"
chip = "ina226"
address = 0x41
shunt_resistance = "10mΩ"
max_current = "5A"

[[sensor]]
name = "cloud"
chip = "ina260"
address = 0x44

[schedule]
enabled = true
timezone = "UTC"

[[schedule.window]]
name = "night"
days = ["daily"]
sleep = "23:30"
wake = "06:30"
depth = "disks"

[mqtt]
broker = %q
topic_prefix = %q

[homeassistant]
enabled = true
discovery_prefix = %q

[telemetry]
batch = 30

[simulation]
sensors = true
`

// Result is what footprint writes.
type Result struct {
	Start    time.Time
	Warmup   time.Duration
	Duration time.Duration
	Host     Host
	Veille   Process
	Exporter Process
	// Streams are veille's MQTT messages by kind over the window.
	Streams []Stream
	// Startup are the messages veille sent before the window (discovery,
	// meta, the first state: what every connection costs).
	Startup Stream
	Scrapes ScrapeStats
	// CPUProfile is where a second veille (the same build with symbols, run
	// alongside with its own topics) spent its CPU during the window, from
	// perf: the share of samples under each function (children %).
	CPUProfile []ProfileEntry `json:",omitempty"`
	// CPUProfileSamples is the number of perf samples (cpu-clock, 1999 Hz).
	CPUProfileSamples int    `json:",omitempty"`
	ProfileNote       string `json:",omitempty"`
}

// ProfileEntry is one function of the CPU profile.
type ProfileEntry struct {
	Function string
	Percent  float64
}

// Host identifies the machine.
type Host struct {
	CPUs      int
	CPU       string
	Kernel    string
	Mosquitto string
	Exporter  string
	Veille    string
}

// Process is one measured program.
type Process struct {
	Command string
	// RSS of the process tree in MiB: median over the window, and the
	// largest sample of the whole run.
	RSSMedianMiB, RSSPeakMiB float64
	// The median's two parts: private memory (heap, stacks: RssAnon) and
	// pages of files mapped (the binary, libraries: RssFile), which the
	// kernel shares with the page cache and can reclaim.
	AnonMedianMiB, FileMedianMiB float64
	// CPUSeconds is the CPU time used during the window.
	CPUSeconds    float64
	CPUPerHour    float64
	RSSSamples    int
	ProcessesSeen int
}

// Stream is veille's traffic of one kind.
type Stream struct {
	Kind     string
	Messages int
	Payload  int // bytes
	Packets  int // MQTT PUBLISH packets as veille sent them (QoS 1 unless noted)
	// PerDay is Packets extrapolated to a day from the inter-arrival times
	// (see rate).
	PerDay      float64
	PerDayBasis string
}

// ScrapeStats are node-exporter's scrapes during the window.
type ScrapeStats struct {
	Count      int
	Gzip       int // bytes on the wire (gzip)
	Plain      int // bytes of the exposition text
	PerDayGzip float64
	Errors     int
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("footprint: ")
	veilleBin := flag.String("veille", "bin/veille", "veille binary")
	exporterBin := flag.String("node-exporter", "", "prometheus-node-exporter binary (default: from PATH or /usr/bin)")
	mosquittoBin := flag.String("mosquitto", "", "mosquitto binary (default: from PATH or /usr/sbin)")
	warmup := flag.Duration("warmup", 30*time.Second, "time before the measurement window")
	duration := flag.Duration("duration", 10*time.Minute, "measurement window")
	scrape := flag.Duration("scrape", 15*time.Second, "node-exporter scrape interval")
	out := flag.String("out", "", "write the result as JSON to this file")
	keep := flag.Bool("keep", false, "keep the temporary directory (configuration, logs)")
	profile := flag.String("profile-veille", "", "a veille binary with symbols: run it too (its own topics) under perf during the window, to tell where its CPU goes")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, *veilleBin, *exporterBin, *mosquittoBin, *profile, *warmup, *duration, *scrape, *keep)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("veille:        RSS %.1f MiB (%.1f private, %.1f file; peak %.1f), CPU %.2f s in %v (%.2f s/h)\n",
		res.Veille.RSSMedianMiB, res.Veille.AnonMedianMiB, res.Veille.FileMedianMiB, res.Veille.RSSPeakMiB, res.Veille.CPUSeconds, res.Duration, res.Veille.CPUPerHour)
	fmt.Printf("node-exporter: RSS %.1f MiB (%.1f private, %.1f file; peak %.1f), CPU %.2f s in %v (%.2f s/h), %d scrapes\n",
		res.Exporter.RSSMedianMiB, res.Exporter.AnonMedianMiB, res.Exporter.FileMedianMiB, res.Exporter.RSSPeakMiB, res.Exporter.CPUSeconds, res.Duration, res.Exporter.CPUPerHour, res.Scrapes.Count)
	for _, s := range res.Streams {
		fmt.Printf("  %-10s %4d messages %7d B payload %7d B packets  %9.0f B/day (%s)\n", s.Kind, s.Messages, s.Payload, s.Packets, s.PerDay, s.PerDayBasis)
	}
	if *out != "" {
		if err := bench.WriteJSON(*out, res); err != nil {
			log.Fatal(err)
		}
	}
}

func findBin(flagValue, name string, dirs ...string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (`make bench` installs it with apt-get as root)", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(ctx context.Context, port int, what string, logf string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logf)
	return fmt.Errorf("%s did not listen on 127.0.0.1:%d within 20 s; its log:\n%s", what, port, b)
}

// child is a program we started, with its log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(dir, name, bin string, args ...string) (*child, error) {
	logf := filepath.Join(dir, name+".log")
	f, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); f.Close() }()
	return c, nil
}

// stop ends the child's process group with SIGTERM, then SIGKILL after 10 s.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

func (c *child) exited() error {
	select {
	case err := <-c.done:
		c.done <- err
		b, _ := os.ReadFile(c.log)
		return fmt.Errorf("%s exited early (%v); its log:\n%s", c.name, err, tail(b, 4000))
	default:
		return nil
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func version(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func run(ctx context.Context, veilleBin, exporterBin, mosquittoBin, profileBin string, warmup, duration, scrapeEvery time.Duration, keep bool) (*Result, error) {
	var err error
	if mosquittoBin, err = findBin(mosquittoBin, "mosquitto", "/usr/sbin"); err != nil {
		return nil, err
	}
	if exporterBin, err = findBin(exporterBin, "prometheus-node-exporter", "/usr/bin"); err != nil {
		return nil, err
	}
	if _, err := os.Stat(veilleBin); err != nil {
		return nil, fmt.Errorf("veille binary: %w (make build)", err)
	}
	dir, err := os.MkdirTemp("", "veille-footprint-")
	if err != nil {
		return nil, err
	}
	if keep {
		log.Printf("files in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	res := &Result{Warmup: warmup, Duration: duration, Host: host()}
	res.Host.Mosquitto = version(mosquittoBin, "-h")
	res.Host.Exporter = version(exporterBin, "--version")
	res.Host.Veille = version(veilleBin, "version")

	// The broker.
	mqttPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", mqttPort), 0o644); err != nil {
		return nil, err
	}
	broker, err := start(dir, "mosquitto", mosquittoBin, "-c", conf)
	if err != nil {
		return nil, err
	}
	defer broker.stop()
	if err := waitPort(ctx, mqttPort, "mosquitto", broker.log); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)

	// The counter of what veille publishes, subscribed before it starts.
	ctr := &counter{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("footprint-counter").SetOrderMatters(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("subscriber: connect to %s: %v", url, tok.Error())
	}
	defer sub.Disconnect(100)
	for _, topic := range []string{"veille/#", "homeassistant/#"} {
		// QoS 1: messages arrive with the QoS veille published them with.
		if tok := sub.Subscribe(topic, 1, ctr.add); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("subscribe %s: %v", topic, tok.Error())
		}
	}

	// veille.
	cfg, err := writeConfig(dir, "bench", url, "veille", "homeassistant")
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command(veilleBin, "check", "--config", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("veille check: %v\n%s", err, out)
	}
	// node-exporter.
	exPort, err := freePort()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res.Start = t0
	v, err := start(dir, "veille", veilleBin, "run", "--config", cfg)
	if err != nil {
		return nil, err
	}
	defer v.stop()
	ex, err := start(dir, "node-exporter", exporterBin, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", exPort))
	if err != nil {
		return nil, err
	}
	defer ex.stop()
	if err := waitPort(ctx, exPort, "node-exporter", ex.log); err != nil {
		return nil, err
	}

	// The profiled twin: same configuration, topics nobody counts.
	var prof *profiler
	if profileBin != "" {
		perf, err := exec.LookPath("perf")
		if err != nil {
			res.ProfileNote = "perf is not installed: no CPU profile"
			log.Print(res.ProfileNote)
		} else {
			pcfg, err := writeConfig(dir, "bench-profile", url, "veille-profile", "homeassistant-profile")
			if err != nil {
				return nil, err
			}
			twin, err := start(dir, "veille-profile", profileBin, "run", "--config", pcfg)
			if err != nil {
				return nil, err
			}
			defer twin.stop()
			prof = &profiler{perf: perf, pid: twin.cmd.Process.Pid, data: filepath.Join(dir, "perf.data"), dir: dir}
		}
	}

	vm := &meter{pid: v.cmd.Process.Pid}
	em := &meter{pid: ex.cmd.Process.Pid}
	sc := &scraper{url: fmt.Sprintf("http://127.0.0.1:%d/metrics", exPort)}
	windowStart := t0.Add(warmup)
	windowEnd := windowStart.Add(duration)

	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); sample(sctx, 200*time.Millisecond, windowStart, vm, em) }()
	go func() { defer wg.Done(); sc.run(sctx, scrapeEvery, windowStart) }()

	log.Printf("veille (pid %d) and node-exporter (pid %d) run; warm-up %v, then measuring for %v", vm.pid, em.pid, warmup, duration)
	if err := sleepUntil(ctx, windowStart, v, ex); err != nil {
		return nil, err
	}
	vm.mark()
	em.mark()
	if prof != nil {
		if err := prof.start(duration); err != nil {
			res.ProfileNote = err.Error()
			log.Print(err)
			prof = nil
		}
	}
	for time.Now().Before(windowEnd) {
		next := time.Now().Add(time.Minute)
		if windowEnd.Before(next) {
			next = windowEnd
		}
		if err := sleepUntil(ctx, next, v, ex); err != nil {
			return nil, err
		}
		if time.Now().Before(windowEnd) {
			log.Printf("%v left", time.Until(windowEnd).Round(time.Second))
		}
	}
	vm.mark()
	em.mark()
	cancel()
	wg.Wait()

	res.Veille = vm.result(veilleBin+" run", duration)
	res.Exporter = em.result(exporterBin, duration)
	res.Streams, res.Startup = ctr.streams(windowStart, windowEnd)
	res.Scrapes = sc.stats(duration)
	if prof != nil {
		if res.CPUProfile, res.CPUProfileSamples, err = prof.report(); err != nil {
			res.ProfileNote = err.Error()
			log.Print(err)
		}
	}
	return res, nil
}

// writeConfig writes a veille configuration with its own state directory.
func writeConfig(dir, node, url, prefix, discovery string) (string, error) {
	state := filepath.Join(dir, node+"-state")
	if err := os.Mkdir(state, 0o755); err != nil {
		return "", err
	}
	cfg := filepath.Join(dir, node+".toml")
	return cfg, os.WriteFile(cfg, fmt.Appendf(nil, veilleConfig, node, state, url, prefix, discovery), 0o644)
}

// ---- CPU profile ----

// profiler samples one process with perf for the window.
type profiler struct {
	perf, data, dir string
	pid             int
	rec             *child
}

func (p *profiler) start(d time.Duration) error {
	c, err := start(p.dir, "perf", p.perf, "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", p.data,
		"-p", strconv.Itoa(p.pid), "--", "sleep", strconv.Itoa(int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("perf record: %w", err)
	}
	p.rec = c
	return nil
}

// profileRoots are the functions the report shows: veille's own, the MQTT
// client's, and the Go runtime's background work.
var profileRoots = regexp.MustCompile(`^(github\.com/veille/veille/|github\.com/eclipse/paho|runtime\.(sysmon|gcBgMarkWorker|bgsweep|bgscavenge|schedule|findRunnable)$)`)

var perfLine = regexp.MustCompile(`^\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)`)

func (p *profiler) report() ([]ProfileEntry, int, error) {
	select {
	case err := <-p.rec.done:
		p.rec.done <- err
		if err != nil {
			b, _ := os.ReadFile(p.rec.log)
			return nil, 0, fmt.Errorf("perf record: %v: %s", err, tail(b, 2000))
		}
	case <-time.After(30 * time.Second):
		p.rec.stop()
		return nil, 0, errors.New("perf record did not finish")
	}
	out, err := exec.Command(p.perf, "report", "-i", p.data, "--children", "--sort", "symbol", "--stdio").Output()
	if err != nil {
		return nil, 0, fmt.Errorf("perf report: %w", err)
	}
	var entries []ProfileEntry
	samples := 0
	s := bufio.NewScanner(bytes.NewReader(out))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if v, ok := strings.CutPrefix(line, "# Samples: "); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(strings.TrimRight(f[0], "KM"), 64)
				switch {
				case strings.HasSuffix(f[0], "K"):
					n *= 1e3
				case strings.HasSuffix(f[0], "M"):
					n *= 1e6
				}
				samples = int(n)
			}
		}
		m := perfLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fn := strings.ReplaceAll(m[3], "%2e", ".")
		if !profileRoots.MatchString(fn) {
			continue
		}
		pct, _ := strconv.ParseFloat(m[1], 64)
		if pct >= 1 {
			entries = append(entries, ProfileEntry{fn, pct})
		}
	}
	return entries, samples, s.Err()
}

func sleepUntil(ctx context.Context, t time.Time, children ...*child) error {
	for {
		for _, c := range children {
			if err := c.exited(); err != nil {
				return err
			}
		}
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(d, time.Second)):
		}
	}
}

func host() Host {
	h := Host{}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "processor") {
				h.CPUs++
			}
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" && h.CPU == "" {
				h.CPU = strings.TrimSpace(v)
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		h.Kernel = string(b)
	}
	return h
}

// ---- process tree measurement ----

const clockTicks = 100 // USER_HZ on Linux

// meter follows one process tree.
type meter struct {
	pid int

	mu      sync.Mutex
	rss     []memKB // MiB, samples inside the window
	peak    float64
	marks   []float64 // CPU seconds at the window's start and end
	lastCPU float64
	seen    map[int]bool
}

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime float64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command is in parentheses and may hold spaces: parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is the state (field 3): ppid is field 4, utime..cstime 14-17.
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k-3], 64); return v }
	return procStat{ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}, nil
}

// memKB is a process's resident memory in kB.
type memKB struct{ rss, anon, file float64 }

func readRSS(pid int) (memKB, error) {
	var m memKB
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		var dst *float64
		switch k {
		case "VmRSS":
			dst = &m.rss
		case "RssAnon":
			dst = &m.anon
		case "RssFile":
			dst = &m.file
		default:
			continue
		}
		if fs := strings.Fields(v); len(fs) > 0 {
			*dst, _ = strconv.ParseFloat(fs[0], 64)
		}
	}
	return m, s.Err() // a zombie or a kernel thread has no VmRSS: zeros
}

// tree lists pid and its descendants.
func tree(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(p)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// measure returns the tree's RSS (MiB) and CPU time (s): every member's
// utime+stime plus the root's reaped children.
func (m *meter) measure() (mem memKB, cpu float64, pids []int) {
	pids = tree(m.pid)
	for k, p := range pids {
		st, err := readStat(p)
		if err != nil {
			continue
		}
		cpu += st.utime + st.stime
		if k == 0 {
			cpu += st.cutime + st.cstime
		}
		if kb, err := readRSS(p); err == nil {
			mem.rss += kb.rss / 1024
			mem.anon += kb.anon / 1024
			mem.file += kb.file / 1024
		}
	}
	return mem, cpu / clockTicks, pids
}

func (m *meter) tick(inWindow bool) {
	mem, cpu, pids := m.measure()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[int]bool{}
	}
	for _, p := range pids {
		m.seen[p] = true
	}
	m.peak = max(m.peak, mem.rss)
	if inWindow && mem.rss > 0 {
		m.rss = append(m.rss, mem)
	}
	m.lastCPU = max(m.lastCPU, cpu)
}

func (m *meter) mark() {
	_, cpu, _ := m.measure()
	m.mu.Lock()
	m.marks = append(m.marks, max(cpu, m.lastCPU))
	m.mu.Unlock()
}

func (m *meter) result(cmd string, d time.Duration) Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := Process{Command: cmd, RSSPeakMiB: m.peak, RSSSamples: len(m.rss), ProcessesSeen: len(m.seen)}
	if len(m.rss) > 0 {
		s := slices.Clone(m.rss)
		sort.Slice(s, func(i, j int) bool { return s[i].rss < s[j].rss })
		med := s[len(s)/2]
		p.RSSMedianMiB, p.AnonMedianMiB, p.FileMedianMiB = med.rss, med.anon, med.file
	}
	if len(m.marks) == 2 {
		p.CPUSeconds = m.marks[1] - m.marks[0]
		p.CPUPerHour = p.CPUSeconds / d.Hours()
	}
	return p
}

func sample(ctx context.Context, every time.Duration, windowStart time.Time, ms ...*meter) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, m := range ms {
			m.tick(!time.Now().Before(windowStart))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ---- MQTT counting ----

type message struct {
	at       time.Time
	topic    string
	payload  int
	qos      byte
	retained bool
}

type counter struct {
	mu   sync.Mutex
	msgs []message
}

func (c *counter) add(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, message{time.Now(), m.Topic(), len(m.Payload()), m.Qos(), m.Retained()})
	c.mu.Unlock()
}

func kind(topic string) string {
	switch {
	case strings.HasPrefix(topic, "homeassistant/"):
		return "discovery"
	case strings.HasSuffix(topic, "/tele"):
		return "telemetry"
	case strings.HasSuffix(topic, "/state"):
		return "state"
	}
	return "other"
}

// streams sums the messages of the window by kind, and those before it.
// PerDay: the bytes after a stream's first message in the window over the
// time from that message to its last (the mean rate between arrivals); with
// a single message, its size times the window's count per day.
func (c *counter) streams(from, to time.Time) ([]Stream, Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	by := map[string][]message{}
	startup := Stream{Kind: "startup"}
	for _, m := range c.msgs {
		size := bench.MQTTPublishSize(m.topic, m.qos, m.payload)
		if m.at.Before(from) {
			startup.Messages++
			startup.Payload += m.payload
			startup.Packets += size
			continue
		}
		if m.at.After(to) {
			continue
		}
		k := kind(m.topic)
		by[k] = append(by[k], m)
	}
	var out []Stream
	total := Stream{Kind: "total"}
	for _, k := range []string{"telemetry", "state", "discovery", "other"} {
		ms := by[k]
		s := Stream{Kind: k}
		var afterFirst int
		for i, m := range ms {
			size := bench.MQTTPublishSize(m.topic, m.qos, m.payload)
			s.Messages++
			s.Payload += m.payload
			s.Packets += size
			if i > 0 {
				afterFirst += size
			}
		}
		day := 24 * time.Hour
		switch {
		case len(ms) >= 2 && ms[len(ms)-1].at.After(ms[0].at):
			s.PerDay = float64(afterFirst) / ms[len(ms)-1].at.Sub(ms[0].at).Seconds() * day.Seconds()
			s.PerDayBasis = fmt.Sprintf("the %d after the first, over %v", len(ms)-1, ms[len(ms)-1].at.Sub(ms[0].at).Round(time.Second))
		case len(ms) == 1:
			s.PerDay = float64(s.Packets) * day.Seconds() / to.Sub(from).Seconds()
			s.PerDayBasis = "one message in the window"
		default:
			s.PerDayBasis = "none in the window"
		}
		total.Messages += s.Messages
		total.Payload += s.Payload
		total.Packets += s.Packets
		total.PerDay += s.PerDay
		out = append(out, s)
	}
	total.PerDayBasis = "sum of the streams"
	return append(out, total), startup
}

// ---- node-exporter scraping ----

type scraper struct {
	url string

	mu      sync.Mutex
	count   int
	gz, raw int
	errs    int
}

func (s *scraper) run(ctx context.Context, every time.Duration, windowStart time.Time) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		gz, raw, err := s.once(ctx, client)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if !time.Now().Before(windowStart) {
			if err != nil {
				s.errs++
				log.Printf("scrape: %v", err)
			} else {
				s.count++
				s.gz += gz
				s.raw += raw
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *scraper) once(ctx context.Context, client *http.Client) (gz, raw int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: %s", s.url, resp.Status)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return len(body), len(body), nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	return len(body), int(n), nil
}

func (s *scraper) stats(d time.Duration) ScrapeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ScrapeStats{Count: s.count, Gzip: s.gz, Plain: s.raw, Errors: s.errs}
	if s.count > 0 {
		st.PerDayGzip = float64(s.gz) / d.Seconds() * 86400
	}
	return st
}
