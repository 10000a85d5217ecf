package recipes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// nodeRed is an installation of tests/recipes/node-red/package-lock.json:
// Node-RED and the npm modules the flow's function nodes use.
type nodeRed struct {
	dir     string // holds node_modules
	version string
}

// installNodeRed returns the installation in bin/recipes, made the first
// time with npm ci into a directory named after the lock file's checksum.
func installNodeRed(root string) (*nodeRed, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed: `make test` installs it (.ci/deps.sh: apt-get install nodejs npm)", tool)
		}
	}
	if out, err := exec.Command("node", "-e", `const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a==18&&b>=5)?0:1)`).CombinedOutput(); err != nil {
		v, _ := exec.Command("node", "--version").Output()
		return nil, fmt.Errorf("node %s: Node-RED 4 needs Node.js 18.5 or later (20 for the cbor module): %v %s", bytes.TrimSpace(v), err, out)
	}
	src := filepath.Join(root, "tests", "recipes", "node-red")
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return nil, err
		}
		h.Write(b)
	}
	cache, err := cacheDir(root)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "node-red-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-red", "package.json")); err != nil {
		tmp, err := os.MkdirTemp(cache, ".node-red-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		for _, name := range []string{"package.json", "package-lock.json"} {
			b, _ := os.ReadFile(filepath.Join(src, name))
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				return nil, err
			}
		}
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
		ci.Dir = tmp
		ci.Env = append(os.Environ(), "npm_config_update_notifier=false")
		if out, err := ci.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci of %s in %s: %v\n%s", src, tmp, err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(filepath.Join(dir, "node_modules", "node-red", "package.json")); serr != nil {
				return nil, fmt.Errorf("caching Node-RED: %w", err)
			} // another run installed it meanwhile
		}
	}
	nr := &nodeRed{dir: dir}
	var pkg struct{ Version string }
	if err := readJSON(filepath.Join(dir, "node_modules", "node-red", "package.json"), &pkg); err != nil {
		return nil, err
	}
	nr.version = pkg.Version
	return nr, nil
}

