package telemetry

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const cddlPath = "../../docs/telemetry.cddl"

// cddlKey is one "? K => type, ; name: ..." line of a map rule.
type cddlKey struct {
	optional bool
	typ      string
	name     string
}

type cddlSchema struct {
	maps    map[string]map[uint64]cddlKey // rule → key → entry
	choices map[string]map[uint64]bool    // rule = &( label: N, ... )
	types   map[string][]string           // rule = a / b
}

var (
	reRuleStart = regexp.MustCompile(`^([a-z][a-z0-9-]*)\s*=\s*(\{|&\()\s*$`)
	reRuleAlias = regexp.MustCompile(`^([a-z][a-z0-9-]*)\s*=\s*([^{&].*)$`)
	reMapKey    = regexp.MustCompile(`^(\?\s*)?(\d+)\s*=>\s*([^,;]+?)\s*,?\s*(?:;\s*([a-z_0-9]+):.*)?$`)
	reChoice    = regexp.MustCompile(`^([a-z-]+):\s*(\d+)\s*,?`)
)

// parseCDDL reads the subset of CDDL that docs/telemetry.cddl uses: maps with
// integer keys, enumerations as group choices, and type alternatives.
func parseCDDL(t *testing.T, path string) cddlSchema {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	s := cddlSchema{maps: map[string]map[uint64]cddlKey{}, choices: map[string]map[uint64]bool{}, types: map[string][]string{}}
	var rule, kind string
	sc := bufio.NewScanner(fh)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		switch {
		case rule == "":
			if m := reRuleStart.FindStringSubmatch(line); m != nil {
				rule, kind = m[1], m[2]
				if kind == "{" {
					s.maps[rule] = map[uint64]cddlKey{}
				} else {
					s.choices[rule] = map[uint64]bool{}
				}
			} else if m := reRuleAlias.FindStringSubmatch(line); m != nil {
				for _, alt := range strings.Split(m[2], "/") {
					s.types[m[1]] = append(s.types[m[1]], strings.TrimSpace(alt))
				}
			} else {
				t.Fatalf("%s:%d: cannot read %q", path, ln, line)
			}
		case line == "}" || line == ")":
			rule = ""
		case kind == "{":
			m := reMapKey.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s:%d: not a key line: %q", path, ln, line)
			}
			k, _ := strconv.ParseUint(m[2], 10, 64)
			s.maps[rule][k] = cddlKey{optional: m[1] != "", typ: strings.TrimSpace(m[3]), name: m[4]}
		default:
			m := reChoice.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s:%d: not a choice: %q", path, ln, line)
			}
			v, _ := strconv.ParseUint(m[2], 10, 64)
			s.choices[rule][v] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// check reports where v does not match the CDDL type typ.
