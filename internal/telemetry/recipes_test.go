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
	reRef       = regexp.MustCompile(`(\.\./|/|preceding-sibling::|[a-z(,+* ]|^)(n\d+(?:/n\d+)*)`)
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

// TestTelegrafRecipeMatchesSchema reads docs/recipes/telegraf.conf and
// resolves every nK it uses, relative to its section's metric_selection, in
// docs/telemetry.cddl: a renumbered key breaks this test, not the users.
func TestTelegrafRecipeMatchesSchema(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	fh, err := os.Open("../../docs/recipes/telegraf.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	root := node{rule: "frame", key: -1}
	var sel *node
	var selKey int64
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
			n, err := s.walk(root, ks)
			if err != nil {
				t.Fatalf("telegraf.conf:%d: metric_selection %s: %v", ln, m[2], err)
			}
			sel, selKey = &n, ks[len(ks)-1]
			continue
		}
		if sel == nil {
			t.Fatalf("telegraf.conf:%d: %s before metric_selection", ln, name)
		}
		for _, r := range reRef.FindAllStringSubmatch(expr, -1) {
			refs++
			ks := keysOf(r[2])
			var err error
			switch r[1] {
			case "/":
				_, err = s.walk(root, ks)
			case "../":
				_, err = s.walk(node{rule: sel.rule, key: -1}, ks)
			case "preceding-sibling::":
				if len(ks) != 1 || ks[0] != selKey {
					err = fmt.Errorf("preceding-sibling::%s does not stay in the selected column n%d", r[2], selKey)
				}
			default: // a child of the selected node
				_, err = s.walk(*sel, ks)
			}
			if err != nil {
				t.Errorf("telegraf.conf:%d: %s = %q: %s: %v", ln, name, m[2], r[0], err)
			}
		}
	}
	if sections < 5 || refs < 20 {
		t.Fatalf("read %d sections and %d key references: the parser no longer understands the recipe", sections, refs)
	}
}

// TestNodeRedFlowMatchesSchema checks the keys the Node-RED function node
// reads from the decoded frame.
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
	for _, n := range flow {
		types[fmt.Sprint(n["type"])] = true
		if n["type"] == "function" {
			code += fmt.Sprint(n["func"])
		}
	}
	for _, want := range []string{"mqtt in", "cbor", "function", "mqtt-broker"} {
		if !types[want] {
			t.Errorf("flow has no %q node", want)
		}
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
