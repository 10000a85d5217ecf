// Package hwmon reads INA power monitors that a Linux kernel driver already
// owns, through the hwmon sysfs interface (Documentation/hwmon/
// sysfs-interface and the ina2xx, ina3221 and ina238 driver documents).
//
// Units in sysfs: in*_input mV (the ina3221's shunt channels in4-6 are µV),
// curr*_input mA, power*_input µW, energy*_input µJ, temp*_input m°C. They
// are converted to periph physic types here.
//
// Sensors are matched by their hwmon name (the chip: "ina226", "ina3221",
// "ina228", ...) and by their I²C device ("1-0040", through the hwmon
// device's "device" link), never by the hwmonN number, which depends on the
// probe order. Supported kernel drivers and the names they give:
//
//   - ina2xx: ina219, ina220, ina226, ina230, ina231, ina260, sy24655. One
//     channel: in0 shunt, in1 bus, curr1, power1.
//   - ina3221: three channels: in1-3 bus, in4-6 shunt (µV), curr1-3; no power
//     attribute, so power is bus × current computed here (Channel.Computed).
//     Disabled channels are skipped.
//   - ina238: ina237, ina238, ina228, sq52206. Like ina2xx, plus energy1
//     (INA228, SQ52206: the chip's own accumulator) and temp1 (die).
//
// A chip bound to a kernel driver must not also be driven through
// /dev/i2c-N: the I2C_RDWR ioctl periph uses bypasses the kernel's
// address-busy check, and the two owners overwrite each other's
// configuration and calibration silently. FS.CheckUnbound tells.
//
// Every path hangs off FS.Root, so tests run over fixture trees (testdata/
// holds trees laid out as on a Raspberry Pi 4 and 5).
package hwmon

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"periph.io/x/conn/v3/physic"
)

// Family is the kernel driver a sensor's attributes follow.
type Family uint8

// Supported driver families.
const (
	INA2xx  Family = iota + 1 // ina2xx driver
	INA3221                   // ina3221 driver
	INA238                    // ina238 driver, which also serves the INA228
)

func (f Family) String() string {
	switch f {
	case INA2xx:
		return "ina2xx"
	case INA3221:
		return "ina3221"
	case INA238:
		return "ina238"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// FamilyOf returns the driver family of a hwmon name, if supported.
func FamilyOf(name string) (Family, bool) {
	switch name {
	case "ina219", "ina220", "ina226", "ina230", "ina231", "ina260", "sy24655":
		return INA2xx, true
	case "ina3221":
		return INA3221, true
	case "ina237", "ina238", "ina228", "sq52206":
		return INA238, true
	}
	return 0, false
}

// ErrNotFound is returned by Lookup when no supported sensor sits at the
// I²C address.
var ErrNotFound = errors.New("no kernel hwmon sensor")

// FS is a sysfs tree. Root "" is the running system's "/".
type FS struct {
	Root string
}

func (f FS) path(rel string) string {
	root := f.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, rel)
}

// Sensor is one kernel-owned power monitor.
type Sensor struct {
	// Name is the hwmon name, the chip as the driver knows it: "ina226".
	Name   string
	Family Family
	// Device is the I²C device, "1-0040"; empty when the hwmon device is
	// not an I²C client.
	Device string
	Bus    int
	Addr   uint16
	// Dir is the directory holding the attributes.
	Dir string
}

func (s *Sensor) String() string {
	if s.Device == "" {
		return s.Name + " (" + filepath.Base(s.Dir) + ")"
	}
	return s.Name + " at " + s.Device
}

// Scan lists the supported sensors under <root>/sys/class/hwmon, ordered by
// I²C device. Other hwmon devices (cpu_thermal, rpi_volt, ...) are skipped.
func (f FS) Scan() ([]*Sensor, error) {
	class := f.path("sys/class/hwmon")
	entries, err := os.ReadDir(class)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hwmon: list %s: %w", class, err)
	}
	var out []*Sensor
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "hwmon") {
			continue
		}
		s, err := open(filepath.Join(class, e.Name()))
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bus != out[j].Bus {
			return out[i].Bus < out[j].Bus
		}
		if out[i].Addr != out[j].Addr {
			return out[i].Addr < out[j].Addr
		}
		return out[i].Dir < out[j].Dir
	})
	return out, nil
}

