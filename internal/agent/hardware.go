package agent

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/veille/veille/drivers/button"
	"github.com/veille/veille/drivers/usbdisk"
	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/host/v3/sysfs"
)

// fillHardware sets the real back-ends where the caller gave none.
func (a *Agent) fillHardware() {
	h := &a.hw
	if h.OpenBus == nil {
		h.OpenBus = func(bus int) (i2c.Bus, error) {
			b, err := sysfs.NewI2C(bus)
			if err != nil {
				return nil, fmt.Errorf("open /dev/i2c-%d: %w", bus, err)
			}
			return namedBus{b, fmt.Sprintf("/dev/i2c-%d", bus)}, nil
		}
	}
	if h.Button == nil {
		c := a.cfg.Button
		h.Button = func() (gpio.PinIn, error) { return button.Open(c.Chip, c.Line) }
	}
	if h.Transport == nil {
		h.Transport = usbdisk.SGIO{}
	}
	if h.Notify == nil {
		h.Notify = func(state string) error {
			_, err := daemon.SdNotify(false, state)
			return err
		}
	}
	if h.ClockSynced == nil {
		root := a.cfg.Root
		h.ClockSynced = func() bool { return clockSynced(root) }
	}
	if h.SinceBoot == nil {
		h.SinceBoot = sinceBoot
	}
}

// clockSynced tells whether the wall clock can be trusted: the kernel says
// it is disciplined (NTP), systemd-timesyncd has synchronised it, or it was
// set from an RTC at boot.
func clockSynced(root string) bool {
	var tx unix.Timex
	if state, err := unix.Adjtimex(&tx); err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0 {
		return true
	}
	if _, err := os.Stat(root + "/run/systemd/timesync/synchronized"); err == nil {
		return true
	}
	if b, err := os.ReadFile(root + "/sys/class/rtc/rtc0/hctosys"); err == nil && strings.TrimSpace(string(b)) == "1" {
		return time.Now().Year() >= 2024
	}
	return false
}

// sinceBoot is CLOCK_BOOTTIME: it counts time suspended and never steps.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// readSecret reads a password file (first line, trimmed).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// namedBus names a bus by its device path in messages ("ina226 0x40 on
// /dev/i2c-1"), where periph says "I2C1".
type namedBus struct {
	i2c.Bus
	name string
}

func (b namedBus) String() string { return b.name }
