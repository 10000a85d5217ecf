package platform

import (
	"context"
	"fmt"
	"strings"
)

// Severity of a Finding.
type Severity int

// Severities.
const (
	Info Severity = iota
	Warning
	Problem // the configuration cannot work as asked
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Problem:
		return "problem"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Finding is something a person should know about the platform, with the fix
// when there is one.
type Finding struct {
	Severity Severity
	Message  string
	Fix      string
}

func (f Finding) String() string {
	if f.Fix == "" {
		return f.Severity.String() + ": " + f.Message
	}
	return f.Severity.String() + ": " + f.Message + "; fix: " + f.Fix
}

// Options tell Detect where to look.
type Options struct {
	// Root is prepended to every kernel path; "" means "/".
	Root string
	// Bootloader reads the EEPROM config on a 5-family board.
	Bootloader BootloaderProgram
	// SkipBootloader leaves the EEPROM alone (no program is run).
	SkipBootloader bool
}

// Report is what Detect found.
type Report struct {
	Board      Board
	Model      string   // device-tree model, e.g. "Raspberry Pi 5 Model B Rev 1.0"
	Compatible []string // device-tree compatible list
	WakeRTCs   []string // RTCs with a wakealarm attribute, e.g. ["rtc0"]
	I2C1       bool     // /dev/i2c-1 exists (GPIO2/GPIO3 belong to I2C)
	Bootloader *BootloaderConfig
	// BootloaderErr is why the bootloader config could not be read, when a
	// 5-family board's was asked for.
	BootloaderErr error
	Findings      []Finding
}

// Detect reads the board, its wake-capable RTCs and, on a 5-family board,
// its bootloader config. Unreadable kernel files are errors; a bootloader
// config that cannot be read is a finding, not an error, because a Debian
// image may not carry the Raspberry Pi tools.
func Detect(ctx context.Context, opts Options) (*Report, error) {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	model, err := readDT(root, "model")
	if err != nil {
		return nil, err
	}
	compat, err := readDT(root, "compatible")
	if err != nil {
		return nil, err
	}
	r := &Report{Compatible: compat}
	if len(model) > 0 {
		r.Model = model[0]
	}
	r.Board = BoardOf(r.Model, r.Compatible)
	if r.WakeRTCs, err = WakeRTCs(root); err != nil {
		return nil, err
	}
	if r.I2C1, err = I2CBusPresent(root, 1); err != nil {
		return nil, err
	}
	if r.Board.Generation() == 5 && !opts.SkipBootloader {
		r.Bootloader, r.BootloaderErr = opts.Bootloader.Read(ctx)
		if r.BootloaderErr != nil {
			r.Findings = append(r.Findings, Finding{
				Severity: Warning,
				Message:  fmt.Sprintf("could not check the bootloader config (%v); RTC wake needs POWER_OFF_ON_HALT=1 and WAKE_ON_GPIO=0", r.BootloaderErr),
				Fix:      EEPROMFix,
			})
		} else {
			r.Findings = append(r.Findings, CheckWakeEEPROM(r.Bootloader, r.Board)...)
		}
	}
	return r, nil
}

// CanWake reports whether something on this machine can power it up at a
// set time, which a sleep window of kind "system" (halt, then wake) needs,
// and explains why or why not. Without a wake-capable RTC such a window must
// be refused; why then lists the ways to get one.
func (r *Report) CanWake() (ok bool, why string) {
	if len(r.WakeRTCs) > 0 {
		why = strings.Join(r.WakeRTCs, ", ") + " can wake the system (it has a wakealarm)"
		if r.Board.HasBuiltinRTC() {
			why += "; on a " + string(r.Board) + " the bootloader must also have POWER_OFF_ON_HALT=1 and WAKE_ON_GPIO=0"
		}
		return true, why
	}
	var b strings.Builder
	b.WriteString("no RTC here can wake the system (none under /sys/class/rtc has a wakealarm), so the Pi could halt but nothing would power it up at the end of the window")
	switch {
	case r.Board.HasBuiltinRTC():
		b.WriteString(". A " + string(r.Board) + " has a built-in RTC that can: check that the rpi-rtc driver is loaded (dtparam=rtc=on, the default) and that the kernel is the Raspberry Pi one")
	default:
		b.WriteString(". Options: ")
		b.WriteString("(1) an RTC HAT whose alarm output can switch the Pi on, declared with its overlay's wakeup-source parameter (e.g. dtoverlay=i2c-rtc,ds3231,wakeup-source) so the kernel gives it a wakealarm; ")
		b.WriteString("(2) a Witty Pi 4 or 5, or (3) a PiJuice, which cut and restore power on their own schedule; ")
		if r.Board.GPIO3Wakes() {
			b.WriteString("(4) no timed wake: halt and wake by hand with a button between GPIO3 and GND (pin 5 and 6; GPIO3 is also I2C bus 1's SCL) or on GLOBAL_EN; ")
		} else {
			b.WriteString("(4) no timed wake: halt and wake by hand with the board's power button; ")
		}
		b.WriteString("or use a sleep window of kind \"disks\", which needs no wake hardware")
	}
	return false, b.String()
}

// Summary is a few human lines about the platform, for `veille doctor` and
// the log at start.
func (r *Report) Summary() string {
	var b strings.Builder
	model := r.Model
	if model == "" {
		model = "no device-tree model"
	}
	fmt.Fprintf(&b, "board: %s (%s)\n", r.Board, model)
	ok, why := r.CanWake()
	if ok {
		fmt.Fprintf(&b, "timed wake: yes: %s\n", why)
	} else {
		fmt.Fprintf(&b, "timed wake: no: %s\n", why)
	}
	if r.I2C1 {
		b.WriteString("i2c bus 1: enabled (GPIO2 SDA, GPIO3 SCL)\n")
	} else {
		b.WriteString("i2c bus 1: not enabled\n")
	}
	for _, f := range r.Findings {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ButtonFacts are the configuration facts that decide whether a GPIO button
// and the I2C sensors can share the header.
type ButtonFacts struct {
	Board Board
	// ButtonGPIO is the BCM number of the button's line; negative means no
	// button.
	ButtonGPIO int
	// SensorBuses are the I2C bus numbers sensors are configured on.
	SensorBuses []int
	// I2C1Enabled: the kernel drives bus 1 (dtparam=i2c_arm=on), even with no
	// sensor of ours on it.
	I2C1Enabled bool
	// WantWake: the person wants the button to power the board up from halt.
	WantWake bool
}

// CheckButton explains conflicts between a wake/override button and I2C bus 1.
// GPIO3 is both the classic wake pin of Pis before the 5 and I2C bus 1's SCL:
// a button there corrupts sensor transfers while pressed, and anything that
// pulls SCL low during halt wakes the board.
func CheckButton(f ButtonFacts) []Finding {
	if f.ButtonGPIO < 0 {
		return nil
	}
	bus1 := f.I2C1Enabled
	for _, n := range f.SensorBuses {
		if n == 1 {
			bus1 = true
		}
	}
	var out []Finding
	if f.ButtonGPIO == 3 || f.ButtonGPIO == 2 {
		if bus1 {
			pin := "SCL"
			if f.ButtonGPIO == 2 {
				pin = "SDA"
			}
			options := "put the button on another GPIO (e.g. GPIO17: shutdown and override only, no press-to-wake), or move the sensors to another bus (dtoverlay=i2c-gpio with bus=3 on free pins"
			if f.Board.Generation() == 4 {
				options += ", or i2c3..i2c6 on a Pi 4"
			}
			options += ")"
			if f.Board.GPIO3Wakes() {
				options += ", or wire the wake button to GLOBAL_EN instead"
			}
			out = append(out, Finding{
				Severity: Problem,
				Message:  fmt.Sprintf("the button is on GPIO%d, which is I2C bus 1's %s: pressing it corrupts sensor readings, and an I2C device holding %s low would wake a halted board", f.ButtonGPIO, pin, pin),
				Fix:      options,
			})
		}
		if f.ButtonGPIO == 2 && f.WantWake {
			out = append(out, Finding{Severity: Warning, Message: "GPIO2 does not wake a halted board; only GPIO3 (Pi 3/4) or the power button (Pi 5) do"})
		}
		if f.ButtonGPIO == 3 && f.WantWake && f.Board.Generation() == 5 {
			out = append(out, Finding{
				Severity: Warning,
				Message:  "on a " + string(f.Board) + " GPIO3 does not wake a halted board; the power button (or the J2 pads) does",
			})
		}
		return out
	}
	if f.WantWake {
		switch {
		case f.Board.GPIO3Wakes():
			out = append(out, Finding{
				Severity: Warning,
				Message:  fmt.Sprintf("a button on GPIO%d cannot wake a halted %s: only GPIO3 (or GLOBAL_EN) can", f.ButtonGPIO, f.Board),
				Fix:      fmt.Sprintf("keep GPIO%d for shutdown and override, and add a wake button on GLOBAL_EN, or accept waking by timer only", f.ButtonGPIO),
			})
		case f.Board.Generation() == 5:
			out = append(out, Finding{
				Severity: Info,
				Message:  fmt.Sprintf("a button on GPIO%d cannot wake a halted %s; its power button (or a switch on the J2 pads) can", f.ButtonGPIO, f.Board),
			})
		}
	}
	return out
}
