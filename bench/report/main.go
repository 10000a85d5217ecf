//go:build bench

// Command report turns the outputs of `make bench` (bench/run.sh) into
// readable tables: it prints them and, with -markdown, rewrites the
// generated parts of BENCHMARKS.md, the text between
// <!-- bench:NAME --> and <!-- /bench:NAME --> markers, leaving everything
// else in the file as it is.
//
//	go run -tags bench ./bench/report -dir bin/bench -markdown BENCHMARKS.md
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/veille/veille/bench"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("report: ")
	dir := flag.String("dir", "bin/bench", "directory with figures.json, gobench.txt, allocs.txt, footprint.json")
	md := flag.String("markdown", "", "BENCHMARKS.md to update (generated sections only)")
	command := flag.String("command", "make bench", "the command that reproduces the figures, for the machine section")
	flag.Parse()

	sections := map[string]string{}
	sections["machine"] = machine(*command)

	var figs bench.Figures
	if err := bench.ReadJSON(filepath.Join(*dir, "figures.json"), &figs); err != nil {
		log.Fatalf("figures: %v (run the figures step of bench/run.sh first)", err)
	}
	sections["accuracy"] = accuracy(figs.Accuracy)
	sections["wire"] = wire(figs.Wire)
	sections["homeassistant"] = homeAssistant(figs.HA)

	gb, err := os.ReadFile(filepath.Join(*dir, "gobench.txt"))
	if err != nil {
		log.Fatalf("sampling cost: %v", err)
	}
	allocs, _ := os.ReadFile(filepath.Join(*dir, "allocs.txt"))
	sections["sampling"] = sampling(parseGoBench(gb), allocs)

	var fp footprint
	if err := bench.ReadJSON(filepath.Join(*dir, "footprint.json"), &fp); err != nil {
		log.Printf("footprint: %v: its section is left as it is", err)
	} else {
		sections["footprint"] = footprintSection(fp)
	}

	for _, name := range []string{"machine", "accuracy", "sampling", "wire", "homeassistant", "footprint"} {
		if s, ok := sections[name]; ok {
			fmt.Printf("== %s\n\n%s\n", name, s)
		}
	}
	if *md != "" {
		if err := update(*md, sections); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("updated %s\n", *md)
	}
}

// update replaces each generated section of the markdown file.
func update(path string, sections map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for name, body := range sections {
		begin, end := "<!-- bench:"+name+" -->", "<!-- /bench:"+name+" -->"
		i := bytes.Index(b, []byte(begin))
		j := bytes.Index(b, []byte(end))
		if i < 0 || j < i {
			return fmt.Errorf("%s: no %s … %s markers for the generated section %q", path, begin, end, name)
		}
		var nb []byte
		nb = append(nb, b[:i+len(begin)]...)
		nb = append(nb, '\n')
		nb = append(nb, body...)
		nb = append(nb, b[j:]...)
		b = nb
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func run(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func machine(command string) string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				mem = fmt.Sprintf("%.0f GiB", kb/1024/1024)
			}
		}
	}
	osName := "?"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	var w strings.Builder
	fmt.Fprintf(&w, "| date | `nproc` | CPU | memory | OS, kernel | Go | command |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&w, "| %s | %s | %s | %s | %s, %s | %s %s/%s | `%s` |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		run("nproc"), cpu, mem, osName, run("uname", "-r"), runtime.Version(), runtime.GOOS, runtime.GOARCH, command)
	return w.String()
}

// dur writes a duration for people: "10 s", "24 h", "16.88 s", "2.2 ms".
func dur(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= time.Second:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".") + " s"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)), "0"), ".") + " ms"
}

func pct(v float64) string { return fmt.Sprintf("%+.3f %%", v) }

func way(r bench.PhaseResult) string {
	switch {
	case r.Method == bench.MethodAccumulator:
		return "veille: hardware ENERGY accumulator"
	case r.Method == bench.MethodPoint:
		return fmt.Sprintf("point sampling (%d × %s)", r.Averaging, dur(r.Conversion))
	case r.Veille && r.OneInput:
		return "veille: averaged window × elapsed, one input enabled"
	case r.Veille && r.Step < r.Interval:
		return fmt.Sprintf("veille: averaged window × elapsed, read every %s", dur(r.Step))
	case r.Veille:
		return "veille: averaged window × elapsed"
	}
	return "averaged window × elapsed (not veille's way for this chip)"
}