// Lookup finds the supported sensor at addr on I²C bus, through
// <root>/sys/bus/i2c/devices/<bus>-<addr>/hwmon. The error wraps ErrNotFound
// when there is none, and says whether the device exists without a bound
// driver.
func (f FS) Lookup(bus int, addr uint16) (*Sensor, error) {
	dev := DeviceName(bus, addr)
	devDir := f.path("sys/bus/i2c/devices/" + dev)
	if _, err := os.Stat(devDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("hwmon: %w at %s: the kernel has no I²C device there", ErrNotFound, dev)
		}
		return nil, fmt.Errorf("hwmon: %s: %w", dev, err)
	}
	dirs, err := filepath.Glob(filepath.Join(devDir, "hwmon", "hwmon*"))
	if err != nil {
		return nil, fmt.Errorf("hwmon: %s: %w", dev, err)
	}
	for _, d := range dirs {
		s, err := open(d)
		if err != nil {
			return nil, err
		}
		if s != nil {
			// Reached through the device directory, the hwmon device may
			// lack a "device" link in a trimmed tree; the path says it.
			s.Device, s.Bus, s.Addr = dev, bus, addr
			return s, nil
		}
	}
	name, _ := readString(filepath.Join(devDir, "name"))
	if name == "" {
		name = "device"
	}
	return nil, fmt.Errorf("hwmon: %w at %s: the kernel has a %s there but no supported hwmon sensor (no driver bound, or not an INA)", ErrNotFound, dev, name)
}

