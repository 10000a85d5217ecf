package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Problem is one error in a configuration file.
type Problem struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in a file, one per line, in file order.
type Error struct{ Problems []*Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such configuration file (start from the example: veille check --example > %s)", path, filepath.Base(path))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	// Others, not the group: the package installs it root:veille 0640 so
	// that the service, running as veille, can read it.
	if st, err := os.Stat(path); err == nil && c.holdsSecret() && st.Mode().Perm()&0o007 != 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s holds an MQTT password but every user can read it (mode %04o); run: chmod o-rwx %s", path, st.Mode().Perm(), path))
	}
	if pf := c.MQTT.PasswordFile; pf != "" {
		if st, err := os.Stat(pf); err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("mqtt.password_file: %v", err))
		} else if st.Mode().Perm()&0o007 != 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("mqtt.password_file %s is readable by every user (mode %04o); run: chmod o-rwx %s", pf, st.Mode().Perm(), pf))
		}
	}
	return c, nil
}

func (c *Config) holdsSecret() bool { return c.MQTT.Password != "" }

// Redacted stands for a secret in the effective configuration.
const Redacted = "(set, not shown)"

// Parse decodes and validates data; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	name = filepath.Base(name)
	idx := indexKeys(data)
	c := Default()
	// A list given in the file replaces the default list.
	c.Checks.Ports, c.Checks.Processes = nil, nil
	if err := decode(data, &c); err != nil {
		return nil, decodeProblems(name, idx, err)
	}
	def := Default()
	if !idx.has("checks.ports") {
		c.Checks.Ports = def.Checks.Ports
	}
	if !idx.has("checks.processes") {
		c.Checks.Processes = def.Checks.Processes
	}
	for i := range c.Disks {
		p := fmt.Sprintf("disk[%d].", i)
		diskDefaults(&c.Disks[i], func(k string) bool { return idx.has(p + k) })
	}
	for i := range c.Sensors {
		p := fmt.Sprintf("sensor[%d].", i)
		sensorDefaults(&c.Sensors[i], func(k string) bool { return idx.has(p + k) })
	}
	v := &validator{file: name, idx: idx}
	v.config(&c)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, &Error{Problems: v.problems}
	}
	c.File = name
	c.keys = idx
	return &c, nil
}

// decode runs the TOML decoder, turning a panic inside it (a decoder bug
// on hostile input) into an error instead of a crash.
func decode(data []byte, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode this file (TOML decoder failure: %v)", r)
		}
	}()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}

func (k *keyIndex) has(path string) bool {
	_, ok := k.line[path]
	return ok
}

var goTypeMsg = regexp.MustCompile(`cannot decode TOML (\w+) into (?:struct field \S+ of type|a Go value of type) (\S+)`)

func decodeProblems(name string, idx *keyIndex, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		out := &Error{}
		for _, e := range strict.Errors {
			line, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			if k := idx.KeyAt(line); k != "" && strings.HasSuffix(k, lastPart(key)) {
				key = k
			}
			msg := "unknown key"
			if s := suggest(lastPart(key)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			out.Problems = append(out.Problems, &Problem{File: name, Line: line, Key: key, Msg: msg})
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := goTypeMsg.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("expected %s, got a TOML %s", friendlyType(m[2]), strings.ToLower(m[1]))
		}
		return &Error{Problems: []*Problem{{File: name, Line: line, Key: idx.KeyAt(line), Msg: msg}}}
	}
	var ve *valueError
	if errors.As(err, &ve) {
		key, line := idx.ByValue(ve.raw)
		return &Error{Problems: []*Problem{{File: name, Line: line, Key: key, Msg: ve.msg}}}
	}
	return &Error{Problems: []*Problem{{File: name, Msg: err.Error()}}}
}

func lastPart(key string) string {
	if i := strings.LastIndexAny(key, ".]"); i >= 0 {
		return key[i+1:]
	}
	return key
}

func friendlyType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]string"):
		return `a list of strings (like ["a", "b"])`
	case strings.HasPrefix(t, "[]int"):
		return "a list of integers (like [22, 445])"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "int"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string in quotes"
	case strings.HasPrefix(t, "config.Duration"):
		return `a duration in quotes (like "15m")`
	case strings.HasPrefix(t, "config.TimeOfDay"):
		return `a time of day in quotes (like "23:30")`
	case strings.HasPrefix(t, "config.Date"):
		return `a date in quotes (like "2026-12-24")`
	case strings.HasPrefix(t, "config."):
		return "a quoted value with its unit"
	}
	return "a " + t
}

// suggest returns the known key closest to an unknown one.
func suggest(key string) string {
	best, bestD := "", 3
	for _, k := range knownKeys() {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Marshal renders the effective configuration as TOML, with the password
// replaced: `veille check` output ends up in terminals and bug reports.
func (c *Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(true)
	shown := *c
	if shown.MQTT.Password != "" {
		shown.MQTT.Password = Redacted
	}
	if err := enc.Encode(&shown); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
