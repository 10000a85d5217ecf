package recipes

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The Telegraf the recipe is run in: its module, pinned by version and by
// the checksum the Go checksum database has for it, built with only the
// plugins the recipe and the test use (Telegraf's build tags: "custom"
// and one per plugin, docs/CUSTOMIZATION.md of Telegraf).
const (
	telegrafModule  = "github.com/influxdata/telegraf"
	telegrafVersion = "v1.34.0"
	telegrafSum     = "h1:H/FMVEAUptY4Q9V9qNAhBHxXVYrJZJLZI/fIu5XFEZs="
)

var telegrafTags = []string{"custom", "inputs.mqtt_consumer", "parsers.xpath", "outputs.file", "serializers.json"}

// telegrafBinary returns Telegraf from bin/recipes, building it there the
// first time: in its own module directory with its own go.sum, so that
// its dependencies are the ones its release has, and never enter veille's
// go.mod.
func telegrafBinary(root string) (string, error) {
	cache, err := cacheDir(root)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(strings.Join(telegrafTags, ",")))
	bin := filepath.Join(cache, "telegraf-"+telegrafVersion+"-"+hex.EncodeToString(h[:4]))
	if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	tmp, err := os.MkdirTemp(cache, ".telegraf-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dl := exec.Command("go", "mod", "download", "-json", telegrafModule+"@"+telegrafVersion)
	dl.Dir = tmp // outside any module
	dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := dl.Output()
	var mod struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || err != nil || mod.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %s", telegrafModule, telegrafVersion, err, mod.Error, out)
	}
	if mod.Sum != telegrafSum {
		return "", fmt.Errorf("go mod download %s@%s: checksum %s, want %s", telegrafModule, telegrafVersion, mod.Sum, telegrafSum)
	}
	built := filepath.Join(tmp, "telegraf")
	build := exec.Command("go", "build", "-trimpath", "-tags", strings.Join(telegrafTags, ","),
		"-ldflags", "-s -w -X "+telegrafModule+"/internal.Version="+strings.TrimPrefix(telegrafVersion, "v"),
		"-o", built, "./cmd/telegraf")
	build.Dir = mod.Dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building Telegraf %s (go build -tags %s ./cmd/telegraf in %s): %v\n%s",
			telegrafVersion, strings.Join(telegrafTags, ","), mod.Dir, err, out)
	}
	if err := os.Rename(built, bin); err != nil {
		return "", fmt.Errorf("caching Telegraf: %w", err)
	}
	return bin, nil
}

var (
	reTelegrafServers = regexp.MustCompile(`(?m)^(\s*servers\s*=\s*)\["tcp://127\.0\.0\.1:1883"\]\s*$`)
	reTelegrafClient  = regexp.MustCompile(`(?m)^\s*client_id\s*=\s*"([^"]+)"\s*$`)
)

// telegrafConfig is docs/recipes/telegraf.conf with only the broker
// address changed, and what the test adds: a quick flush and a file output
// of JSON lines with millisecond timestamps. It also returns the recipe's
// MQTT client id.
func telegrafConfig(recipe []byte, brokerURL, out string) (string, string, error) {
	if n := len(reTelegrafServers.FindAllIndex(recipe, -1)); n != 1 {
		return "", "", fmt.Errorf("telegraf.conf: %d lines servers = [\"tcp://127.0.0.1:1883\"], want one (the test points it at its broker)", n)
	}
	m := reTelegrafClient.FindSubmatch(recipe)
	if m == nil {
		return "", "", fmt.Errorf("telegraf.conf: no client_id (the test waits for its subscription)")
	}
	conf := reTelegrafServers.ReplaceAll(recipe, []byte(`${1}["`+brokerURL+`"]`))
	conf = append(conf, fmt.Sprintf(`
# Added by tests/recipes.
[agent]
  flush_interval = "500ms"
  metric_buffer_limit = 1000000
  omit_hostname = true

[[outputs.file]]
  files = [%q]
  data_format = "json"
  json_timestamp_units = "1ms"
`, out)...)
	return string(conf), string(m[1]), nil
}

// point is one metric of Telegraf's JSON output.
type point struct {
	Name      string                 `json:"name"`
	Tags      map[string]string      `json:"tags"`
	Fields    map[string]json.Number `json:"fields"`
	Timestamp int64                  `json:"timestamp"`
}

// readLines reads the complete lines of a file that may still be written
// (a last line without its newline is left for later).
func readLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		return nil, nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out, sc.Err()
}

func readPoints(path string) ([]point, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	pts := make([]point, 0, len(lines))
	for k, l := range lines {
		var p point
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&p); err != nil {
			return nil, fmt.Errorf("%s line %d: %v: %s", path, k+1, err, l)
		}
		pts = append(pts, p)
	}
	return pts, nil
}

// telegrafExpected is how many points the recipe writes for frames: one
// per non-null value of each column, one energy point per channel, one
// status point.
func telegrafExpected(frames []*frame) int {
	n := 0
	for _, f := range frames {
		n += 3*len(samples([]*frame{f})) + len(f.Channels) + 1
	}
	return n
}

type pointKey struct {
	name, node, channel string
	ms                  int64
}

