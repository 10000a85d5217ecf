package usbdisk

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Transport sends SCSI commands to a device. On Linux, SGIO does it with
// the SG_IO ioctl; the simulated world interprets the CDBs itself.
type Transport interface {
	// Command sends one CDB with no data phase to dev (e.g. Root+"/dev/sda").
	// A CHECK CONDITION comes back as *SenseError.
	Command(dev string, cdb []byte, timeout time.Duration) error
}

const (
	opTestUnitReady      = 0x00
	opStartStopUnit      = 0x1B
	opSynchronizeCache10 = 0x35
	opATAPassThrough12   = 0xA1
	opATAPassThrough16   = 0x85

	ataStandbyImmediate  = 0xE0
	ataStandbyImmediate2 = 0x94 // retired STANDBY IMMEDIATE, some bridges want it
	ataIdleImmediate     = 0xE1
)

// Mode selects how a disk is spun down.
type Mode string

const (
	// ModeAuto sends START STOP UNIT and falls back to ATA STANDBY
	// IMMEDIATE when the bridge rejects it (ILLEGAL REQUEST).
	ModeAuto Mode = "auto"
	// ModeSCSI sends only START STOP UNIT (what hd-idle does by default).
	ModeSCSI Mode = "scsi"
	// ModeATA sends ATA STANDBY IMMEDIATE through ATA PASS-THROUGH(16),
	// 0xE0 then 0x94. Needs CAP_SYS_RAWIO.
	ModeATA Mode = "ata"
)

// ParseMode accepts "auto", "scsi", "ata" ("" is auto).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeSCSI, ModeATA:
		return m, nil
	}
	return "", fmt.Errorf("spin-down mode %q: want auto, scsi or ata", s)
}

// StopUnitCDB is SCSI START STOP UNIT with START=0 and power condition
// START_VALID: stop the spindle.
func StopUnitCDB() []byte { return []byte{opStartStopUnit, 0, 0, 0, 0x00, 0} }

// StartUnitCDB is SCSI START STOP UNIT with START=1: spin up.
func StartUnitCDB() []byte { return []byte{opStartStopUnit, 0, 0, 0, 0x01, 0} }

// ATACommandCDB wraps a non-data ATA command in ATA PASS-THROUGH(16)
// (SAT-4): protocol 3 (non-data), no transfer, device register LBA mode.
func ATACommandCDB(ataCommand byte) []byte {
	return []byte{opATAPassThrough16, 3 << 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, ataCommand, 0}
}

// Command is one CDB as sent, for logs and dry runs.
type Command struct {
	Name string
	CDB  []byte
}

func (c Command) String() string { return fmt.Sprintf("%s [% x]", c.Name, c.CDB) }

// SpinDownCommands lists the CDBs a spin-down in this mode may send, in the
// order they are tried.
func SpinDownCommands(m Mode) []Command {
	scsi := Command{"START STOP UNIT (stop)", StopUnitCDB()}
	ata := []Command{
		{"ATA STANDBY IMMEDIATE (0xE0)", ATACommandCDB(ataStandbyImmediate)},
		{"ATA STANDBY IMMEDIATE (0x94)", ATACommandCDB(ataStandbyImmediate2)},
	}
	switch m {
	case ModeSCSI:
		return []Command{scsi}
	case ModeATA:
		return ata
	}
	return append([]Command{scsi}, ata...)
}

// SpinUpCommands lists the CDBs a spin-up in this mode may send.
func SpinUpCommands(m Mode) []Command {
	scsi := Command{"START STOP UNIT (start)", StartUnitCDB()}
	ata := Command{"ATA IDLE IMMEDIATE (0xE1)", ATACommandCDB(ataIdleImmediate)}
	switch m {
	case ModeSCSI:
		return []Command{scsi}
	case ModeATA:
		return []Command{ata}
	}
	return []Command{scsi, ata}
}

// DefaultTimeout is how long a spin command may take: a disk spinning up
// needs several seconds, a sleepy bridge more.
const DefaultTimeout = 30 * time.Second

// SpinDown stops the disk at dev. It returns the command that worked. In
// ModeAuto the ATA fallback is tried only when the device rejects the SCSI
// command (ILLEGAL REQUEST); a device that does not answer is not hammered
// with more commands.
func SpinDown(t Transport, dev string, m Mode, timeout time.Duration) (Command, error) {
	return sendFirst(t, dev, SpinDownCommands(m), timeout, "spin down")
}

// SpinUp starts the disk at dev (a read would too, but this says at once
// whether the disk answers).
func SpinUp(t Transport, dev string, m Mode, timeout time.Duration) (Command, error) {
	return sendFirst(t, dev, SpinUpCommands(m), timeout, "spin up")
}

func sendFirst(t Transport, dev string, cmds []Command, timeout time.Duration, what string) (Command, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var errs []error
	for _, c := range cmds {
		err := t.Command(dev, c.CDB, timeout)
		var se *SenseError
		if err == nil || errors.As(err, &se) && se.Recovered() {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		// Fall back only when the device answered "not this command"
		// (ILLEGAL REQUEST, or ABORTED COMMAND for an ATA abort).
		if !errors.As(err, &se) || se.Key != SenseIllegalRequest && se.Key != senseAbortedCommand {
			break
		}
	}
	return Command{}, fmt.Errorf("%s %s: %w", what, dev, errors.Join(errs...))
}
