package power

import (
	"context"
	"strings"
	"testing"
)

func TestFsckStatus(t *testing.T) {
	for _, tc := range []struct {
		code      int
		mountable bool
		text      string
	}{
		{0, true, "clean"},
		{1, true, "exit status 1: filesystem errors corrected"},
		{2, true, "exit status 2: system should be rebooted"},
		{3, true, "exit status 3: filesystem errors corrected, system should be rebooted"},
		{4, false, "exit status 4: filesystem errors left uncorrected"},
		{8, false, "exit status 8: operational error"},
		{12, false, "exit status 12: filesystem errors left uncorrected, operational error"},
		{64, false, "exit status 64: unknown status"},
	} {
		text, ok := fsckStatus(tc.code)
		if text != tc.text || ok != tc.mountable {
			t.Errorf("fsckStatus(%d) = %q, %v; want %q, %v", tc.code, text, ok, tc.text, tc.mountable)
		}
	}
}

func TestRunCheck(t *testing.T) {
	ctx := context.Background()
	// sh gets the device as $0: the program sees argv plus the device, no shell in between.
	prog := func(script string) []string { return []string{"/bin/sh", "-c", script} }

	detail, warn, err := runCheck(ctx, prog(`test "$0" = /dev/sdb1 || exit 16`), "/dev/sdb1")
	if err != nil || warn || !strings.HasSuffix(detail, "/dev/sdb1: clean") {
		t.Errorf("clean: %q %v %v", detail, warn, err)
	}
	detail, warn, err = runCheck(ctx, prog("exit 1"), "/dev/sdb1")
	if err != nil || !warn || !strings.Contains(detail, "errors corrected") {
		t.Errorf("corrected: %q %v %v", detail, warn, err)
	}
	_, _, err = runCheck(ctx, prog("echo 'e2fsck: Bad magic number in super-block' >&2; exit 8"), "/dev/sdb1")
	if err == nil || !strings.Contains(err.Error(), "operational error (e2fsck: Bad magic number in super-block)") {
		t.Errorf("failure: %v", err)
	}
	_, _, err = runCheck(ctx, []string{"/nonexistent/fsck", "-a"}, "/dev/sdb1")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/fsck -a /dev/sdb1") {
		t.Errorf("missing program: %v", err)
	}
}
