package activity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Processes is active while a process with one of Names runs: rsync, borg,
// restic, apt, apt-get, dpkg... A name matches the process's command name
// (/proc/<pid>/comm, which the kernel cuts to 15 bytes) or the base name of
// its argv[0].
type Processes struct {
	Root  string // "" is "/"
	Names []string
}

// DefaultProcesses are programs that must not be interrupted by a sleep:
// backups, copies and package updates.
var DefaultProcesses = []string{"rsync", "borg", "restic", "rclone", "duplicity", "apt", "apt-get", "dpkg", "unattended-upgr"}

// Name returns "processes".
func (p *Processes) Name() string { return "processes" }

// Check scans /proc/<pid>.
func (p *Processes) Check(ctx context.Context, now time.Time) (bool, string, error) {
	if len(p.Names) == 0 {
		return false, "", nil
	}
	proc := filepath.Join(rootDir(p.Root), "proc")
	pids, err := listPIDs(proc)
	if err != nil {
		return false, "", err
	}
	var found []string
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return false, "", err
		}
		name, ok, err := p.match(filepath.Join(proc, pid))
		if err != nil {
			return false, "", err
		}
		if ok {
			found = append(found, fmt.Sprintf("%s running (pid %s)", name, pid))
		}
	}
	if len(found) == 0 {
		return false, "", nil
	}
	return true, summarize(found, 3), nil
}

// match returns the configured name that the process in dir matches. A
// process that exits while it is read does not match.
func (p *Processes) match(dir string) (string, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "comm"))
	if exited(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	comm := strings.TrimSuffix(string(b), "\n")
	for _, n := range p.Names {
		if comm == n || len(n) > 15 && comm == n[:15] {
			return n, true, nil
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if exited(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if len(argv0) == 0 {
		return "", false, nil // a kernel thread, or a zombie
	}
	base := filepath.Base(string(argv0))
	if i := slices.Index(p.Names, base); i >= 0 {
		return p.Names[i], true, nil
	}
	return "", false, nil
}

// exited reports an error that means the process went away while its /proc
// directory was read.
func exited(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