func accuracy(rs []bench.PhaseResult) string {
	if len(rs) == 0 {
		return "_not measured_\n"
	}
	var w strings.Builder
	fmt.Fprintf(&w, "Load: `sim.BurstyOpts`, %s simulated per case; each case also run at %d sampling phases spread over one interval.\n\n",
		dur(rs[0].Span), rs[0].Phases)
	fmt.Fprintf(&w, "| way | chip | every | one reading covers | rail | exact Wh | measured Wh | error | error over the phases |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|\n")
	type verdictRow struct {
		what  string
		worst float64
	}
	var rows []verdictRow
	for _, r := range rs {
		covers := dur(r.Window)
		if r.Method == bench.MethodAccumulator {
			covers = "everything (every conversion is added up)"
		}
		for i, rr := range r.Rails {
			fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %.4f | %.4f | %s | %s … %s |\n", way(r), r.Chip, dur(r.Interval),
				covers, rr.Rail, rr.ExactWh, rr.MeasuredWh, pct(rr.ErrorPct), pct(r.MinErrorPct[i]), pct(r.MaxErrorPct[i]))
		}
		if !r.Veille {
			continue
		}
		vr := verdictRow{what: fmt.Sprintf("%s every %s", r.Chip, dur(r.Interval))}
		if r.OneInput {
			vr.what += ", one input enabled"
		}
		for i := range r.Rails {
			vr.worst = math.Max(vr.worst, math.Max(math.Abs(r.MinErrorPct[i]), math.Abs(r.MaxErrorPct[i])))
		}
		rows = append(rows, vr)
	}
	fmt.Fprintf(&w, "\nTarget: veille within 0.5 %%. Worst error of veille's way over both rails and every phase:\n\n| chip, interval | worst error | target ±0.5 %% |\n|---|---|---|\n")
	for _, vr := range rows {
		fmt.Fprintf(&w, "| %s | %.3f %% | **%s** |\n", vr.what, vr.worst, verdict(vr.worst <= 0.5))
	}
	return w.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func kb(b float64) string {
	switch {
	case b >= 1e6:
		return fmt.Sprintf("%.2f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}

func wire(rs []bench.WireResult) string {
	if len(rs) == 0 {
		return "_not measured_\n"
	}
	var w strings.Builder
	r0 := rs[0]
	fmt.Fprintf(&w, "Default configuration: %d samples per frame, %s interval; %s of the bursty load on INA226s (real driver, ledger, Batcher, Encoder).\n\n", r0.Batch, dur(r0.Interval), dur(r0.Span))
	fmt.Fprintf(&w, "| channels | frames | largest frame | CBOR B per sample-channel | with MQTT PUBLISH framing | CBOR per day | same frames as `veille listen` JSON | plain JSON per sample | plain JSON per day (framed) |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|\n")
	worst := 0.0
	for _, r := range rs {
		day := 24 * time.Hour.Seconds() / r.Span.Seconds()
		cb := r.PerSampleChannel(r.CBORBytes)
		worst = math.Max(worst, cb)
		fmt.Fprintf(&w, "| %d | %d | %d B | **%.2f B** | %.2f B | %s | %.1f B | %.1f B | %s |\n", r.Channels, r.Frames, r.MaxFrameBytes, cb,
			r.PerSampleChannel(r.CBORPackets), kb(float64(r.CBORPackets)*day), r.PerSampleChannel(r.ListenJSON), r.PerSampleChannel(r.PlainJSON),
			kb(float64(r.PlainPackets)*day))
	}
	fmt.Fprintf(&w, "\nTarget ≤ 8 B per sample-channel: worst %.2f B — **%s**.\n", worst, verdict(worst <= 8))
	return w.String()
}

func homeAssistant(rs []bench.HAResult) string {
	if len(rs) == 0 {
		return "_not measured_\n"
	}
	var w strings.Builder
	fmt.Fprintf(&w, "| way (same %d values: 3 channels × V, A, W, kWh; SoC temperature, throttling, 2 disks, scheduler, …) | messages per day | bytes per day (MQTT packets) | mean payload |\n", rs[0].Entities)
	fmt.Fprintf(&w, "|---|---|---|---|\n")
	for _, r := range rs {
		day := 24 * time.Hour.Seconds() / r.Span.Seconds()
		fmt.Fprintf(&w, "| veille's state topic, %s load: every %s plus significant changes (real `homeassistant.Reporter`, shipped cadence) | %.0f | **%s** | %.0f B |\n",
			r.Profile, dur(r.StateInterval), float64(r.StateMessages)*day, kb(float64(r.StatePackets)*day), float64(r.StateBytes)/float64(r.StateMessages))
		fmt.Fprintf(&w, "| one flat JSON state every 60 s (system_sensors' way) | %.0f | %s | — |\n",
			float64(r.FlatJSONMessages)*day, kb(float64(r.FlatJSONPackets)*day))
		fmt.Fprintf(&w, "| one plain-text message per value every 60 s (rpi-mqtt-monitor's way) | %.0f | %s | — |\n",
			float64(r.PerValueMessages)*day, kb(float64(r.PerValuePackets)*day))
		fmt.Fprintf(&w, "| veille's discovery (retained, once per connection and Home Assistant restart): %s | %d | %s once | %d B |\n",
			entities(r.DiscoveryEntities), r.DiscoveryMessages, kb(float64(r.DiscoveryPackets)), r.DiscoveryBytes/max(r.DiscoveryMessages, 1))
	}
	return w.String()
}

// entities writes "26 entities (16 sensor, 6 button, …)".
func entities(by map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	total := 0
	for k, n := range by {
		kvs = append(kvs, kv{k, n})
		total += n
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	var parts []string
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%d %s", e.n, e.k))
	}
	return fmt.Sprintf("%d entities (%s)", total, strings.Join(parts, ", "))
}

// goBench is one line of `go test -bench` output.
type goBench struct {
	name                   string
	nsOp, bytesOp, allocOp float64
	cpuNsOp                float64 // BenchmarkSample's own metric; 0 elsewhere
}

var benchName = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?$`)

// parseGoBench reads the result lines: a name, an iteration count, then
// value-unit pairs.
func parseGoBench(b []byte) []goBench {
	var out []goBench
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 {
			continue
		}
		m := benchName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		g := goBench{name: m[1]}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				g.nsOp = v
			case "B/op":
				g.bytesOp = v
			case "allocs/op":
				g.allocOp = v
			case "cpu-ns/op":
				g.cpuNsOp = v
			}
		}
		out = append(out, g)
	}
	return out
}

var benchText = map[string]string{
	"BenchmarkSample/chips/ha":               "**agent tick**: 3 sensors (INA228, INA226, INA260) on an emulated bus, ledger, savings, checkpoint every 15 min, batcher + encode every 30, snapshot, Home Assistant update",
	"BenchmarkSample/chips/ha/no-checkpoint": "the same ticks between two checkpoints: what every sample costs",
	"BenchmarkSample/chips/no-ha":            "the same without Home Assistant",
	"BenchmarkCheckpoint":                    "energy checkpoint of 3 channels (JSON, temporary file, fsync, rename, fsync of the directory), every 15 min",
	"BenchmarkSample/world/ha":               "the same on the demo's simulated world (its load model and files run on every transfer)",
	"BenchmarkLedgerAdd":                     "energy ledger, 3 channels",
	"BenchmarkBatcherAdd":                    "telemetry batcher, one sample of 3 channels",
	"BenchmarkEncode":                        "CBOR encode of a 3-channel, 30-sample frame (reused Encoder)",
}

func sampling(bs []goBench, allocs []byte) string {
	var w strings.Builder
	fmt.Fprintf(&w, "| benchmark | what | ns per op (wall) | CPU ns per op | B per op | allocs per op |\n|---|---|---|---|---|---|\n")
	var tick, between, checkpoint goBench
	for _, b := range bs {
		text := benchText[b.name]
		if strings.HasPrefix(b.name, "BenchmarkSense/") {
			text = "driver Sense, " + strings.TrimPrefix(b.name, "BenchmarkSense/") + " (i2ctest playback)"
		}
		if text == "" {
			continue
		}
		switch b.name {
		case "BenchmarkSample/chips/ha":
			tick = b
		case "BenchmarkSample/chips/ha/no-checkpoint":
			between = b
		case "BenchmarkCheckpoint":
			checkpoint = b
		}
		cpu := "—"
		if b.cpuNsOp > 0 {
			cpu = fmt.Sprintf("%.0f", b.cpuNsOp)
		}
		fmt.Fprintf(&w, "| `%s` | %s | %.0f | %s | %.0f | %.2f |\n", b.name, text, b.nsOp, cpu, b.bytesOp, b.allocOp)
	}
	if between.name != "" && tick.name != "" {
		fmt.Fprintf(&w, "\nTarget 0 allocs per sample: a sample allocates %.0f times (%.0f B) — **%s**. The energy checkpoint every 15 min allocates %.0f times (%.0f B, %.1f ms with its fsyncs), %.2f per tick when spread over the 90 ticks between two checkpoints. At one tick per 10 s, the agent tick's CPU is %.1f ms per hour on this machine.\n",
			between.allocOp, between.bytesOp, verdict(between.allocOp == 0), checkpoint.allocOp, checkpoint.bytesOp, checkpoint.nsOp/1e6,
			tick.allocOp, tick.cpuNsOp*360/1e6)
	}
	if sites := allocSites(allocs, tick.allocOp); sites != "" {
		fmt.Fprintf(&w, "\nWhere the agent tick's allocations come from, checkpoints included (pprof, `-memprofilerate 1`, allocations under `sampleOnce`, scaled to one tick):\n\n%s", sites)
	}
	return w.String()
}

// allocSites reads `go tool pprof -top -lines` output (alloc_objects,
// focused on sampleOnce) and lists our sites with their share of a tick.
func allocSites(b []byte, perTick float64) string {
	type site struct {
		flat float64
		fn   string
		loc  string
	}
	var sites []site
	var total float64
	s := bufio.NewScanner(bytes.NewReader(b))
	re := regexp.MustCompile(`^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+\d+\s+[\d.]+%\s+(\S+)\s+(\S+)`)
	for s.Scan() {
		m := re.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		total += f
		// The profile is built with -trimpath: module paths, not this
		// machine's; whatever absolute path is left is cut to its module.
		loc := strings.TrimPrefix(m[3], "github.com/veille/veille/")
		for _, cut := range []string{"/pkg/mod/", "/src/"} {
			if i := strings.Index(loc, cut); strings.HasPrefix(loc, "/") && i >= 0 {
				loc = loc[i+len(cut):]
			}
		}
		if strings.HasPrefix(loc, "/") {
			loc = filepath.Base(loc)
		}
		sites = append(sites, site{f, m[2], loc})
	}
	if total == 0 || perTick == 0 {
		return ""
	}
	var w strings.Builder
	fmt.Fprintf(&w, "| allocs per tick | function | line |\n|---|---|---|\n")
	// Sites under 0.1 per tick (the checkpoint's JSON and file calls,
	// the CBOR library's per-frame work) are left out.
	for _, st := range sites {
		share := st.flat / total * perTick
		if share < 0.1 {
			continue
		}
		fmt.Fprintf(&w, "| %.2f | `%s` | %s |\n", share, strings.TrimPrefix(st.fn, "github.com/veille/veille/"), st.loc)
	}
	return w.String()
}

// footprint mirrors bench/footprint's Result (only what the report shows).
type footprint struct {
	Start    time.Time
	Warmup   time.Duration
	Duration time.Duration
	Host     struct {
		CPUs                                     int
		CPU, Kernel, Mosquitto, Exporter, Veille string
	}
	Veille   process
	Exporter process
	Streams  []struct {
		Kind                       string
		Messages, Payload, Packets int
		PerDay                     float64
		PerDayBasis                string
	}
	Startup    struct{ Messages, Payload, Packets int }
	CPUProfile []struct {
		Function string
		Percent  float64
	}
	CPUProfileSamples int
	ProfileNote       string
	Scrapes           struct {
		Count, Gzip, Plain, Errors int
		PerDayGzip                 float64
	}
}

type process struct {
	RSSMedianMiB, RSSPeakMiB, AnonMedianMiB, FileMedianMiB float64
	CPUSeconds, CPUPerHour                                 float64
}

// The reference figures (shared/reference/peers_footprint.md): measured the
// same way on a machine like this one, each against a local mosquitto.
type peer struct {
	name                 string
	rss, peak            float64 // MiB
	cpuHour              float64 // s
	msgHour, bytesPerDay float64
}

var peers = []peer{
	{"rpi-mqtt-monitor 1.4.3 (120 s)", 33.8, 35.5, 8.0, 531, 4.0e6},
	{"system_sensors 1.3.2 (60 s)", 39.0, 125.7, 101.6, 58, 0.66e6},
	{"system_sensors, package-update sensor off", 30.9, 30.9, 1.35, 60, 0.65e6},
}

func footprintSection(fp footprint) string {
	var w strings.Builder
	var total struct {
		perDay float64
		msgs   int
	}
	for _, s := range fp.Streams {
		if s.Kind == "total" {
			total.perDay, total.msgs = s.PerDay, s.Messages
		}
	}
	hours := fp.Duration.Hours()
	fmt.Fprintf(&w, "Run of %s: %s warm-up, then %s measured; %s, %s, %s.\n\n", fp.Start.UTC().Format("2006-01-02 15:04 MST"),
		dur(fp.Warmup), dur(fp.Duration), fp.Host.Mosquitto, fp.Host.Exporter, fp.Host.Veille)
	fmt.Fprintf(&w, "| | RSS steady MiB (private + file) | RSS peak MiB | CPU s per hour (per day) | messages per hour | bytes per day |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&w, "| **veille** `run` (3 channels, HA on) | **%.1f** (%.1f + %.1f) | %.1f | **%.2f** (%.1f) | %.0f | **%s** |\n",
		fp.Veille.RSSMedianMiB, fp.Veille.AnonMedianMiB, fp.Veille.FileMedianMiB, fp.Veille.RSSPeakMiB,
		fp.Veille.CPUPerHour, fp.Veille.CPUPerHour*24, float64(total.msgs)/hours, kb(total.perDay))
	fmt.Fprintf(&w, "| prometheus-node-exporter, same run, scraped every 15 s | %.1f (%.1f + %.1f) | %.1f | %.2f (%.1f) | — | %s (gzip; %s of text) |\n",
		fp.Exporter.RSSMedianMiB, fp.Exporter.AnonMedianMiB, fp.Exporter.FileMedianMiB, fp.Exporter.RSSPeakMiB,
		fp.Exporter.CPUPerHour, fp.Exporter.CPUPerHour*24, kb(fp.Scrapes.PerDayGzip),
		kb(float64(fp.Scrapes.Plain)/fp.Duration.Seconds()*86400))
	for _, p := range peers {
		fmt.Fprintf(&w, "| %s (reference) | %.1f | %.1f | %.2f (%.0f) | %.0f | %s |\n", p.name, p.rss, p.peak, p.cpuHour, p.cpuHour*24, p.msgHour, kb(p.bytesPerDay))
	}
	light := peer{rss: math.Inf(1), cpuHour: math.Inf(1), bytesPerDay: math.Inf(1)}
	for _, p := range peers {
		light.rss = math.Min(light.rss, p.rss)
		light.cpuHour = math.Min(light.cpuHour, p.cpuHour)
		light.bytesPerDay = math.Min(light.bytesPerDay, p.bytesPerDay)
	}
	fmt.Fprintf(&w, "\nTargets against the lightest Python reporter:\n\n| | veille | target | |\n|---|---|---|---|\n")
	fmt.Fprintf(&w, "| RSS (VmRSS) | %.1f MiB | ≤ %.1f MiB (⅓ of %.1f) | **%s** |\n", fp.Veille.RSSMedianMiB, light.rss/3, light.rss, verdict(fp.Veille.RSSMedianMiB <= light.rss/3))
	fmt.Fprintf(&w, "| private memory (RssAnon) | %.1f MiB | ≤ %.1f MiB | %s |\n", fp.Veille.AnonMedianMiB, light.rss/3, verdict(fp.Veille.AnonMedianMiB <= light.rss/3))
	fmt.Fprintf(&w, "| CPU | %.2f s/h | ≤ %.3f s/h (1/10 of %.2f) | **%s** |\n", fp.Veille.CPUPerHour, light.cpuHour/10, light.cpuHour, verdict(fp.Veille.CPUPerHour <= light.cpuHour/10))
	fmt.Fprintf(&w, "| bytes per day | %s | ≤ %s (1/10 of %s) | **%s** |\n", kb(total.perDay), kb(light.bytesPerDay/10), kb(light.bytesPerDay), verdict(total.perDay <= light.bytesPerDay/10))
	fmt.Fprintf(&w, "\nveille's MQTT traffic in the window, by stream (PUBLISH packets as sent, QoS as published):\n\n| stream | messages | payload bytes | packet bytes | per day | basis |\n|---|---|---|---|---|---|\n")
	for _, s := range fp.Streams {
		fmt.Fprintf(&w, "| %s | %d | %d | %d | %s | %s |\n", s.Kind, s.Messages, s.Payload, s.Packets, kb(s.PerDay), s.PerDayBasis)
	}
	fmt.Fprintf(&w, "| at connection (discovery, meta, schedule, first state; before the window) | %d | %d | %d | once per connection | |\n",
		fp.Startup.Messages, fp.Startup.Payload, fp.Startup.Packets)
	switch {
	case len(fp.CPUProfile) > 0:
		fmt.Fprintf(&w, "\nWhere veille's CPU goes (perf, cpu-clock at 1999 Hz, %d samples over the window, of a twin with symbols run alongside; share of samples under each function, nested functions overlap):\n\n| function | share |\n|---|---|\n", fp.CPUProfileSamples)
		n := 0
		for _, e := range fp.CPUProfile {
			if n == 15 {
				break
			}
			fmt.Fprintf(&w, "| `%s` | %.1f %% |\n", strings.TrimPrefix(e.Function, "github.com/veille/veille/"), e.Percent)
			n++
		}
	case fp.ProfileNote != "":
		fmt.Fprintf(&w, "\nNo CPU profile: %s.\n", fp.ProfileNote)
	}
	return w.String()
}
