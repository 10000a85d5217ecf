package activity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Command runs a program as a check, like autosuspend's ExternalCommand:
// exit status 0 means active, and the first line it prints is the detail;
// any other exit status means inactive. The program is run directly (no
// shell) in its own process group, which is killed at the timeout.
type Command struct {
	Label   string        // the check's name in reasons; "" is "command"
	Argv    []string      // program and arguments
	Timeout time.Duration // 0 is 10s
}

// Name returns Label, or "command".
func (c *Command) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return "command"
}

// Check runs the program.
func (c *Command) Check(ctx context.Context, now time.Time) (bool, string, error) {
	if len(c.Argv) == 0 {
		return false, "", errors.New("no program to run")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &limited{w: &stdout, n: 64 << 10}
	cmd.Stderr = &limited{w: &stderr, n: 4 << 10}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return false, "", fmt.Errorf("%s: timed out after %v", c.Argv[0], timeout)
	}
	if ctx.Err() != nil {
		return false, "", fmt.Errorf("%s: %w", c.Argv[0], ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		d := firstLine(stdout.String())
		if d == "" {
			d = filepath.Base(c.Argv[0]) + " reports activity"
		}
		return true, d, nil
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return false, "", nil
	case errors.As(err, &ee):
		return false, "", fmt.Errorf("%s: %w: %s", c.Argv[0], err, firstLine(stderr.String()))
	default:
		return false, "", fmt.Errorf("run %s: %w", c.Argv[0], err)
	}
}

// limited writes at most n bytes to w and drops the rest, so a chatty
// program neither fills memory nor blocks.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
