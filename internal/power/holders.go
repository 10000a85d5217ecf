package power

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Holder is a process that keeps a filesystem busy.
type Holder struct {
	PID  int
	Comm string // the process name from /proc/<pid>/comm
	How  string // "open", "working directory", "root directory"
	Path string // what it holds, as the process sees it
}

func (h Holder) String() string {
	if h.How == "open" {
		return fmt.Sprintf("open by %s (pid %d): %s", h.Comm, h.PID, h.Path)
	}
	return fmt.Sprintf("%s of %s (pid %d): %s", h.How, h.Comm, h.PID, h.Path)
}

// Holders scans <root>/proc/*/fd, cwd and root for files and directories
// under mountPoint. Processes that vanish during the scan, and those it may
// not look at, are skipped.
func Holders(root, mountPoint string) ([]Holder, error) {
	procDir := filepath.Join(root, "proc")
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("look for processes using %s: %w", mountPoint, err)
	}
	mp := filepath.Clean(mountPoint)
	under := func(p string) bool {
		p = strings.TrimSuffix(p, " (deleted)")
		return p == mp || mp == "/" && strings.HasPrefix(p, "/") || strings.HasPrefix(p, mp+"/")
	}
	var out []Holder
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(procDir, e.Name())
		comm := "?"
		if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
			comm = strings.TrimSpace(string(b))
		}
		for _, l := range []struct{ name, how string }{{"cwd", "working directory"}, {"root", "root directory"}} {
			if t, err := os.Readlink(filepath.Join(dir, l.name)); err == nil && under(t) && !(l.name == "root" && t == "/") {
				out = append(out, Holder{PID: pid, Comm: comm, How: l.how, Path: t})
			}
		}
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if t, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && under(t) {
				out = append(out, Holder{PID: pid, Comm: comm, How: "open", Path: t})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PID != out[j].PID {
			return out[i].PID < out[j].PID
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// describeHolders lists at most five holders and counts the rest.
func describeHolders(hs []Holder) string {
	const max = 5
	var parts []string
	for i, h := range hs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(hs)-max))
			break
		}
		parts = append(parts, h.String())
	}
	return strings.Join(parts, "; ")
}
