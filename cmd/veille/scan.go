package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/veille/veille/drivers/hwmon"
	"github.com/veille/veille/drivers/ina"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/host/v3/sysfs"
)

func cmdScan(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("scan", "[--bus N]", `
List the INA power monitors that answer on an I2C bus (/dev/i2c-N), which chip
each is (from its ID registers), and print a [[sensor]] block for veille.toml.
Scanning only reads: it writes the register pointer and reads two bytes at each
address from 0x40 to 0x4F. Addresses a kernel driver owns are reported and not
touched. Enable I2C first (dtparam=i2c_arm=on in config.txt; the image does).`, stderr)
	bus := fs.Int("bus", 1, "I2C bus number (the N of /dev/i2c-N)")
	root := fs.String("root", "", "prefix of /sys (tests)")
	if done, err := parse(fs, args); done {
		return err
	}
	b, err := sysfs.NewI2C(*bus)
	if err != nil {
		return fmt.Errorf("open /dev/i2c-%d: %w (is I2C enabled, and are you root or in group i2c?)", *bus, err)
	}
	defer b.Close()
	return scanBus(stdout, b, *bus, hwmon.FS{Root: *root})
}

// scanBus identifies the INA chips at 0x40-0x4F and prints a [[sensor]]
// block for each; an address a kernel driver owns is named and not read.
func scanBus(w io.Writer, b i2c.Bus, bus int, hw hwmon.FS) error {
	owned := 0
	found, err := ina.Scan(b, func(addr uint16) bool {
		drv, _ := hw.BoundDriver(bus, addr)
		if drv != "" {
			owned++
			fmt.Fprintf(w, "# 0x%02x: owned by the kernel's %s driver, not read: use a [[hwmon]] block (device = %q)\n", addr, drv, hwmon.DeviceName(bus, addr))
		}
		return drv != ""
	})
	for i, f := range found {
		writeSensorBlock(w, bus, f, i+1)
	}
	if err != nil {
		// Devices that answered, then failed a later read: say so.
		fmt.Fprintf(w, "# answered, then failed: %v\n", strings.ReplaceAll(err.Error(), "\n", "\n#   "))
	}
	if owned+len(found) == 0 && err == nil {
		fmt.Fprintf(w, "# nothing answered at 0x40-0x4F on /dev/i2c-%d\n", bus)
	}
	return nil
}

func writeSensorBlock(w io.Writer, bus int, f ina.Found, n int) {
	chip := string(f.Chip)
	note := ""
	if chip == "" {
		chip = "ina219"
		note = "  # no ID registers: an INA219 (or INA230/231); check the module"
	}
	fmt.Fprintf(w, "[[sensor]]\n")
	if f.Chip == ina.ChipINA3221 {
		fmt.Fprintf(w, "chip = %q\nbus = %d\naddress = 0x%02x\n", chip, bus, f.Addr)
		for ch := 1; ch <= 3; ch++ {
			fmt.Fprintf(w, "  [[sensor.channel]]\n  number = %d\n  name = \"rail%d\"\n  shunt_resistance = \"100mΩ\"   # check the module\n", ch, ch)
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "name = \"sensor%d\"\nchip = %q%s\nbus = %d\naddress = 0x%02x\n", n, chip, note, bus, f.Addr)
	if f.Chip != ina.ChipINA260 {
		// A 100 mΩ module's largest current that fits each chip's shunt range.
		maxI := map[ina.Chip]string{ina.ChipINA226: "800mA", ina.ChipINA230: "800mA", ina.ChipINA231: "800mA", ina.ChipINA228: "1.6A"}[f.Chip]
		if maxI == "" {
			maxI = "3.2A"
		}
		fmt.Fprintf(w, "shunt_resistance = \"100mΩ\"   # the resistor on your module (R100 = 100 mΩ)\nmax_current = %q         # the largest current you expect (× shunt must fit the chip)\n", maxI)
	}
	fmt.Fprintln(w)
}
