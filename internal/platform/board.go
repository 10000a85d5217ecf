// Package platform tells which board veille runs on and what that board can
// do about sleep: whether something can wake it at a time (a wake-capable
// RTC), whether a Raspberry Pi 5's bootloader is set up to really power off on
// halt, and whether a wake button and the I2C sensors fight over GPIO3.
//
// Everything is read under a root directory (<root>/proc/device-tree/model,
// <root>/sys/class/rtc/*/wakealarm, <root>/dev/i2c-1), so tests run over
// fixture trees; the bootloader config comes from a program whose path is
// configurable and that runs under a timeout.
package platform

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Board is a Raspberry Pi model family, or Other.
type Board string

// Boards veille knows. The 3 covers 3B, 3B+ and 3A+.
const (
	Pi3   Board = "Raspberry Pi 3"
	Pi4   Board = "Raspberry Pi 4"
	Pi400 Board = "Raspberry Pi 400"
	CM4   Board = "Raspberry Pi Compute Module 4"
	Pi5   Board = "Raspberry Pi 5"
	Pi500 Board = "Raspberry Pi 500"
	CM5   Board = "Raspberry Pi Compute Module 5"
	Other Board = "other"
)

// Generation is the Raspberry Pi generation (3, 4 or 5), 0 for Other.
func (b Board) Generation() int {
	switch b {
	case Pi3:
		return 3
	case Pi4, Pi400, CM4:
		return 4
	case Pi5, Pi500, CM5:
		return 5
	}
	return 0
}

// HasBuiltinRTC reports whether the board has an RTC on board (the 5 family).
func (b Board) HasBuiltinRTC() bool { return b.Generation() == 5 }

// GPIO3Wakes reports whether pulling GPIO3 low boots the board from halt
// (every Pi before the 5; the 5 has a power button instead).
func (b Board) GPIO3Wakes() bool { g := b.Generation(); return g == 3 || g == 4 }

// compatibles maps the first device-tree "compatible" entry of each board
// (Raspberry Pi and mainline device trees agree on these) to its family.
var compatibles = map[string]Board{
	"raspberrypi,3-model-b":        Pi3,
	"raspberrypi,3-model-b-plus":   Pi3,
	"raspberrypi,3-model-a-plus":   Pi3,
	"raspberrypi,4-model-b":        Pi4,
	"raspberrypi,400":              Pi400,
	"raspberrypi,4-compute-module": CM4,
	"raspberrypi,5-model-b":        Pi5,
	"raspberrypi,500":              Pi500,
	"raspberrypi,5-compute-module": CM5,
}

// models maps a prefix of the device-tree model string to a family, longest
// prefixes first so "Raspberry Pi 400" is not taken for a 4.
var models = []struct {
	prefix string
	board  Board
}{
	{"Raspberry Pi Compute Module 4S", Other}, // a CM3 form factor; no GLOBAL_EN header
	{"Raspberry Pi Compute Module 4", CM4},
	{"Raspberry Pi Compute Module 5", CM5},
	{"Raspberry Pi 400", Pi400},
	{"Raspberry Pi 500", Pi500},
	{"Raspberry Pi 3 Model", Pi3},
	{"Raspberry Pi 4 Model", Pi4},
	{"Raspberry Pi 5 Model", Pi5},
}

// BoardOf classifies a board from its device-tree compatible list (preferred:
// it is a fixed vocabulary) and, failing that, its model string.
func BoardOf(model string, compatible []string) Board {
	for _, c := range compatible {
		if b, ok := compatibles[c]; ok {
			return b
		}
	}
	for _, m := range models {
		if strings.HasPrefix(model, m.prefix) {
			return m.board
		}
	}
	return Other
}

// ParseDTStrings splits a device-tree string property: NUL-terminated strings
// back to back ("compatible" holds several, "model" one). Empty entries are
// dropped.
func ParseDTStrings(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if t := strings.TrimSpace(string(s)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// readDT reads a device-tree property under root; a missing one is empty.
func readDT(root, name string) ([]string, error) {
	p := filepath.Join(root, "proc", "device-tree", name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: read device tree %s: %w", name, err)
	}
	return ParseDTStrings(b), nil
}

// WakeRTCs lists the RTCs under <root>/sys/class/rtc that can wake the system:
// the kernel creates their wakealarm attribute only when they can.
func WakeRTCs(root string) ([]string, error) {
	dir := filepath.Join(root, "sys", "class", "rtc")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: list RTCs: %w", err)
	}
	var out []string
	for _, e := range entries {
		_, err := os.Stat(filepath.Join(dir, e.Name(), "wakealarm"))
		switch {
		case err == nil:
			out = append(out, e.Name())
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("platform: RTC %s: %w", e.Name(), err)
		}
	}
	return out, nil
}

// I2CBusPresent reports whether <root>/dev/i2c-<n> exists, that is whether the
// kernel drives that I2C bus (bus 1 is dtparam=i2c_arm on GPIO2/GPIO3).
func I2CBusPresent(root string, n int) (bool, error) {
	_, err := os.Stat(filepath.Join(root, "dev", fmt.Sprintf("i2c-%d", n)))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("platform: i2c bus %d: %w", n, err)
}
