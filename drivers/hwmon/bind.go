package hwmon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BoundError says that a kernel driver owns an I²C device the agent was
// about to drive itself.
type BoundError struct {
	Chip   string // the kernel's name for the device: "ina226"
	Device string // "1-0040"
	Driver string // "ina2xx"
}

func (e *BoundError) Error() string {
	return fmt.Sprintf("%s at %s is bound to the kernel's %s driver; read it as a hwmon sensor or unbind it", e.Chip, e.Device, e.Driver)
}

// BoundDriver returns the name of the kernel driver bound to the I²C device
// at addr on bus, from <root>/sys/bus/i2c/devices/<bus>-<addr>/driver, or ""
// when no device is declared there or none is bound.
func (f FS) BoundDriver(bus int, addr uint16) (string, error) {
	link := f.path("sys/bus/i2c/devices/" + DeviceName(bus, addr) + "/driver")
	target, err := os.Readlink(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("hwmon: read %s: %w", link, err)
	}
	return filepath.Base(target), nil
}

// CheckUnbound returns a *BoundError when a kernel driver owns the I²C
// device at addr on bus, so the agent never drives the same chip through
// /dev/i2c-N at the same time (I2C_RDWR would not stop it). It returns nil
// when the address is free.
func (f FS) CheckUnbound(bus int, addr uint16) error {
	drv, err := f.BoundDriver(bus, addr)
	if err != nil || drv == "" {
		return err
	}
	dev := DeviceName(bus, addr)
	chip, err := readString(f.path("sys/bus/i2c/devices/" + dev + "/name"))
	if err != nil || chip == "" {
		chip = "the device"
	}
	return &BoundError{Chip: chip, Device: dev, Driver: drv}
}
