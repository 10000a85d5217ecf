package pisys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
)

// Throttled is the firmware's get_throttled bit field. The low bits are the
// state now, bits 16-19 what has happened since boot.
type Throttled uint32

// Throttled bits, from the Raspberry Pi documentation of get_throttled.
const (
	UnderVoltage          Throttled = 1 << 0 // supply below ~4.63 V now
	FreqCapped            Throttled = 1 << 1 // ARM frequency capped now
	Throttling            Throttled = 1 << 2 // throttled now
	SoftTempLimit         Throttled = 1 << 3 // soft temperature limit active now
	UnderVoltageOccurred  Throttled = 1 << 16
	FreqCappedOccurred    Throttled = 1 << 17
	ThrottlingOccurred    Throttled = 1 << 18
	SoftTempLimitOccurred Throttled = 1 << 19
)

var throttledNames = map[Throttled]string{
	UnderVoltage:          "under-voltage",
	FreqCapped:            "arm-frequency-capped",
	Throttling:            "throttled",
	SoftTempLimit:         "soft-temperature-limit",
	UnderVoltageOccurred:  "under-voltage-occurred",
	FreqCappedOccurred:    "arm-frequency-capping-occurred",
	ThrottlingOccurred:    "throttling-occurred",
	SoftTempLimitOccurred: "soft-temperature-limit-occurred",
}

// Names lists the set bits by name, lowest bit first; a bit the
// documentation does not define is "bit N".
func (t Throttled) Names() []string {
	var out []string
	for v := uint32(t); v != 0; v &= v - 1 {
		bit := Throttled(1) << bits.TrailingZeros32(v)
		if n, ok := throttledNames[bit]; ok {
			out = append(out, n)
		} else {
			out = append(out, "bit "+strconv.Itoa(bits.TrailingZeros32(v)))
		}
	}
	return out
}

func (t Throttled) String() string {
	if t == 0 {
		return "0x0 (ok)"
	}
	return fmt.Sprintf("%#x (%s)", uint32(t), strings.Join(t.Names(), ", "))
}

// Now returns the bits that describe the present state.
func (t Throttled) Now() Throttled { return t & 0xffff }

// SinceBoot returns the bits that record what has happened since boot.
func (t Throttled) SinceBoot() Throttled { return t &^ 0xffff }

// ParseThrottled parses the output of `vcgencmd get_throttled`:
// "throttled=0x50005".
func ParseThrottled(r io.Reader) (Throttled, error) {
	b, err := io.ReadAll(io.LimitReader(r, 257))
	if err != nil {
		return 0, err
	}
	if len(b) > 256 {
		return 0, errors.New("get_throttled: answer longer than 256 bytes")
	}
	s := string(bytes.TrimSpace(b))
	if strings.HasPrefix(s, "error=") {
		return 0, fmt.Errorf("get_throttled: %w: %s", ErrNotAvailable, s)
	}
	hex, ok := strings.CutPrefix(s, "throttled=0x")
	if !ok || hex == "" {
		return 0, fmt.Errorf("get_throttled: want throttled=0x..., got %q", s)
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("get_throttled: %q is not a 32-bit hexadecimal value", hex)
	}
	return Throttled(v), nil
}

// Throttled asks the firmware for its throttling and under-voltage flags.
func (b Board) Throttled(ctx context.Context) (Throttled, error) {
	out, err := b.vcgencmd(ctx, "get_throttled")
	if err != nil {
		return 0, err
	}
	t, err := ParseThrottled(bytes.NewReader(out))
	if err != nil {
		return 0, fmt.Errorf("pisys: %w", err)
	}
	return t, nil
}
