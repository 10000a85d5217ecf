package platform

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// BootloaderConfig is a Raspberry Pi bootloader (EEPROM) configuration as
// printed by `rpi-eeprom-config` or `vcgencmd bootloader_config`: KEY=VALUE
// lines, optionally under [section] filters.
type BootloaderConfig struct {
	Settings []Setting
}

// Setting is one KEY=VALUE line.
type Setting struct {
	Section string // "" before any [section]; "all" for [all]
	Key     string
	Value   string
	Line    int
}

// ParseBootloaderConfig reads a bootloader config. Comments (#) and blank
// lines are skipped; any other line that is not KEY=VALUE or [section] is an
// error naming its line.
func ParseBootloaderConfig(r io.Reader) (*BootloaderConfig, error) {
	cfg := &BootloaderConfig{}
	sc := bufio.NewScanner(r)
	section := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("bootloader config line %d: bad section %q", n, line)
			}
			section = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("bootloader config line %d: %q is not KEY=VALUE", n, line)
		}
		cfg.Settings = append(cfg.Settings, Setting{Section: section, Key: key, Value: strings.TrimSpace(value), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bootloader config: %w", err)
	}
	return cfg, nil
}

// sectionApplies tells whether a [section] filter applies to board. Only the
// unconditional sections and model filters are known; anything else (a GPIO,
// a partition, tryboot) depends on boot-time state and is treated as not
// applying, so the unconditional value decides.
func sectionApplies(section string, b Board) bool {
	switch section {
	case "", "all":
		return true
	case "pi4":
		return b.Generation() == 4
	case "pi400":
		return b == Pi400
	case "cm4":
		return b == CM4
	case "pi5":
		return b.Generation() == 5
	case "pi500":
		return b == Pi500
	case "cm5":
		return b == CM5
	}
	return false
}

// Get returns the value of key that applies to board (the last assignment in
// a section that applies) and whether the config sets it at all.
func (c *BootloaderConfig) Get(key string, b Board) (string, bool) {
	value, found := "", false
	for _, s := range c.Settings {
		if s.Key == key && sectionApplies(s.Section, b) {
			value, found = s.Value, true
		}
	}
	return value, found
}

// BootloaderProgram runs a program that prints the bootloader config.
type BootloaderProgram struct {
	// Path of the program; "" means "rpi-eeprom-config" on PATH.
	// `vcgencmd` with Args ["bootloader_config"] prints the same text.
	Path string
	Args []string
	// Timeout bounds the run; 0 means 10 seconds (the tool talks to the
	// firmware through the mailbox and can hang when that is wedged).
	Timeout time.Duration
}

// Read runs the program and parses what it prints.
func (p BootloaderProgram) Read(ctx context.Context) (*BootloaderConfig, error) {
	path := p.Path
	if path == "" {
		path = "rpi-eeprom-config"
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, p.Args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("read bootloader config: %s did not finish within %v: %w", path, timeout, ctx.Err())
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = "no message"
			}
			return nil, fmt.Errorf("read bootloader config: %s: %w (%s)", path, err, msg)
		}
		return nil, fmt.Errorf("read bootloader config: %w", err)
	}
	cfg, err := ParseBootloaderConfig(&stdout)
	if err != nil {
		return nil, fmt.Errorf("read bootloader config from %s: %w", path, err)
	}
	return cfg, nil
}

// EEPROMFix is the exact change a Pi 5 needs for RTC wake and a real power-off
// on halt.
const EEPROMFix = "run `sudo -E rpi-eeprom-config --edit`, set POWER_OFF_ON_HALT=1 and WAKE_ON_GPIO=0 under [all], save, and reboot once so the bootloader takes it"

// CheckWakeEEPROM checks a 5-family board's bootloader config for halt-and-wake
// by RTC: POWER_OFF_ON_HALT must be 1 (else halt keeps the board at about
// 1.9 W and the RTC alarm may not wake it) and WAKE_ON_GPIO 0. Unset keys
// take the documented defaults: POWER_OFF_ON_HALT is 1 on the CM5 and the 500,
// 0 on the 5; WAKE_ON_GPIO is 1. It returns nothing for other boards.
func CheckWakeEEPROM(cfg *BootloaderConfig, b Board) []Finding {
	if b.Generation() != 5 {
		return nil
	}
	var bad []string
	poh, set := cfg.Get("POWER_OFF_ON_HALT", b)
	if !set {
		poh = "0"
		if b == CM5 || b == Pi500 {
			poh = "1"
		}
	}
	if poh != "1" {
		bad = append(bad, describe("POWER_OFF_ON_HALT", poh, set))
	}
	wog, set := cfg.Get("WAKE_ON_GPIO", b)
	if !set {
		wog = "1"
	}
	if wog != "0" {
		bad = append(bad, describe("WAKE_ON_GPIO", wog, set))
	}
	if len(bad) == 0 {
		return nil
	}
	return []Finding{{
		Severity: Warning,
		Message:  "bootloader: " + strings.Join(bad, ", ") + "; a halted board then stays powered (about 1.9 W) and the RTC alarm may not wake it",
		Fix:      EEPROMFix,
	}}
}

func describe(key, value string, set bool) string {
	if set {
		return key + "=" + value
	}
	return key + " is unset (default " + value + ")"
}
