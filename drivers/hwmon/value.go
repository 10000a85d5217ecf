package hwmon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
)

// maxValueLen bounds what ParseValue reads: a sysfs attribute holds one
// integer (at most 20 digits and a sign) and a newline.
const maxValueLen = 64

// ParseValue parses a hwmon attribute: one decimal integer, optionally
// surrounded by white space (the kernel ends it with a newline).
func ParseValue(r io.Reader) (int64, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxValueLen+1))
	if err != nil {
		return 0, err
	}
	if len(b) > maxValueLen {
		return 0, fmt.Errorf("value longer than %d bytes", maxValueLen)
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return 0, errors.New("empty value")
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of the 64-bit range", s)
	}
	if err != nil {
		return 0, fmt.Errorf("not a decimal integer: %q", s)
	}
	return v, nil
}

// scale multiplies a value by a unit size (or any factor), refusing
// overflow.
func scale(v, unit int64) (int64, error) {
	if v == 0 || unit == 0 {
		return 0, nil
	}
	p := v * unit
	if p/unit != v || (v == -1 && unit == math.MinInt64) || (unit == -1 && v == math.MinInt64) {
		return 0, fmt.Errorf("value %d × %d out of range", v, unit)
	}
	return p, nil
}

var deviceRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})-([0-9a-f]{4})$`)

// ParseDevice splits a kernel I²C device name such as "1-0040" into bus
// number and address. ok is false for anything else (a platform or virtual
// device).
func ParseDevice(name string) (bus int, addr uint16, ok bool) {
	m := deviceRE.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	b, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, 0, false
	}
	a, err := strconv.ParseUint(m[2], 16, 16)
	if err != nil || a > 0x3ff {
		return 0, 0, false
	}
	return b, uint16(a), true
}

// DeviceName is the kernel's name for the I²C device at addr on bus, as in
// /sys/bus/i2c/devices: "1-0040".
func DeviceName(bus int, addr uint16) string {
	return fmt.Sprintf("%d-%04x", bus, addr)
}