// open reads a hwmon class entry. It returns nil, nil for an unsupported
// device.
func open(dir string) (*Sensor, error) {
	attrs := dir
	name, err := readString(filepath.Join(dir, "name"))
	if errors.Is(err, fs.ErrNotExist) {
		// Before Linux 3.x drivers put the attributes, name included, in
		// the parent device's directory.
		attrs = filepath.Join(dir, "device")
		name, err = readString(filepath.Join(attrs, "name"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("hwmon: %s: read name: %w", dir, err)
	}
	fam, ok := FamilyOf(name)
	if !ok {
		return nil, nil
	}
	s := &Sensor{Name: name, Family: fam, Dir: attrs}
	if target, err := os.Readlink(filepath.Join(dir, "device")); err == nil {
		if bus, addr, ok := ParseDevice(filepath.Base(target)); ok {
			s.Device, s.Bus, s.Addr = filepath.Base(target), bus, addr
		}
	}
	return s, nil
}

// Quantity is a set of measured quantities.
type Quantity uint8

// Quantities a channel may carry.
const (
	Bus Quantity = 1 << iota
	Shunt
	Current
	Power
	Energy
	Temperature
)

// Channel is one measured rail.
type Channel struct {
	// Index is the hwmon channel: 1 for single-channel chips, 1-3 on the
	// INA3221.
	Index int
	// Label is the kernel's label (ina3221 channels named in the device
	// tree), or empty.
	Label   string
	Bus     physic.ElectricPotential
	Shunt   physic.ElectricPotential
	Current physic.ElectricCurrent
	Power   physic.Power
	// Energy is the chip's accumulator (INA228 and SQ52206), from its last
	// reset.
	Energy physic.Energy
	// Temperature is the die temperature (ina238 family).
	Temperature physic.Temperature
	// Has says which of the fields above were read.
	Has Quantity
	// Computed is set when Power is bus × current computed here rather
	// than read from the chip (INA3221).
	Computed bool
}

// Read reads every enabled channel of the sensor.
func (s *Sensor) Read() ([]Channel, error) {
	switch s.Family {
	case INA3221:
		var out []Channel
		for n := 1; n <= 3; n++ {
			c, ok, err := s.readINA3221(n)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("hwmon %s: all three channels are disabled", s)
		}
		return out, nil
	case INA2xx, INA238:
		c, err := s.readSingle()
		if err != nil {
			return nil, err
		}
		return []Channel{c}, nil
	}
	return nil, fmt.Errorf("hwmon %s: unsupported family %s", s, s.Family)
}

func (s *Sensor) readSingle() (Channel, error) {
	c := Channel{Index: 1}
	r := reader{s: s}
	r.voltage(&c.Bus, &c.Has, Bus, "in1_input", physic.MilliVolt)
	r.voltage(&c.Shunt, &c.Has, Shunt, "in0_input", physic.MilliVolt)
	r.current(&c, "curr1_input")
	if v, ok := r.int("power1_input", int64(physic.MicroWatt)); ok {
		c.Power, c.Has = physic.Power(v), c.Has|Power
	}
	if s.Family == INA238 {
		if v, ok := r.int("energy1_input", int64(physic.MicroJoule)); ok {
			c.Energy, c.Has = physic.Energy(v), c.Has|Energy
		}
		if v, ok := r.int("temp1_input", int64(physic.MilliCelsius)); ok {
			if v > math.MaxInt64-int64(physic.ZeroCelsius) {
				r.err = fmt.Errorf("hwmon %s: temp1_input: %d nK above zero Celsius is out of range", s, v)
			}
			c.Temperature, c.Has = physic.ZeroCelsius+physic.Temperature(v), c.Has|Temperature
		}
	}
	if r.err != nil {
		return Channel{}, r.err
	}
	if c.Has&(Bus|Current|Power) == 0 {
		return Channel{}, fmt.Errorf("hwmon %s: no in1_input, curr1_input or power1_input in %s", s, s.Dir)
	}
	return c, nil
}

// readINA3221 reads channel n; ok is false when the channel is disabled.
func (s *Sensor) readINA3221(n int) (Channel, bool, error) {
	c := Channel{Index: n}
	if en, err := readString(filepath.Join(s.Dir, fmt.Sprintf("in%d_enable", n))); err == nil && en == "0" {
		return c, false, nil
	}
	if l, err := readString(filepath.Join(s.Dir, fmt.Sprintf("in%d_label", n))); err == nil {
		c.Label = l
	}
	r := reader{s: s}
	busAttr := fmt.Sprintf("in%d_input", n)
	shuntAttr := fmt.Sprintf("in%d_input", n+3)
	currAttr := fmt.Sprintf("curr%d_input", n)
	busMV, okV := r.raw(busAttr)
	shuntUV, okS := r.raw(shuntAttr)
	currMA, okI := r.raw(currAttr)
	if r.nodata {
		// The driver answers ENODATA for a channel disabled since the
		// check above.
		return c, false, nil
	}
	if okV {
		c.Bus, c.Has = physic.ElectricPotential(r.scale(busAttr, busMV, int64(physic.MilliVolt))), c.Has|Bus
	}
	if okS {
		c.Shunt, c.Has = physic.ElectricPotential(r.scale(shuntAttr, shuntUV, int64(physic.MicroVolt))), c.Has|Shunt
	}
	if okI {
		c.Current, c.Has = physic.ElectricCurrent(r.scale(currAttr, currMA, int64(physic.MilliAmpere))), c.Has|Current
	}
	if okV && okI {
		// mV × mA = µW, exact in the units the kernel gives.
		uw := r.scale(busAttr+" × "+currAttr, busMV, currMA)
		c.Power = physic.Power(r.scale(busAttr+" × "+currAttr, uw, int64(physic.MicroWatt)))
		c.Has, c.Computed = c.Has|Power, true
	}
	if r.err != nil {
		return Channel{}, false, r.err
	}
	if c.Has == 0 {
		return c, false, nil
	}
	return c, true, nil
}

// reader reads attributes of one sensor and keeps the first error. Absent
// attributes are not errors: which ones exist depends on the chip and the
// kernel version.
type reader struct {
	s      *Sensor
	err    error
	nodata bool
}

func (r *reader) raw(attr string) (int64, bool) {
	if r.err != nil {
		return 0, false
	}
	v, err := readValue(filepath.Join(r.s.Dir, attr))
	switch {
	case err == nil:
		return v, true
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, syscall.ENODATA):
		r.nodata = true
	default:
		r.err = fmt.Errorf("hwmon %s: read %s: %w", r.s, attr, err)
	}
	return 0, false
}

func (r *reader) scale(attr string, v, unit int64) int64 {
	if r.err != nil {
		return 0
	}
	n, err := scale(v, unit)
	if err != nil {
		r.err = fmt.Errorf("hwmon %s: %s: %w", r.s, attr, err)
	}
	return n
}

func (r *reader) int(attr string, unit int64) (int64, bool) {
	v, ok := r.raw(attr)
	if !ok {
		return 0, false
	}
	n := r.scale(attr, v, unit)
	return n, r.err == nil
}

func (r *reader) voltage(dst *physic.ElectricPotential, has *Quantity, q Quantity, attr string, unit physic.ElectricPotential) {
	if v, ok := r.int(attr, int64(unit)); ok {
		*dst, *has = physic.ElectricPotential(v), *has|q
	}
}

func (r *reader) current(c *Channel, attr string) {
	if v, ok := r.int(attr, int64(physic.MilliAmpere)); ok {
		c.Current, c.Has = physic.ElectricCurrent(v), c.Has|Current
	}
}

func readValue(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseValue(f)
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
