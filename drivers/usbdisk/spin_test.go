package usbdisk

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bridge is a USB-SATA bridge at the CDB level: it answers each opcode
// (and ATA command) as scripted and records what it was sent.
type bridge struct {
	answers map[string]error // key: "1b" or "85/e0"
	sent    []string
}

func cdbKey(cdb []byte) string {
	if cdb[0] == opATAPassThrough16 {
		return fmt.Sprintf("85/%02x", cdb[14])
	}
	return fmt.Sprintf("%02x", cdb[0])
}

func (b *bridge) Command(dev string, cdb []byte, timeout time.Duration) error {
	if timeout <= 0 {
		return errors.New("no timeout")
	}
	k := cdbKey(cdb)
	b.sent = append(b.sent, k)
	if err, ok := b.answers[k]; ok {
		return err
	}
	return &SenseError{Dev: dev, Opcode: cdb[0], Key: SenseIllegalRequest, ASC: 0x20}
}

func TestCDBs(t *testing.T) {
	if !bytes.Equal(StopUnitCDB(), []byte{0x1B, 0, 0, 0, 0, 0}) {
		t.Errorf("stop % x", StopUnitCDB())
	}
	if !bytes.Equal(StartUnitCDB(), []byte{0x1B, 0, 0, 0, 1, 0}) {
		t.Errorf("start % x", StartUnitCDB())
	}
	want := []byte{0x85, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0xE0, 0}
	if !bytes.Equal(ATACommandCDB(0xE0), want) {
		t.Errorf("ATA standby % x", ATACommandCDB(0xE0))
	}
	if s := SpinDownCommands(ModeAuto)[0].String(); s != "START STOP UNIT (stop) [1b 00 00 00 00 00]" {
		t.Errorf("command string %q", s)
	}
}

func TestSpinDown(t *testing.T) {
	illegal := &SenseError{Key: SenseIllegalRequest, ASC: 0x24}
	timeout := errors.New("host adapter: timed out (DID_TIME_OUT)")
	for _, tc := range []struct {
		name     string
		mode     Mode
		answers  map[string]error
		wantSent string
		wantCmd  string
		wantErr  string
	}{
		{"scsi bridge", ModeAuto, map[string]error{"1b": nil}, "1b", "START STOP UNIT (stop)", ""},
		{"auto falls back to ATA", ModeAuto, map[string]error{"1b": illegal, "85/e0": nil}, "1b 85/e0", "ATA STANDBY IMMEDIATE (0xE0)", ""},
		{"ata falls back to 0x94", ModeATA, map[string]error{"85/e0": &SenseError{Key: senseAbortedCommand}, "85/94": nil}, "85/e0 85/94", "ATA STANDBY IMMEDIATE (0x94)", ""},
		{"recovered error is success", ModeATA, map[string]error{"85/e0": &SenseError{Key: SenseRecoveredError, ASC: 0, ASCQ: 0x1D}}, "85/e0", "ATA STANDBY IMMEDIATE (0xE0)", ""},
		{"scsi only", ModeSCSI, map[string]error{"1b": illegal}, "1b", "", "ILLEGAL REQUEST"},
		{"no answer is not retried", ModeAuto, map[string]error{"1b": timeout}, "1b", "", "timed out"},
		{"nothing works", ModeAuto, nil, "1b 85/e0 85/94", "", "ATA STANDBY IMMEDIATE (0x94)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &bridge{answers: tc.answers}
			cmd, err := SpinDown(b, "/dev/sda", tc.mode, 0)
			if got := strings.Join(b.sent, " "); got != tc.wantSent {
				t.Errorf("sent %q, want %q", got, tc.wantSent)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "spin down /dev/sda: ") {
					t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cmd.Name != tc.wantCmd {
				t.Errorf("SpinDown = %v, %v; want %s", cmd, err, tc.wantCmd)
			}
		})
	}
}

func TestSpinUp(t *testing.T) {
	b := &bridge{answers: map[string]error{"1b": &SenseError{Key: SenseIllegalRequest}, "85/e1": nil}}
	cmd, err := SpinUp(b, "/dev/sda", ModeAuto, time.Second)
	if err != nil || cmd.Name != "ATA IDLE IMMEDIATE (0xE1)" {
		t.Errorf("SpinUp = %v, %v", cmd, err)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "AUTO": ModeAuto, "scsi": ModeSCSI, " ata ": ModeATA} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := ParseMode("jmicron"); err == nil {
		t.Error("unknown mode accepted")
	}
}
