package power

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// fsck(8) exit status bits.
var fsckBits = []struct {
	bit  int
	text string
}{
	{1, "filesystem errors corrected"},
	{2, "system should be rebooted"},
	{4, "filesystem errors left uncorrected"},
	{8, "operational error"},
	{16, "usage or syntax error"},
	{32, "checking canceled by user request"},
	{128, "shared-library error"},
}

// fsckStatus says what an fsck exit status means and whether the
// filesystem may be mounted: 0 and the "corrected" bits (1, and 2, which
// matters only for the root filesystem) allow it, anything else does not.
func fsckStatus(code int) (text string, mountable bool) {
	if code == 0 {
		return "clean", true
	}
	var parts []string
	for _, b := range fsckBits {
		if code&b.bit != 0 {
			parts = append(parts, b.text)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "unknown status")
	}
	return fmt.Sprintf("exit status %d: %s", code, strings.Join(parts, ", ")), code&^3 == 0
}

// runCheck runs argv with dev appended (no shell) and interprets the exit
// status. warn is set when it corrected something.
func runCheck(ctx context.Context, argv []string, dev string) (detail string, warn bool, err error) {
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], dev)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case runErr == nil:
	case errors.As(runErr, &exit) && exit.ExitCode() >= 0:
		code = exit.ExitCode()
	default:
		return "", false, fmt.Errorf("%s %s: %w", strings.Join(argv, " "), dev, runErr)
	}
	text, ok := fsckStatus(code)
	detail = fmt.Sprintf("%s %s: %s", strings.Join(argv, " "), dev, text)
	if !ok {
		if tail := lastLines(out.String(), 3); tail != "" {
			detail += " (" + tail + ")"
		}
		return "", false, errors.New(detail)
	}
	return detail, code != 0, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, " / "))
}
