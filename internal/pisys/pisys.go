// Package pisys reads optional Raspberry Pi system telemetry: the SoC
// temperature, the firmware's throttling and under-voltage flags, and on a
// Pi 5 the PMIC's rail voltages and currents.
//
// Each reading may be missing on a given board (no cpu-thermal zone on a
// PC, no vcgencmd outside Raspberry Pi OS, no PMIC ADC before the Pi 5):
// then its method returns an error wrapping ErrNotAvailable, and the caller
// leaves the reading out instead of failing.
//
// Kernel files hang off Board.Root; the firmware is asked through the
// vcgencmd program (Board.Vcgencmd), each run bounded by Board.Timeout.
// Parsers take an io.Reader and are fuzzed.
package pisys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNotAvailable says a reading does not exist on this board or system.
var ErrNotAvailable = errors.New("not available")

// DefaultTimeout bounds one vcgencmd run when Board.Timeout is zero. A run
// normally takes about 0.1 s.
const DefaultTimeout = 2 * time.Second

// Board reads one Raspberry Pi.
type Board struct {
	// Root is the filesystem root for kernel files; "" is "/".
	Root string
	// Vcgencmd is the firmware command program, a path or a name looked up
	// in PATH; "" is "vcgencmd".
	Vcgencmd string
	// Timeout bounds each vcgencmd run; 0 is DefaultTimeout.
	Timeout time.Duration
}

func (b Board) path(rel string) string {
	root := b.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, rel)
}

// MilliCelsius is a temperature in thousandths of a degree Celsius, the
// kernel's thermal unit.
type MilliCelsius int64

// Celsius returns t in degrees Celsius.
func (t MilliCelsius) Celsius() float64 { return float64(t) / 1000 }

func (t MilliCelsius) String() string {
	return strconv.FormatFloat(t.Celsius(), 'f', -1, 64) + "°C"
}

// CPUThermalType is the thermal zone type of the Pi's SoC sensor.
const CPUThermalType = "cpu-thermal"

// SoCTemperature reads the SoC temperature from the thermal zone whose type
// is cpu-thermal (<root>/sys/class/thermal/thermal_zone*/temp). Zone numbers
// are not relied on.
func (b Board) SoCTemperature() (MilliCelsius, error) {
	zones, err := filepath.Glob(b.path("sys/class/thermal/thermal_zone*"))
	if err != nil {
		return 0, fmt.Errorf("pisys: list thermal zones: %w", err)
	}
	for _, z := range zones {
		typ, err := os.ReadFile(filepath.Join(z, "type"))
		if err != nil || strings.TrimSpace(string(typ)) != CPUThermalType {
			continue
		}
		f, err := os.Open(filepath.Join(z, "temp"))
		if err != nil {
			return 0, fmt.Errorf("pisys: SoC temperature: %w", err)
		}
		defer f.Close()
		v, err := ParseMilliCelsius(f)
		if err != nil {
			return 0, fmt.Errorf("pisys: SoC temperature in %s: %w", f.Name(), err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("pisys: SoC temperature: %w: no %s thermal zone under %s", ErrNotAvailable, CPUThermalType, b.path("sys/class/thermal"))
}

// ParseMilliCelsius parses a thermal zone's temp file: one decimal integer
// in m°C.
func ParseMilliCelsius(r io.Reader) (MilliCelsius, error) {
	b, err := io.ReadAll(io.LimitReader(r, 65))
	if err != nil {
		return 0, err
	}
	if len(b) > 64 {
		return 0, errors.New("temperature longer than 64 bytes")
	}
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("temperature is not a decimal integer: %q", s)
	}
	return MilliCelsius(v), nil
}

// vcgencmd runs the firmware command program with args and returns its
// standard output. An "error=" answer from the firmware (a command this
// board lacks) wraps ErrNotAvailable, as does a missing program.
func (b Board) vcgencmd(ctx context.Context, args ...string) ([]byte, error) {
	prog := b.Vcgencmd
	if prog == "" {
		prog = "vcgencmd"
	}
	what := prog + " " + strings.Join(args, " ")
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("pisys: %s: %w: %w", what, ErrNotAvailable, err)
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A child that left the pipes open must not hold Wait past the kill.
	cmd.WaitDelay = 100 * time.Millisecond
	out, err := cmd.Output()
	if bytes.HasPrefix(bytes.TrimSpace(out), []byte("error=")) {
		return nil, fmt.Errorf("pisys: %s: %w: the firmware answered %s", what, ErrNotAvailable, strings.TrimSpace(string(out)))
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pisys: %s: no answer within %s: %w", what, timeout, ctx.Err())
	}
	if err != nil {
		// "Can't open device file: /dev/vcio" and the like: the user is
		// not in the video group.
		msg := strings.TrimSpace(stderr.String() + " " + string(out))
		return nil, fmt.Errorf("pisys: %s: %w: %s", what, err, msg)
	}
	return out, nil
}
