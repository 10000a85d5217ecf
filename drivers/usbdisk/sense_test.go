package usbdisk

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDecodeSense(t *testing.T) {
	fixed := make([]byte, 18)
	fixed[0], fixed[2], fixed[12], fixed[13] = 0x70, 0x05, 0x20, 0x00
	e, ok := DecodeSense("/dev/sda", 0x1B, fixed)
	if !ok || e.Key != SenseIllegalRequest || e.ASC != 0x20 {
		t.Fatalf("fixed: %+v %v", e, ok)
	}
	if want := "/dev/sda: START STOP UNIT: ILLEGAL REQUEST, invalid command operation code (asc 0x20 ascq 0x00)"; e.Error() != want {
		t.Errorf("message %q, want %q", e.Error(), want)
	}
	desc := []byte{0x72, 0x02, 0x04, 0x02, 0, 0, 0, 0}
	e, ok = DecodeSense("/dev/sdb", 0x85, desc)
	if !ok || e.Key != SenseNotReady || e.ASC != 0x04 || e.ASCQ != 0x02 || e.Recovered() {
		t.Fatalf("descriptor: %+v %v", e, ok)
	}
	if !strings.Contains(e.Error(), "ATA PASS-THROUGH(16): NOT READY, logical unit not ready, initializing command required") {
		t.Errorf("message %q", e.Error())
	}
	e, _ = DecodeSense("/dev/sdb", 0x42, []byte{0x70, 0, 0x0B})
	if e2, _ := DecodeSense("x", 0x42, []byte{0x70, 0, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99, 0x01}); e2.Error() != "x: opcode 0x42: ABORTED COMMAND, asc 0x99 ascq 0x01" {
		t.Errorf("unknown asc: %q", e2.Error())
	}
	if e.Error() != "/dev/sdb: opcode 0x42: ABORTED COMMAND, no additional sense information (asc 0x00 ascq 0x00)" {
		t.Errorf("short fixed sense: %q", e.Error())
	}
	for _, bad := range [][]byte{nil, {0x70, 0}, {0x72, 1, 2}, {0x00, 1, 2, 3}} {
		if _, ok := DecodeSense("x", 0, bad); ok {
			t.Errorf("% x decoded", bad)
		}
	}
}

func TestSGResult(t *testing.T) {
	sense := []byte{0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00}
	for _, tc := range []struct {
		name string
		r    sgResult
		want string // "" = nil
	}{
		{"ok", sgResult{}, ""},
		{"check condition", sgResult{status: 0x02, info: 1, sense: sense}, "ILLEGAL REQUEST, invalid field in CDB"},
		{"driver sense", sgResult{driverStatus: 0x08, info: 1, sense: sense}, "ILLEGAL REQUEST"},
		{"timeout", sgResult{hostStatus: 0x03, info: 1}, "host adapter: timed out (DID_TIME_OUT)"},
		{"busy", sgResult{status: 0x08, info: 1}, "SCSI status 0x08 (BUSY)"},
		{"driver", sgResult{driverStatus: 0x06, info: 1}, "driver status 0x06"},
	} {
		err := tc.r.err("/dev/sda", 0x1B)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "/dev/sda: START STOP UNIT: ") {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	var se *SenseError
	if err := (sgResult{status: 2, info: 1, sense: sense}).err("d", 0x1B); !errors.As(err, &se) {
		t.Errorf("CHECK CONDITION is not a *SenseError: %T", err)
	}
}

func TestSGIORefusesNonSCSIFile(t *testing.T) {
	err := SGIO{}.Command(os.DevNull, StopUnitCDB(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "not an SG_IO device") || !strings.Contains(err.Error(), "START STOP UNIT") {
		t.Errorf("err = %v", err)
	}
	err = SGIO{}.Command(t.TempDir()+"/sdz", StopUnitCDB(), time.Second)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing node: %v", err)
	}
	if err := (SGIO{}).Command(os.DevNull, nil, time.Second); err == nil {
		t.Error("empty CDB accepted")
	}
}