func (s cddlSchema) check(typ string, v any, at string) []string {
	switch {
	case typ == "uint":
		if _, ok := v.(uint64); !ok {
			return []string{fmt.Sprintf("%s: %T, want uint", at, v)}
		}
		return nil
	case typ == "int":
		switch v.(type) {
		case uint64, int64:
			return nil
		}
		return []string{fmt.Sprintf("%s: %T, want int", at, v)}
	case typ == "null":
		if v != nil {
			return []string{fmt.Sprintf("%s: %v, want null", at, v)}
		}
		return nil
	case strings.HasPrefix(typ, "[") && strings.HasSuffix(typ, "]"):
		inner := strings.TrimSpace(typ[1 : len(typ)-1])
		min := 0
		if strings.HasPrefix(inner, "+") {
			min = 1
		}
		inner = strings.TrimSpace(strings.TrimLeft(inner, "*+"))
		arr, ok := v.([]any)
		if !ok || len(arr) < min {
			return []string{fmt.Sprintf("%s: %v, want %s", at, v, typ)}
		}
		var errs []string
		for i, e := range arr {
			errs = append(errs, s.check(inner, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return errs
	}
	if n, err := strconv.ParseUint(typ, 10, 64); err == nil {
		if v != n {
			return []string{fmt.Sprintf("%s: %v, want %d", at, v, n)}
		}
		return nil
	}
	if alts, ok := s.types[typ]; ok {
		for _, alt := range alts {
			if len(s.check(alt, v, at)) == 0 {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %v matches none of %v", at, v, alts)}
	}
	if vals, ok := s.choices[typ]; ok {
		u, isU := v.(uint64)
		if !isU || !vals[u] {
			return []string{fmt.Sprintf("%s: %v is not a %s", at, v, typ)}
		}
		return nil
	}
	keys, ok := s.maps[typ]
	if !ok {
		return []string{fmt.Sprintf("%s: type %q is not defined in the CDDL", at, typ)}
	}
	m, ok := v.(map[any]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %T, want map %s", at, v, typ)}
	}
	var errs []string
	for k, e := range keys {
		if _, present := m[k]; !present && !e.optional {
			errs = append(errs, fmt.Sprintf("%s: required key %d (%s) missing", at, k, e.name))
		}
	}
	for k, val := range m {
		ku, _ := k.(uint64)
		e, known := keys[ku]
		if !known {
			errs = append(errs, fmt.Sprintf("%s: key %v not in the CDDL rule %s", at, k, typ))
			continue
		}
		errs = append(errs, s.check(e.typ, val, fmt.Sprintf("%s.%s", at, e.name))...)
	}
	return errs
}

// TestCDDLMatchesGoldenFrames validates every golden frame and a batch of
// synthetic frames against docs/telemetry.cddl: no key the schema does not
// document, no documented required key missing, every value of its type.
func TestCDDLMatchesGoldenFrames(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	var inputs [][]byte
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.cbor"))
	if len(golden) == 0 {
		t.Fatal("no golden frames")
	}
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	for _, f := range synth(21, defaultRails(3), 7, 3, time.Second, benchStart) {
		b, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	for i, b := range inputs {
		var v any
		if err := cbor.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.check("frame", v, "frame") {
			t.Errorf("input %d: %s", i, e)
		}
	}
}

// TestCDDLMatchesWireStructs checks that the key numbers and optionality of
// the Go wire structs are those of the CDDL rules, in both directions.
func TestCDDLMatchesWireStructs(t *testing.T) {
	s := parseCDDL(t, cddlPath)
	for rule, typ := range map[string]reflect.Type{
		"frame":   reflect.TypeFor[wireFrame](),
		"channel": reflect.TypeFor[wireChannel](),
		"status":  reflect.TypeFor[wireStatus](),
	} {
		keys := s.maps[rule]
		if keys == nil {
			t.Errorf("CDDL has no rule %q", rule)
			continue
		}
		seen := map[uint64]bool{}
		for i := range typ.NumField() {
			tag := strings.Split(typ.Field(i).Tag.Get("cbor"), ",")
			k, err := strconv.ParseUint(tag[0], 10, 64)
			if err != nil {
				t.Fatalf("%s.%s: tag %v", typ, typ.Field(i).Name, tag)
			}
			seen[k] = true
			e, ok := keys[k]
			if !ok {
				t.Errorf("%s key %d (%s) is not in the CDDL rule %s", typ, k, typ.Field(i).Name, rule)
				continue
			}
			omitempty := strings.Contains(typ.Field(i).Tag.Get("cbor"), "omitempty")
			if omitempty != e.optional {
				t.Errorf("%s key %d (%s): omitempty=%v but CDDL optional=%v", typ, k, e.name, omitempty, e.optional)
			}
		}
		for k, e := range keys {
			if !seen[k] {
				t.Errorf("CDDL %s key %d (%s) has no field in %s", rule, k, e.name, typ)
			}
		}
	}
	for name, n := range map[string]int{"sched-state": len(schedulerNames), "disk-state": len(diskNames)} {
		if len(s.choices[name]) != n {
			t.Errorf("CDDL %s has %d values, the code %d", name, len(s.choices[name]), n)
		}
	}
}