func readJSON(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// nodeRedFlow is docs/recipes/node-red-flow.json with its broker node
// pointed at the test's broker, and two nodes of the test's: whatever the
// recipe sends to its debug node also goes, with its topic and timestamp,
// as a JSON line into out. It also returns the recipe's MQTT client id and
// the npm modules its function nodes load (libs).
func nodeRedFlow(recipe []byte, brokerAddr, out string) ([]byte, string, []string, error) {
	var flow []map[string]any
	if err := json.Unmarshal(recipe, &flow); err != nil {
		return nil, "", nil, fmt.Errorf("node-red-flow.json: %w", err)
	}
	host, port, _ := strings.Cut(brokerAddr, ":")
	var brokers, debugs []map[string]any
	var tab string
	var modules []string
	for _, n := range flow {
		switch n["type"] {
		case "mqtt-broker":
			brokers = append(brokers, n)
		case "debug":
			debugs = append(debugs, n)
		case "tab":
			tab, _ = n["id"].(string)
		case "function":
			libs, _ := n["libs"].([]any)
			for _, l := range libs {
				if m, ok := l.(map[string]any); ok {
					modules = append(modules, fmt.Sprint(m["module"]))
				}
			}
		}
	}
	if len(brokers) != 1 || len(debugs) != 1 {
		return nil, "", nil, fmt.Errorf("node-red-flow.json: %d mqtt-broker and %d debug nodes, the test knows one of each", len(brokers), len(debugs))
	}
	brokers[0]["broker"], brokers[0]["port"] = host, port
	client, _ := brokers[0]["clientid"].(string)
	if client == "" {
		return nil, "", nil, errors.New("node-red-flow.json: the broker node has no clientid (the test waits for its subscription)")
	}
	debug := debugs[0]["id"]
	feeds := 0
	for _, n := range flow {
		wires, _ := n["wires"].([]any)
		for k, w := range wires {
			outs, _ := w.([]any)
			for _, to := range outs {
				if to == debug {
					wires[k] = append(outs, "recipes_test_wrap")
					feeds++
					break
				}
			}
		}
	}
	if feeds == 0 {
		return nil, "", nil, errors.New("node-red-flow.json: nothing is wired to the debug node")
	}
	flow = append(flow,
		map[string]any{"id": "recipes_test_wrap", "type": "function", "z": tab, "name": "tests/recipes: message to JSON line",
			"func":    "return { payload: { topic: msg.topic, timestamp: msg.timestamp, payload: msg.payload } };",
			"outputs": 1, "libs": []any{}, "x": 600, "y": 160, "wires": []any{[]any{"recipes_test_file"}}},
		map[string]any{"id": "recipes_test_file", "type": "file", "z": tab, "name": "tests/recipes: output",
			"filename": out, "filenameType": "str", "appendNewline": true, "createDir": true,
			"overwriteFile": "false", "encoding": "utf8", "x": 800, "y": 160, "wires": []any{[]any{}}},
	)
	b, err := json.MarshalIndent(flow, "", "  ")
	return b, client, modules, err
}

// nodeRedSettings runs Node-RED headless (no editor, no HTTP server, no
// telemetry) and never installs a module itself: the flow's modules are
// the ones the test put in the user directory.
const nodeRedSettings = `module.exports = {
  flowFile: "flows.json",
  credentialSecret: false,
  httpAdminRoot: false,
  httpNodeRoot: false,
  functionExternalModules: true,
  externalModules: { autoInstall: false, modules: { allowInstall: false } },
  telemetry: { enabled: false, updateNotification: false },
  diagnostics: { enabled: false, ui: false },
  logging: { console: { level: "info", metrics: false, audit: false } },
};
`

// userDir prepares Node-RED's user directory: the settings, the flow, and
// the modules the flow loads, as `npm install <module>` there would
// (package.json dependencies and node_modules), from the installation.
func (nr *nodeRed) userDir(dir string, flow []byte, modules []string) error {
	deps := map[string]string{}
	if err := os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755); err != nil {
		return err
	}
	for _, m := range modules {
		var pkg struct{ Version string }
		if err := readJSON(filepath.Join(nr.dir, "node_modules", m, "package.json"), &pkg); err != nil {
			return fmt.Errorf("the flow loads npm module %q: add it to tests/recipes/node-red/package.json (%v)", m, err)
		}
		deps[m] = pkg.Version
		if err := os.Symlink(filepath.Join(nr.dir, "node_modules", m), filepath.Join(dir, "node_modules", m)); err != nil {
			return err
		}
	}
	pkg, _ := json.Marshal(map[string]any{"name": "node-red-user", "private": true, "dependencies": deps})
	for name, b := range map[string][]byte{"settings.js": []byte(nodeRedSettings), "flows.json": flow, "package.json": pkg} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// redMessage is one line the test's file node wrote.
type redMessage struct {
	Topic     string                     `json:"topic"`
	Timestamp *int64                     `json:"timestamp"`
	Payload   map[string]json.RawMessage `json:"payload"`
}

func readRedMessages(path string) ([]redMessage, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	out := make([]redMessage, 0, len(lines))
	for k, l := range lines {
		var m redMessage
		if err := json.Unmarshal(l, &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %v: %s", path, k+1, err, l)
		}
		out = append(out, m)
	}
	return out, nil
}

// nodeRedExpected is how many messages the flow sends for frames: one per
// sample, one per channel (energy), one status.
func nodeRedExpected(frames []*frame) int {
	n := 0
	for _, f := range frames {
		n += len(samples([]*frame{f})) + len(f.Channels) + 1
	}
	return n
}

var reRedTopic = regexp.MustCompile(`^([^/]+)/(?:(\d+)(/energy)?|(status))$`)

// checkNodeRed compares the flow's messages with the frames: every sample's
// volts, amps and watts at t0 + i·dt + off[i], every channel's energy and
// flags and every status at the frame's last sample, and nothing else.
func checkNodeRed(t testing.TB, frames []*frame, msgs []redMessage) {
	t.Helper()
	c := &checker{t: t, who: "node-red"}
	defer c.done()
	type key struct {
		kind, node, channel string
		ms                  int64
	}
	got := map[key]map[string]json.RawMessage{}
	for _, m := range msgs {
		g := reRedTopic.FindStringSubmatch(m.Topic)
		if g == nil || m.Timestamp == nil {
			c.errorf("a message with topic %q, timestamp %v: not <node>/<channel>, <node>/<channel>/energy or <node>/status with a timestamp", m.Topic, m.Timestamp)
			continue
		}
		kind := "sample"
		switch {
		case g[3] != "":
			kind = "energy"
		case g[4] != "":
			kind = "status"
		}
		k := key{kind, g[1], g[2], *m.Timestamp}
		if _, dup := got[k]; dup {
			c.errorf("two %s messages for node %s channel %q at %d", kind, k.node, k.channel, k.ms)
		}
		got[k] = m.Payload
		// The payload names its node and channel too.
		var node string
		if err := json.Unmarshal(m.Payload["node"], &node); err != nil || node != g[1] {
			c.errorf("message %s: payload node %s", m.Topic, m.Payload["node"])
		}
		if kind != "status" && string(m.Payload["channel"]) != g[2] {
			c.errorf("message %s: payload channel %s", m.Topic, m.Payload["channel"])
		}
	}
	take := func(k key, what string) map[string]json.RawMessage {
		p, ok := got[k]
		if !ok {
			c.errorf("no %s message for %s", k.kind, what)
			return nil
		}
		delete(got, k)
		return p
	}
	field := func(p map[string]json.RawMessage, name, what, want string, ok func(json.Number) bool) {
		c.t.Helper()
		v, present := p[name]
		switch {
		case !present:
			c.errorf("%s: no %s (the frame says %s)", what, name, want)
		case !ok(json.Number(v)):
			c.errorf("%s: %s = %s, the frame says %s", what, name, v, want)
		}
	}
	for _, s := range samples(frames) {
		p := take(key{"sample", s.F.Node, strconv.FormatUint(s.Ch, 10), s.F.actual(s.I)}, s.String())
		if p == nil {
			continue
		}
		field(p, "volts", s.String(), milli(s.MV), func(v json.Number) bool { return milliEqual(v, s.MV) })
		field(p, "amps", s.String(), milli(s.MA), func(v json.Number) bool { return milliEqual(v, s.MA) })
		field(p, "watts", s.String(), milli(s.MW), func(v json.Number) bool { return milliEqual(v, s.MW) })
	}
	for _, f := range frames {
		end := f.actual(f.N - 1)
		for _, ch := range f.Channels {
			what := fmt.Sprintf("channel %d of %s", ch.ID, f)
			p := take(key{"energy", f.Node, strconv.FormatUint(ch.ID, 10), end}, what)
			if p == nil {
				continue
			}
			field(p, "energy_wh", what, milli(int64(ch.MWh)), func(v json.Number) bool { return milliEqual(v, int64(ch.MWh)) })
			field(p, "flags", what, fmt.Sprint(ch.Flags), func(v json.Number) bool { return intEqual(v, ch.Flags) })
		}
		what := "status of " + f.String()
		p := take(key{"status", f.Node, "", end}, what)
		if p == nil {
			continue
		}
		field(p, "run", what, fmt.Sprint(f.Run), func(v json.Number) bool { return intEqual(v, f.Run) })
		field(p, "seq", what, fmt.Sprint(f.Seq), func(v json.Number) bool { return intEqual(v, f.Seq) })
		field(p, "throttled", what, fmt.Sprint(f.Throttled), func(v json.Number) bool { return intEqual(v, f.Throttled) })
		field(p, "scheduler", what, fmt.Sprint(f.Sched), func(v json.Number) bool { return intEqual(v, f.Sched) })
		if f.SocTemp != nil {
			want := *f.SocTemp * 100
			field(p, "soc_temp_c", what, milli(want), func(v json.Number) bool { return milliEqual(v, want) })
		} else if v := string(p["soc_temp_c"]); v != "null" {
			c.errorf("%s: soc_temp_c = %s, the frame has none (want null)", what, v)
		}
		var disks []uint64
		if err := json.Unmarshal(p["disks"], &disks); err != nil || fmt.Sprint(disks) != fmt.Sprint(append([]uint64{}, f.Disks...)) {
			c.errorf("%s: disks = %s, the frame says %v", what, p["disks"], f.Disks)
		}
	}
	for k, p := range got {
		c.errorf("a %s message the frames do not have: node %s channel %q at %d: %v", k.kind, k.node, k.channel, k.ms, p)
	}
}