// checker gathers mismatches and reports the first ones.
type checker struct {
	t      testing.TB
	who    string
	errors int
}

func (c *checker) errorf(format string, a ...any) {
	c.t.Helper()
	c.errors++
	if c.errors <= 25 {
		c.t.Errorf(c.who+": "+format, a...)
	}
}

func (c *checker) done() {
	c.t.Helper()
	if c.errors > 25 {
		c.t.Errorf("%s: %d mismatches in all (the first 25 above)", c.who, c.errors)
	}
}

// milliEqual says whether the decimal got is want thousandths.
func milliEqual(got json.Number, want int64) bool {
	f, err := strconv.ParseFloat(string(got), 64)
	return err == nil && math.Abs(f*1000-float64(want)) < 1e-6
}

func intEqual(got json.Number, want uint64) bool {
	v, err := strconv.ParseUint(string(got), 10, 64)
	return err == nil && v == want
}

// checkTelegraf compares the points Telegraf wrote with the frames: every
// sample's volts, amps and watts at t0 + i·dt, every channel's energy
// counter and flags and every status at the frame's last sample, and
// nothing else.
func checkTelegraf(t testing.TB, frames []*frame, pts []point) {
	t.Helper()
	c := &checker{t: t, who: "telegraf"}
	defer c.done()
	got := map[pointKey]map[string]json.Number{}
	for _, p := range pts {
		k := pointKey{p.Name, p.Tags["node"], p.Tags["channel"], p.Timestamp}
		if got[k] == nil {
			got[k] = map[string]json.Number{}
		}
		for f, v := range p.Fields {
			// A frame delivered twice (at least once) is written twice with
			// the same values, which InfluxDB stores as one point; another
			// value at the same series and time is wrong.
			if old, dup := got[k][f]; dup && old != v {
				c.errorf("%s %s twice for node %s channel %s at %d: %s, then %s", p.Name, f, k.node, k.channel, k.ms, old, v)
			}
			got[k][f] = v
		}
	}
	take := func(k pointKey, what string) map[string]json.Number {
		fs, ok := got[k]
		if !ok {
			c.errorf("no %s point for %s", k.name, what)
			return nil
		}
		delete(got, k)
		return fs
	}
	field := func(fs map[string]json.Number, name, what, want string, ok func(json.Number) bool) {
		c.t.Helper()
		v, present := fs[name]
		switch {
		case !present:
			c.errorf("%s: no field %s (the frame says %s)", what, name, want)
		case !ok(v):
			c.errorf("%s: %s = %s, the frame says %s", what, name, v, want)
		}
	}
	for _, s := range samples(frames) {
		fs := take(pointKey{"veille_rail", s.F.Node, strconv.FormatUint(s.Ch, 10), s.F.nominal(s.I)}, s.String())
		if fs == nil {
			continue
		}
		field(fs, "volts", s.String(), milli(s.MV), func(v json.Number) bool { return milliEqual(v, s.MV) })
		field(fs, "amps", s.String(), milli(s.MA), func(v json.Number) bool { return milliEqual(v, s.MA) })
		field(fs, "watts", s.String(), milli(s.MW), func(v json.Number) bool { return milliEqual(v, s.MW) })
		if len(fs) != 3 {
			c.errorf("%s: fields %v, want volts, amps and watts", s, fs)
		}
	}
	for _, f := range frames {
		end := f.nominal(f.N - 1)
		for _, ch := range f.Channels {
			what := fmt.Sprintf("channel %d of %s", ch.ID, f)
			fs := take(pointKey{"veille_energy", f.Node, strconv.FormatUint(ch.ID, 10), end}, what)
			if fs == nil {
				continue
			}
			field(fs, "energy_mwh", what, fmt.Sprint(ch.MWh), func(v json.Number) bool { return intEqual(v, ch.MWh) })
			field(fs, "flags", what, fmt.Sprint(ch.Flags), func(v json.Number) bool { return intEqual(v, ch.Flags) })
		}
		what := "status of " + f.String()
		fs := take(pointKey{"veille_status", f.Node, "", end}, what)
		if fs == nil {
			continue
		}
		field(fs, "run", what, fmt.Sprint(f.Run), func(v json.Number) bool { return intEqual(v, f.Run) })
		field(fs, "seq", what, fmt.Sprint(f.Seq), func(v json.Number) bool { return intEqual(v, f.Seq) })
		field(fs, "throttled", what, fmt.Sprint(f.Throttled), func(v json.Number) bool { return intEqual(v, f.Throttled) })
		field(fs, "scheduler", what, fmt.Sprint(f.Sched), func(v json.Number) bool { return intEqual(v, f.Sched) })
		if f.SocTemp != nil {
			want := *f.SocTemp * 100 // deci-°C in thousandths
			field(fs, "soc_temp_c", what, milli(want), func(v json.Number) bool { return milliEqual(v, want) })
		} else if v, present := fs["soc_temp_c"]; present {
			c.errorf("%s: soc_temp_c = %s, the frame has none", what, v)
		}
	}
	for k, fs := range got {
		c.errorf("a %s point the frames do not have: node %s channel %q at %d: %v", k.name, k.node, k.channel, k.ms, fs)
	}
}
