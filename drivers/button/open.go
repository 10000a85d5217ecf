package button

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// Open returns line number line (the offset on the chip, not a header pin
// number) of a GPIO character device, through periph's gpioioctl driver.
//
// chip is matched against the chip's kernel name ("gpiochip0"), its label
// ("pinctrl-rp1", "pinctrl-bcm2711") or its device path. The empty string
// means the first chip in gpioioctl's order, which puts "pinctrl-" chips
// first: on a Pi 4 and a Pi 5 that is the 40-pin header's bank, where line n
// is GPIOn. Lines are found by number, never by name: kernels and device
// trees name them differently ("GPIO17" on Raspberry Pi kernels, "SCL1" or
// "GPIO_GCLK" on mainline ones).
//
// On a machine without GPIO character devices Open returns an error saying
// so. It initialises periph's drivers (driverreg.Init) if nobody has yet.
func Open(chip string, line int) (gpio.PinIO, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("button: initialise periph drivers: %w", err)
	}
	return openLine(gpioioctl.Chips, chip, line)
}

// openLine is Open over a given chip list.
func openLine(chips []*gpioioctl.GPIOChip, chip string, line int) (gpio.PinIO, error) {
	if len(chips) == 0 {
		return nil, errors.New("button: no GPIO character device (/dev/gpiochip*) on this machine; a button needs a board with GPIO such as a Raspberry Pi, and read access to its gpiochip devices")
	}
	var c *gpioioctl.GPIOChip
	if chip == "" {
		c = chips[0]
	} else {
		var names []string
		for _, cand := range chips {
			names = append(names, cand.Name()+" ("+cand.Label()+")")
			if chip == cand.Name() || chip == cand.Label() || chip == cand.Path() || chip == filepath.Base(cand.Path()) {
				c = cand
				break
			}
		}
		if c == nil {
			return nil, fmt.Errorf("button: no GPIO chip %q; this machine has %s", chip, strings.Join(names, ", "))
		}
	}
	if line < 0 || line >= c.LineCount() {
		return nil, fmt.Errorf("button: %s (%s) has lines 0-%d, not %d", c.Name(), c.Label(), c.LineCount()-1, line)
	}
	l := c.ByNumber(line)
	if l == nil {
		return nil, fmt.Errorf("button: %s (%s) has no line %d", c.Name(), c.Label(), line)
	}
	if u := l.Consumer(); u != "" {
		return nil, fmt.Errorf("button: line %d (%s) of %s (%s) is already used by %q, a kernel driver (a gpio-key or gpio-shutdown overlay?) or another program; free it or choose another line", line, l.Name(), c.Name(), c.Label(), u)
	}
	return l, nil
}

// CheckI2C1 explains why a button on header GPIO2 or GPIO3 clashes with I²C
// bus 1 (GPIO2 is its SDA, GPIO3 its SCL): pressing it corrupts sensor
// transfers, and a gpio-shutdown overlay there takes the pin from the I²C
// controller. It returns nil for any other line. Call it when sensors are
// read on bus 1 and the button is on the header bank.
func CheckI2C1(line int) error {
	var role string
	switch line {
	case 2:
		role = "SDA"
	case 3:
		role = "SCL"
	default:
		return nil
	}
	return fmt.Errorf("button: GPIO%d is I²C bus 1's %s, where the power sensors are read; a press would corrupt their transfers. "+
		"Put the button on another line (GPIO17 for example; a Pi 4 then cannot be woken from halt by it, only GPIO3 or GLOBAL_EN can), "+
		"or move the sensors to another bus (i2c3-6 overlays, or i2c-gpio)", line, role)
}
