package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/drivers/hwmon"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/config"
)

// TestScanPrintsUsableBlocks scans the simulated world's bus (five chips,
// one of them bound to the kernel) and checks that what veille scan prints
// is a configuration veille check accepts.
func TestScanPrintsUsableBlocks(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	o := sim.DefaultOpts(fc.Now)
	o.After = fc.After
	w, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A kernel driver owns 0x45: it must be named and left alone.
	dev := filepath.Join(w.Root(), "sys/bus/i2c/devices/1-0045")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	drv := filepath.Join(w.Root(), "sys/bus/i2c/drivers/ina2xx")
	os.MkdirAll(drv, 0o755)
	if err := os.Symlink(drv, filepath.Join(dev, "driver")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := scanBus(&out, w.Bus(), 1, hwmon.FS{Root: w.Root()}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`chip = "ina228"`, `chip = "ina226"`, `chip = "ina3221"`, `chip = "ina260"`,
		"# 0x45: owned by the kernel's ina2xx driver, not read"} {
		if !strings.Contains(got, want) {
			t.Errorf("scan output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "address = 0x45") {
		t.Errorf("the kernel-owned chip at 0x45 was read:\n%s", got)
	}
	if _, err := config.Parse("scan.toml", []byte("version = 1\n"+got)); err != nil {
		t.Errorf("veille scan printed a configuration veille check refuses: %v\n%s", err, got)
	}
}
