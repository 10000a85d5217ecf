//go:build linux

package power

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// SystemMounter mounts with mount(2) and unmounts with umount2(2), never
// forced or lazy: a busy filesystem stays mounted and the caller is told.
// It needs CAP_SYS_ADMIN and acts in the caller's mount namespace, so it is
// for machines without systemd; under systemd the agent mounts through
// systemd's mount units instead (systemd.Mounts).
type SystemMounter struct{}

var _ Mounter = SystemMounter{}

// Mount mounts source on target. options are mount(8)-style: flag words
// (ro, noatime, nosuid, bind, …) become mount flags, fstab-only words
// (defaults, nofail, x-…) are dropped, the rest is passed to the
// filesystem as data.
func (SystemMounter) Mount(source, target, fstype, options string) error {
	flags, data := mountFlags(options)
	err := retryEINTR(func() error { return unix.Mount(source, target, fstype, flags, data) })
	if err != nil {
		return fmt.Errorf("mount %s on %s (%s, %s): %w", source, target, fstype, options, err)
	}
	return nil
}

// Unmount unmounts target; EBUSY comes back as is.
func (SystemMounter) Unmount(target string) error {
	if err := retryEINTR(func() error { return unix.Unmount(target, 0) }); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

var flagWords = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"sync": unix.MS_SYNCHRONOUS, "dirsync": unix.MS_DIRSYNC, "mand": unix.MS_MANDLOCK,
	"noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME,
	"strictatime": unix.MS_STRICTATIME, "lazytime": unix.MS_LAZYTIME, "silent": unix.MS_SILENT,
	"bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC,
}

func mountFlags(options string) (uintptr, string) {
	var flags uintptr
	var data []string
	seen := map[string]bool{}
	for _, o := range strings.Split(options, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "" || o == "rw" || o == "defaults" || o == "auto" || o == "noauto" || o == "nofail" ||
			o == "user" || o == "nouser" || o == "users" || o == "_netdev" || strings.HasPrefix(o, "x-") ||
			strings.HasPrefix(o, "comment="):
		case flagWords[o] != 0:
			flags |= flagWords[o]
		case !seen[o]:
			seen[o] = true
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}

// syncFS flushes the filesystem mounted at target (seen under root) with
// syncfs(2). When the mount point cannot be opened under root it falls back
// to sync(2), which flushes everything, and says so.
func syncFS(root, target string) (string, error) {
	f, err := openDir(root, target)
	if err != nil {
		unix.Sync()
		return fmt.Sprintf("sync(2) instead of syncfs(2): %v", err), nil
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return "", fmt.Errorf("syncfs %s: %w", target, err)
	}
	return "", nil
}
