//go:build !linux

package power

import (
	"errors"
	"fmt"
)

// SystemMounter needs Linux.
type SystemMounter struct{}

// Mount fails: mount(2) is Linux-only here.
func (SystemMounter) Mount(source, target, fstype, options string) error {
	return fmt.Errorf("mount %s: %w", target, errors.ErrUnsupported)
}

// Unmount fails: umount2(2) is Linux-only here.
func (SystemMounter) Unmount(target string) error {
	return fmt.Errorf("unmount %s: %w", target, errors.ErrUnsupported)
}

func syncFS(root, target string) (string, error) {
	return "", fmt.Errorf("sync %s: %w", target, errors.ErrUnsupported)
}
