//go:build linux

package power

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/veille/veille/drivers/usbdisk"
)

func TestMountFlags(t *testing.T) {
	for _, tc := range []struct {
		in    string
		flags uintptr
		data  string
	}{
		{"rw,noatime,errors=remount-ro", unix.MS_NOATIME, "errors=remount-ro"},
		{"ro,nosuid,nodev,relatime,fmask=0022,dmask=0022,fmask=0022", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RELATIME, "fmask=0022,dmask=0022"},
		{"defaults,nofail,x-systemd.automount,bind", unix.MS_BIND, ""},
		{"", 0, ""},
	} {
		f, d := mountFlags(tc.in)
		if f != tc.flags || d != tc.data {
			t.Errorf("mountFlags(%q) = %#x %q, want %#x %q", tc.in, f, d, tc.flags, tc.data)
		}
	}
}

// The real mounter against the real kernel: a tmpfs in a temporary
// directory. It needs CAP_SYS_ADMIN, so it is skipped elsewhere.
func TestSystemMounterTmpfs(t *testing.T) {
	dir := t.TempDir()
	var m SystemMounter
	if err := m.Mount("tmpfs", dir, "tmpfs", "rw,noexec,size=1m"); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skip("mount(2) not permitted here:", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	mounts, err := usbdisk.ReadMounts("/")
	if err != nil {
		t.Fatal(err)
	}
	var found *usbdisk.Mount
	for i, mt := range mounts {
		if mt.MountPoint == dir {
			found = &mounts[i]
		}
	}
	if found == nil || found.FSType != "tmpfs" || !strings.Contains(found.Options, "noexec") || !strings.Contains(found.SuperOptions, "size=1024k") {
		t.Fatalf("mount not seen as wanted: %+v", found)
	}
	if note, err := syncFS("/", dir); err != nil || note != "" {
		t.Errorf("syncFS: %q %v", note, err)
	}

	// An open file keeps it busy: the unmount is refused, not forced, and
	// Holders names this very process.
	f, err := os.Create(filepath.Join(dir, "film.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Unmount(dir)
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("unmount with an open file: %v, want EBUSY", err)
	}
	hs, herr := Holders("/", dir)
	if herr != nil {
		t.Fatal(herr)
	}
	self := false
	for _, h := range hs {
		if h.PID == os.Getpid() && h.Path == f.Name() {
			self = true
		}
	}
	if !self {
		t.Errorf("holders %v do not include this process", hs)
	}
	f.Close()
	if err := m.Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(dir); !errors.Is(err, unix.EINVAL) {
		t.Errorf("second unmount: %v, want EINVAL (not mounted)", err)
	}
}
