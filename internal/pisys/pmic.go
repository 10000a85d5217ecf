package pisys

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// PartialPowerNote says what PMIC.PartialPower covers, for logs and entity
// descriptions.
const PartialPowerNote = "partial board power: the sum of the Pi 5 PMIC rails (SoC, memory, 3.3/1.8 V, HDMI); " +
	"it excludes the USB ports' loads (USB disks), 5 V header pins and HATs, the fan, and the PMIC's conversion losses. " +
	"Measure the 5 V input with an INA sensor for the real total."

// Rail is one PMIC output with both its voltage and its current.
type Rail struct {
	Name  string // "VDD_CORE", "3V3_SYS", ...
	Volts float64
	Amps  float64
}

// Watts is the rail's power, V·I.
func (r Rail) Watts() float64 { return r.Volts * r.Amps }

// Voltage is a channel measured without a current: EXT5V (the 5 V input)
// and BATT (the RTC cell).
type Voltage struct {
	Name  string
	Volts float64
}

// PMIC is one reading of the Pi 5 PMIC's ADC.
type PMIC struct {
	// Rails pairs each X_A current with its X_V voltage, in the order the
	// currents were listed.
	Rails []Rail
	// Voltages are the voltage-only channels.
	Voltages []Voltage
	// Unpaired names currents that came without a voltage (not seen on
	// known boards); they are not in PartialPower.
	Unpaired []string
}

// PartialPower is Σ V·I over the rails in watts. It is only part of the
// board's power: see PartialPowerNote.
func (p PMIC) PartialPower() float64 {
	var w float64
	for _, r := range p.Rails {
		w += r.Watts()
	}
	return w
}

// Input returns the 5 V input voltage (EXT5V_V) if it was reported.
func (p PMIC) Input() (float64, bool) {
	for _, v := range p.Voltages {
		if v.Name == "EXT5V" {
			return v.Volts, true
		}
	}
	return 0, false
}

// pmicLine matches one line of `vcgencmd pmic_read_adc`, e.g.
// "  VDD_CORE_A current(7)=0.56259000A". Leading spaces vary and channel
// numbers are not in order.
var pmicLine = regexp.MustCompile(`^\s*(\S+)_([AV])\s+(current|volt)\((\d+)\)=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)([AV])\s*$`)

// maxPMICOutput bounds what ParsePMIC reads; the real output is about 1 KB.
const maxPMICOutput = 64 << 10

// ParsePMIC parses the output of `vcgencmd pmic_read_adc`. A firmware
// without the command answers "error=..." and gives an error wrapping
// ErrNotAvailable. Lines of another shape are skipped, so a firmware that
// adds some does not break the reading; a reading with no rail at all is an
// error.
func ParsePMIC(r io.Reader) (PMIC, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxPMICOutput))
	type half struct {
		v, a       float64
		hasV, hasA bool
	}
	byName := map[string]*half{}
	var order []string // names in order of first appearance
	var p PMIC
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "error=") {
			return PMIC{}, fmt.Errorf("pmic_read_adc: %w: %s", ErrNotAvailable, strings.TrimSpace(line))
		}
		m := pmicLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, kind, word, unit := m[1], m[2], m[3], m[6]
		if (kind == "A") != (word == "current") || kind != unit {
			return PMIC{}, fmt.Errorf("pmic_read_adc line %d: %q mixes up current and voltage", n, strings.TrimSpace(line))
		}
		val, err := strconv.ParseFloat(m[5], 64)
		if err != nil || math.IsInf(val, 0) || math.IsNaN(val) {
			return PMIC{}, fmt.Errorf("pmic_read_adc line %d: bad value %q", n, m[5])
		}
		h := byName[name]
		if h == nil {
			h = &half{}
			byName[name] = h
			order = append(order, name)
		}
		if kind == "A" {
			if h.hasA {
				return PMIC{}, fmt.Errorf("pmic_read_adc line %d: %s_A listed twice", n, name)
			}
			h.a, h.hasA = val, true
		} else {
			if h.hasV {
				return PMIC{}, fmt.Errorf("pmic_read_adc line %d: %s_V listed twice", n, name)
			}
			h.v, h.hasV = val, true
		}
	}
	if err := sc.Err(); err != nil {
		return PMIC{}, fmt.Errorf("pmic_read_adc: %w", err)
	}
	for _, name := range order {
		h := byName[name]
		switch {
		case h.hasA && h.hasV:
			p.Rails = append(p.Rails, Rail{Name: name, Volts: h.v, Amps: h.a})
		case h.hasV:
			p.Voltages = append(p.Voltages, Voltage{Name: name, Volts: h.v})
		default:
			p.Unpaired = append(p.Unpaired, name)
		}
	}
	if len(p.Rails) == 0 {
		return PMIC{}, errors.New("pmic_read_adc: no rail with both a current and a voltage in the output")
	}
	return p, nil
}

// PMIC reads the Pi 5 PMIC's rails. On a board without one (Pi 4 and
// older) the error wraps ErrNotAvailable.
func (b Board) PMIC(ctx context.Context) (PMIC, error) {
	out, err := b.vcgencmd(ctx, "pmic_read_adc")
	if err != nil {
		return PMIC{}, err
	}
	p, err := ParsePMIC(bytes.NewReader(out))
	if err != nil {
		return PMIC{}, fmt.Errorf("pisys: %w", err)
	}
	return p, nil
}
