package telemetry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// node is a position in the schema: the map rule a key belongs to and the
// key, or a map rule itself (key < 0).
type node struct {
	rule string // map rule holding the key (or the map itself)
	key  int64  // -1: the map itself
}

// elemRule is the map rule that values of typ are (through arrays), or "".
func (s cddlSchema) elemRule(typ string) string {
	typ = strings.TrimSpace(typ)
	if strings.HasPrefix(typ, "[") {
		typ = strings.TrimSpace(strings.TrimLeft(strings.TrimSuffix(strings.TrimPrefix(typ, "["), "]"), "*+ "))
	}
	if _, ok := s.maps[typ]; ok {
		return typ
	}
	return ""
}

// child resolves key k under n.
func (s cddlSchema) child(n node, k int64) (node, error) {
	rule := n.rule
	if n.key >= 0 {
		rule = s.elemRule(s.maps[n.rule][uint64(n.key)].typ)
		if rule == "" {
			return node{}, fmt.Errorf("%s key %d is not a map: no child n%d", n.rule, n.key, k)
		}
	}
	if _, ok := s.maps[rule][uint64(k)]; !ok {
		return node{}, fmt.Errorf("CDDL rule %s has no key %d", rule, k)
	}
	return node{rule: rule, key: k}, nil
}

func (s cddlSchema) walk(from node, keys []int64) (node, error) {
	n := from
	for _, k := range keys {
		var err error
		if n, err = s.child(n, k); err != nil {
			return node{}, err
		}
	}
	return n, nil
}

var (
	rePredicate = regexp.MustCompile(`\[[^\]]*\]`)
	// A path in an expression: what stands before it (not part of it), the
	// steps up (../), an absolute start (/), an axis, and the keys.
	reRef       = regexp.MustCompile(`(^|[^A-Za-z0-9_:./])((?:\.\./)*)(/)?(preceding-sibling::)?(n\d+(?:/n\d+)*)`)
	reConfValue = regexp.MustCompile(`^\s*([a-z_]+)\s*=\s*"(.*)"\s*$`)
)

func keysOf(path string) []int64 {
	var ks []int64
	for _, p := range strings.Split(path, "/") {
		k, _ := strconv.ParseInt(strings.TrimPrefix(p, "n"), 10, 64)
		ks = append(ks, k)
	}
	return ks
}

// resolve turns a path of an expression, evaluated at the element the
// section selects (its keys from the frame, sel), into keys from the
// frame. Telegraf's CBOR document turns an array into repeated elements,
// so one ".." goes up one key.
func resolve(sel []int64, up int, absolute bool, sibling bool, keys []int64) ([]int64, error) {
	base := append([]int64(nil), sel...)
	switch {
	case absolute:
		base = nil
	case up > len(base):
		return nil, fmt.Errorf("%d steps up from /n%s leave the frame", up, strings.Trim(strings.ReplaceAll(fmt.Sprint(sel), " ", "/n"), "[]"))
	default:
		base = base[:len(base)-up]
	}
	if sibling {
		if up != 0 || absolute || len(keys) != 1 || len(base) == 0 || keys[0] != base[len(base)-1] {
			return nil, fmt.Errorf("preceding-sibling::n%d does not stay in the selected column", keys[0])
		}
		return base, nil
	}
	return append(base, keys...), nil
}

// TestTelegrafRecipeMatchesSchema reads docs/recipes/telegraf.conf and
// resolves every nK it uses, relative to its section's metric_selection, in
// docs/telemetry.cddl: a renumbered key breaks this test, not the users.
// (tests/recipes runs the recipe in Telegraf against veille's stream.)
func TestTelegrafRecipeMatchesSchema(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	fh, err := os.Open("../../docs/recipes/telegraf.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	root := node{rule: "frame", key: -1}
	var sel []int64
	sections, refs := 0, 0
	sc := bufio.NewScanner(fh)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.Contains(line, "[[inputs.mqtt_consumer.xpath]]") {
			sel, sections = nil, sections+1
			continue
		}
		m := reConfValue.FindStringSubmatch(line)
		if m == nil || sections == 0 {
			continue
		}
		name, expr := m[1], rePredicate.ReplaceAllString(m[2], "")
		if name == "metric_name" || name == "timestamp_format" {
			continue
		}
		if name == "metric_selection" {
			if !strings.HasPrefix(expr, "/") {
				t.Fatalf("telegraf.conf:%d: selection %q should be absolute", ln, expr)
			}
			ks := keysOf(strings.TrimPrefix(expr, "/"))
			if _, err := s.walk(root, ks); err != nil {
				t.Fatalf("telegraf.conf:%d: metric_selection %s: %v", ln, m[2], err)
			}
			sel = ks
			continue
		}
		if sel == nil {
			t.Fatalf("telegraf.conf:%d: %s before metric_selection", ln, name)
		}
		for _, r := range reRef.FindAllStringSubmatch(expr, -1) {
			refs++
			ks, err := resolve(sel, strings.Count(r[2], "../"), r[3] == "/", r[4] != "", keysOf(r[5]))
			if err == nil {
				_, err = s.walk(root, ks)
			}
			if err != nil {
				t.Errorf("telegraf.conf:%d: %s = %q: %s: %v", ln, name, m[2], strings.TrimPrefix(r[0], r[1]), err)
			}
		}
	}
	if sections < 5 || refs < 20 {
		t.Fatalf("read %d sections and %d key references: the parser no longer understands the recipe", sections, refs)
	}
}

