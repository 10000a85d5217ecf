package activity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// SelfTestStatus is what smartctl says of a disk's self-test.
type SelfTestStatus struct {
	Standby   bool   // the disk sleeps; smartctl did not wake it
	Running   bool   // a self-test is in progress
	Remaining string // "90%" when smartctl tells, else ""
}

var (
	ataRemaining  = regexp.MustCompile(`(\d+)% of test remaining`)
	nvmeCompleted = regexp.MustCompile(`\((\d+)% completed\)`)
)

// ParseSelfTest reads the output of `smartctl -c -l selftest -n standby`:
// "Device is in STANDBY mode" (or SLEEP, STANDBY_Y, "STANDBY (OS)") when the
// disk sleeps; for ATA "Self-test routine in progress..." then "90% of test
// remaining."; for NVMe "Self-test status: Extended self-test in progress
// (23% completed)"; for SCSI "Self test in progress" in the log.
func ParseSelfTest(r io.Reader) (SelfTestStatus, error) {
	var st SelfTestStatus
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		low := strings.ToLower(line)
		switch {
		case strings.HasPrefix(low, "device is in ") && (strings.Contains(low, "standby") || strings.Contains(low, "sleep")):
			st.Standby = true
		case (strings.Contains(low, "self-test") || strings.Contains(low, "self test")) &&
			strings.Contains(low, "in progress") && !strings.Contains(low, "no self-test in progress"):
			st.Running = true
			if m := nvmeCompleted.FindStringSubmatch(line); m != nil && st.Remaining == "" {
				var done int
				fmt.Sscan(m[1], &done)
				st.Remaining = fmt.Sprintf("%d%%", 100-min(done, 100))
			}
		case st.Running && st.Remaining == "":
			if m := ataRemaining.FindStringSubmatch(line); m != nil {
				st.Remaining = m[1] + "%"
			}
		}
	}
	return st, sc.Err()
}

// SelfTest is active while a SMART self-test runs on one of Devices: a
// sleep would abort it. It asks with `smartctl -n standby`, so a disk in
// standby is not woken (and runs no test). Without smartctl installed the
// check is unavailable.
type SelfTest struct {
	Smartctl string        // program; "" is "smartctl" on PATH
	Devices  []string      // "/dev/sda"
	Timeout  time.Duration // per device; 0 is 30s
}

// Name returns "smart".
func (s *SelfTest) Name() string { return "smart" }

// Check runs smartctl on each device.
func (s *SelfTest) Check(ctx context.Context, now time.Time) (bool, string, error) {
	prog := s.Smartctl
	if prog == "" {
		prog = "smartctl"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return false, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var found []string
	for _, dev := range s.Devices {
		st, err := s.query(ctx, path, dev, timeout)
		if err != nil {
			return false, "", err
		}
		if st.Running {
			d := "self-test in progress on " + dev
			if st.Remaining != "" {
				d += " (" + st.Remaining + " remaining)"
			}
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return false, "", nil
	}
	return true, summarize(found, 3), nil
}

func (s *SelfTest) query(ctx context.Context, path, dev string, timeout time.Duration) (SelfTestStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", "-l", "selftest", "-n", "standby", dev)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return SelfTestStatus{}, fmt.Errorf("smartctl %s: %w", dev, ctx.Err())
	}
	text := out.String()
	st, err := ParseSelfTest(strings.NewReader(text))
	if err != nil {
		return st, fmt.Errorf("smartctl %s: %w", dev, err)
	}
	// The exit status is a bit mask (smartctl(8)): bit 0 the command line,
	// bit 1 the device could not be opened or is in a low-power mode (-n).
	// Higher bits report the disk's health, not a failure to ask.
	var ee *exec.ExitError
	switch {
	case runErr == nil, st.Standby:
		return st, nil
	case errors.As(runErr, &ee) && ee.ExitCode() > 0 && ee.ExitCode()&3 == 0:
		return st, nil
	default:
		return st, fmt.Errorf("smartctl %s: %w: %s", dev, runErr, lastLine(text))
	}
}

// lastLine returns the last non-empty line of s, at most 200 bytes: where
// smartctl says what went wrong, after its banner.
func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return firstLine(l)
		}
	}
	return ""
}

// firstLine returns the first non-empty line of s, at most 200 bytes.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 200 {
				l = l[:200]
			}
			return l
		}
	}
	return ""
}
