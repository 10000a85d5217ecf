package activity

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ParseLoadavg parses /proc/loadavg ("0.52 0.58 0.59 1/467 12345") into the
// 1, 5 and 15 minute load averages.
func ParseLoadavg(r io.Reader) ([3]float64, error) {
	var out [3]float64
	b, err := io.ReadAll(io.LimitReader(r, 256))
	if err != nil {
		return out, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return out, fmt.Errorf("loadavg %q: want three averages", string(b))
	}
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || v != v {
			return out, fmt.Errorf("loadavg field %d %q is not a load average", i+1, f[i])
		}
		out[i] = v
	}
	return out, nil
}

// Load is active while the load average over Minutes (1, 5 or 15; 0 means
// 5) is at least Threshold.
type Load struct {
	Root      string // "" is "/"
	Minutes   int
	Threshold float64
}

// Name returns "load".
func (l *Load) Name() string { return "load" }

// Check reads /proc/loadavg.
func (l *Load) Check(ctx context.Context, now time.Time) (bool, string, error) {
	idx := map[int]int{0: 1, 1: 0, 5: 1, 15: 2}
	i, ok := idx[l.Minutes]
	if !ok {
		return false, "", fmt.Errorf("load average over %d minutes: the kernel keeps 1, 5 and 15", l.Minutes)
	}
	minutes := [3]int{1, 5, 15}[i]
	path := filepath.Join(rootDir(l.Root), "proc", "loadavg")
	f, err := os.Open(path)
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	avg, err := ParseLoadavg(f)
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", path, err)
	}
	if avg[i] < l.Threshold {
		return false, "", nil
	}
	return true, fmt.Sprintf("load %.2f over %d min (threshold %.2f)", avg[i], minutes, l.Threshold), nil
}