// TestTelegrafResolve checks the path arithmetic the recipe test relies on.
func TestTelegrafResolve(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	root := node{rule: "frame", key: -1}
	for _, c := range []struct {
		sel      []int64
		up       int
		abs, sib bool
		keys     []int64
		want     string // rule.key, or the error's start
	}{
		{[]int64{7, 1}, 2, false, false, []int64{3}, "frame.3"},   // ../../n3: t0
		{[]int64{7, 1}, 1, false, false, []int64{0}, "channel.0"}, // ../n0: channel id
		{[]int64{7, 1}, 0, false, true, []int64{1}, "channel.1"},  // preceding-sibling::n1
		{[]int64{7}, 0, false, false, []int64{4}, "channel.4"},    // n4: mwh
		{[]int64{8}, 1, false, false, []int64{2}, "frame.2"},      // ../n2: seq
		{[]int64{7, 1}, 0, true, false, []int64{4}, "frame.4"},    // /n4
		{[]int64{7, 1}, 0, false, true, []int64{2}, "preceding-sibling::n2 does not stay"},
		{[]int64{7, 1}, 3, false, false, []int64{3}, "3 steps up"},
		{[]int64{7, 1}, 1, false, false, []int64{9}, "CDDL rule channel has no key 9"},
		{[]int64{8}, 0, false, false, []int64{0, 1}, "status key 0 is not a map"},
	} {
		ks, err := resolve(c.sel, c.up, c.abs, c.sib, c.keys)
		var n node
		if err == nil {
			n, err = s.walk(root, ks)
		}
		got := fmt.Sprintf("%s.%d", n.rule, n.key)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("resolve(%v, up %d, abs %v, sibling %v, %v) = %s, want %s", c.sel, c.up, c.abs, c.sib, c.keys, got, c.want)
		}
	}
	for expr, want := range map[string]string{
		"../../n3 + count(preceding-sibling::n1) * ../../n4": "../../|n3 preceding-sibling::|n1 ../../|n4",
		"string(../n0)":    "../|n0",
		"sum(n5)":          "|n5",
		"/n7/n1":           "/|n7/n1",
		"number(../n1)":    "../|n1",
		"n10 + n2":         "|n10 |n2",
		"unknown(x) div 1": "",
	} {
		var got []string
		for _, r := range reRef.FindAllStringSubmatch(expr, -1) {
			got = append(got, r[2]+r[3]+r[4]+"|"+r[5])
		}
		if strings.Join(got, " ") != want {
			t.Errorf("references in %q: %q, want %q", expr, strings.Join(got, " "), want)
		}
	}
}

// TestNodeRedFlowMatchesSchema checks the keys the Node-RED function node
// reads from the decoded frame, and that the flow uses only Node-RED's own
// nodes (no node package to install: the CBOR is decoded by the npm module
// "cbor" in the function node's libs). tests/recipes runs the flow in
// Node-RED against veille's stream.
func TestNodeRedFlowMatchesSchema(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	b, err := os.ReadFile("../../docs/recipes/node-red-flow.json")
	if err != nil {
		t.Fatal(err)
	}
	var flow []map[string]any
	if err := json.Unmarshal(b, &flow); err != nil {
		t.Fatalf("node-red-flow.json: %v", err)
	}
	var code string
	types := map[string]bool{}
	core := map[string]bool{"tab": true, "comment": true, "mqtt in": true, "mqtt-broker": true, "function": true, "debug": true}
	for _, n := range flow {
		typ := fmt.Sprint(n["type"])
		types[typ] = true
		if !core[typ] {
			t.Errorf("flow node %v is of type %q, not one of Node-RED's core nodes the recipe uses", n["id"], typ)
		}
		if typ != "function" {
			continue
		}
		code += fmt.Sprint(n["func"])
		libs, _ := json.Marshal(n["libs"])
		if !strings.Contains(string(libs), `{"module":"cbor","var":"cbor"}`) {
			t.Errorf("function node %v: libs %s, want the npm module cbor as cbor", n["id"], libs)
		}
	}
	for _, want := range []string{"mqtt in", "function", "mqtt-broker"} {
		if !types[want] {
			t.Errorf("flow has no %q node", want)
		}
	}
	if !strings.Contains(code, "cbor.decodeFirstSync(msg.payload)") {
		t.Error("the function node does not decode msg.payload with the cbor module")
	}
	// The function names the keys as K.<NAME> = <number>; each must be the
	// CDDL key of that name.
	re := regexp.MustCompile(`(FRAME|CH|ST)_([A-Z0-9_]+)\s*=\s*(\d+)`)
	rules := map[string]string{"FRAME": "frame", "CH": "channel", "ST": "status"}
	found := 0
	for _, m := range re.FindAllStringSubmatch(code, -1) {
		found++
		k, _ := strconv.ParseUint(m[3], 10, 64)
		e, ok := s.maps[rules[m[1]]][k]
		if !ok || !strings.EqualFold(e.name, m[2]) {
			t.Errorf("flow: %s_%s = %d, but CDDL %s key %d is %q", m[1], m[2], k, rules[m[1]], k, e.name)
		}
	}
	if found < 10 {
		t.Fatalf("found %d key constants in the flow's function", found)
	}
}
