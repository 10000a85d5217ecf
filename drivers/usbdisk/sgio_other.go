//go:build !linux

package usbdisk

import (
	"errors"
	"fmt"
	"time"
)

// Command fails: SG_IO exists only on Linux.
func (SGIO) Command(dev string, cdb []byte, timeout time.Duration) error {
	return fmt.Errorf("%s: %w", dev, errors.ErrUnsupported)
}
