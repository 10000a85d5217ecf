package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyIndex maps every key path of a TOML document ("schedule.window[1].wake")
// to the line it is written on, and back, so that an error found after
// decoding can still say where the value came from.
type keyIndex struct {
	line  map[string]int
	raw   []rawValue // scalar values in file order
	byLn  map[int]string
	lines []int
}

func (k *keyIndex) Line(path string) int {
	if k == nil {
		return 0
	}
	if l, ok := k.line[path]; ok {
		return l
	}
	// A default filled in for a missing key: point at its table if present.
	for p := path; p != ""; {
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
		if l, ok := k.line[p]; ok {
			return l
		}
	}
	return 0
}

// KeyAt returns the deepest key written on line n.
func (k *keyIndex) KeyAt(n int) string {
	if k == nil {
		return ""
	}
	return k.byLn[n]
}

// indexKeys parses doc with the low-level TOML parser. It never fails: on a
// syntax error the decoder reports the problem with its own position, and the
// index simply stops there.
func indexKeys(doc []byte) *keyIndex {
	idx := &keyIndex{line: map[string]int{}, byLn: map[int]string{}}
	arrays := map[string]int{} // array-of-tables path → count so far
	var p unstable.Parser
	p.Reset(doc)
	prefix := ""
	add := func(path string, n *unstable.Node) {
		l := p.Shape(n.Raw).Start.Line
		if _, ok := idx.line[path]; !ok {
			idx.line[path] = l
		}
		if old, ok := idx.byLn[l]; !ok || len(path) > len(old) {
			idx.byLn[l] = path
		}
	}
	addRaw := func(path string, v *unstable.Node, at *unstable.Node) {
		idx.raw = append(idx.raw, rawValue{path: path, text: string(v.Data), line: p.Shape(at.Raw).Start.Line})
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, last := joinKey("", e.Key())
			if e.Kind == unstable.ArrayTable {
				i := arrays[path]
				arrays[path] = i + 1
				path += "[" + strconv.Itoa(i) + "]"
			}
			prefix = path
			if last != nil {
				add(path, last)
			}
		case unstable.KeyValue:
			path, last := joinKey(prefix, e.Key())
			if last != nil {
				add(path, last)
				indexValue(&p, path, e.Value(), last, add)
				if v := e.Value(); v.Kind != unstable.Array && v.Kind != unstable.InlineTable {
					addRaw(path, v, last)
				}
			}
		}
	}
	for l := range idx.byLn {
		idx.lines = append(idx.lines, l)
	}
	sort.Ints(idx.lines)
	return idx
}

func indexValue(p *unstable.Parser, path string, v *unstable.Node, at *unstable.Node, add func(string, *unstable.Node)) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			sub, last := joinKey(path, kv.Key())
			if last != nil {
				add(sub, last)
				indexValue(p, sub, kv.Value(), last, add)
			}
		}
	case unstable.Array:
		it := v.Children()
		i := 0
		for it.Next() {
			el := it.Node()
			sub := path + "[" + strconv.Itoa(i) + "]"
			i++
			if el.Kind == unstable.InlineTable {
				indexValue(p, sub, el, at, add)
			}
		}
	}
}

func joinKey(prefix string, it unstable.Iterator) (string, *unstable.Node) {
	var b strings.Builder
	b.WriteString(prefix)
	var last *unstable.Node
	for it.Next() {
		n := it.Node()
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(n.Data)
		last = n
	}
	return b.String(), last
}

type rawValue struct {
	path, text string
	line       int
}

// ByValue finds the first key whose scalar value is written as text.
func (k *keyIndex) ByValue(text string) (string, int) {
	if k == nil {
		return "", 0
	}
	for _, r := range k.raw {
		if r.text == text {
			return r.path, r.line
		}
	}
	return "", 0
}
