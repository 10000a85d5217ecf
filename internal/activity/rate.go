package activity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParseCounter parses a sysfs counter file such as
// /sys/class/net/eth0/statistics/rx_bytes: one unsigned decimal number.
func ParseCounter(r io.Reader) (uint64, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %q: %w", s, err)
	}
	return v, nil
}

// rateMeter turns counters read at successive times into rates.
type rateMeter struct {
	mu     sync.Mutex
	last   map[string]uint64
	lastAt time.Time
}

// rates returns, for each name present in both readings, its increase per
// second since the previous call. The first call, and a call whose time is
// not after the previous one (a clock step), only record. A counter that went
// down (an interface re-created, a disk re-plugged) is left out this once.
func (m *rateMeter) rates(now time.Time, cur map[string]uint64) (map[string]float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, lastAt := m.last, m.lastAt
	m.last, m.lastAt = cur, now
	if lastAt.IsZero() || !now.After(lastAt) {
		return nil, false
	}
	dt := now.Sub(lastAt).Seconds()
	out := make(map[string]float64, len(cur))
	for k, v := range cur {
		if old, ok := last[k]; ok && v >= old {
			out[k] = float64(v-old) / dt
		}
	}
	return out, true
}

// busiest returns the total rate and the name with the highest rate.
func busiest(r map[string]float64) (total float64, top string) {
	names := make([]string, 0, len(r))
	for k := range r {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		total += r[k]
		if top == "" || r[k] > r[top] {
			top = k
		}
	}
	return total, top
}

// formatRate writes bytes per second with SI prefixes: "1.2 MB/s".
func formatRate(bps float64) string {
	units := []string{"B/s", "kB/s", "MB/s", "GB/s"}
	i := 0
	for bps >= 1000 && i < len(units)-1 {
		bps /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", bps, units[i])
	}
	return fmt.Sprintf("%.1f %s", bps, units[i])
}

// Throughput is active while the network carries at least Threshold bytes
// per second, received and sent, over all interfaces but lo and Exclude,
// measured between two calls of Check.
type Throughput struct {
	Root string // "" is "/"
	// Exclude lists interfaces to leave out, as path.Match patterns
	// ("docker0", "veth*"): container bridges count traffic twice.
	Exclude   []string
	Threshold float64 // bytes per second

	meter rateMeter
}

// Name returns "network".
func (t *Throughput) Name() string { return "network" }

// Check reads /sys/class/net/*/statistics/{rx,tx}_bytes.
func (t *Throughput) Check(ctx context.Context, now time.Time) (bool, string, error) {
	dir := filepath.Join(rootDir(t.Root), "sys", "class", "net")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, "", err
	}
	cur := map[string]uint64{}
	for _, e := range ents {
		name := e.Name()
		if name == "lo" || t.excluded(name) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, name, "statistics")); err != nil || !fi.IsDir() {
			continue // not an interface (bonding_masters), or it just went
		}
		rx, err := readCounter(filepath.Join(dir, name, "statistics", "rx_bytes"))
		if err == nil {
			var tx uint64
			if tx, err = readCounter(filepath.Join(dir, name, "statistics", "tx_bytes")); err == nil {
				cur[name] = rx + tx
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, "", err
		}
	}
	r, ok := t.meter.rates(now, cur)
	if !ok {
		return false, "", nil
	}
	total, top := busiest(r)
	if total < t.Threshold || total == 0 {
		return false, "", nil
	}
	return true, fmt.Sprintf("network %s (%s %s)", formatRate(total), top, formatRate(r[top])), nil
}

func (t *Throughput) excluded(name string) bool {
	for _, p := range t.Exclude {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func readCounter(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := ParseCounter(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
