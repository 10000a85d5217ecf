package usbdisk

import "fmt"

// SenseError is a CHECK CONDITION: the device refused or failed a command
// and said why in its sense data (SPC-4 §4.4).
type SenseError struct {
	Dev    string // device node the command went to
	Opcode byte   // first byte of the CDB
	Key    byte   // sense key (0x5 ILLEGAL REQUEST, …)
	ASC    byte   // additional sense code
	ASCQ   byte   // additional sense code qualifier
	Raw    []byte // the sense data as returned
}

// Sense keys a caller branches on.
const (
	SenseNoSense        = 0x0
	SenseRecoveredError = 0x1
	SenseNotReady       = 0x2
	SenseIllegalRequest = 0x5
	senseAbortedCommand = 0xB
)

func (e *SenseError) Error() string {
	msg := fmt.Sprintf("%s: %s: %s", e.Dev, opcodeName(e.Opcode), senseKeyName(e.Key))
	if d := ascText(e.ASC, e.ASCQ); d != "" {
		return fmt.Sprintf("%s, %s (asc 0x%02x ascq 0x%02x)", msg, d, e.ASC, e.ASCQ)
	}
	return fmt.Sprintf("%s, asc 0x%02x ascq 0x%02x", msg, e.ASC, e.ASCQ)
}

// Recovered reports a sense that is not a failure: NO SENSE, or RECOVERED
// ERROR (SAT bridges report "ATA pass through information available" this
// way even when the command succeeded).
func (e *SenseError) Recovered() bool {
	return e.Key == SenseNoSense || e.Key == SenseRecoveredError
}

// DecodeSense reads fixed (0x70/0x71) or descriptor (0x72/0x73) format
// sense data. ok is false when b holds no valid sense.
func DecodeSense(dev string, opcode byte, b []byte) (e *SenseError, ok bool) {
	if len(b) < 1 {
		return nil, false
	}
	e = &SenseError{Dev: dev, Opcode: opcode, Raw: append([]byte(nil), b...)}
	switch b[0] & 0x7F {
	case 0x70, 0x71:
		if len(b) < 3 {
			return nil, false
		}
		e.Key = b[2] & 0x0F
		if len(b) >= 14 {
			e.ASC, e.ASCQ = b[12], b[13]
		}
	case 0x72, 0x73:
		if len(b) < 4 {
			return nil, false
		}
		e.Key, e.ASC, e.ASCQ = b[1]&0x0F, b[2], b[3]
	default:
		return nil, false
	}
	return e, true
}

var senseKeys = [...]string{
	"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR",
	"ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC",
	"COPY ABORTED", "ABORTED COMMAND", "0xC", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
}

func senseKeyName(k byte) string { return senseKeys[k&0x0F] }

// ascText describes the additional sense codes a spin-down or spin-up can
// meet (SPC-4 annex D); others are shown as numbers.
func ascText(asc, ascq byte) string {
	switch asc {
	case 0x00:
		if ascq == 0x1D {
			return "ATA pass through information available"
		}
		if ascq == 0x00 {
			return "no additional sense information"
		}
	case 0x04:
		switch ascq {
		case 0x00:
			return "logical unit not ready, cause not reportable"
		case 0x01:
			return "logical unit is in process of becoming ready"
		case 0x02:
			return "logical unit not ready, initializing command required"
		case 0x03:
			return "logical unit not ready, manual intervention required"
		}
		return "logical unit not ready"
	case 0x08:
		return "logical unit communication failure"
	case 0x11:
		return "unrecovered read error"
	case 0x1A:
		return "parameter list length error"
	case 0x20:
		return "invalid command operation code"
	case 0x24:
		return "invalid field in CDB"
	case 0x25:
		return "logical unit not supported"
	case 0x26:
		return "invalid field in parameter list"
	case 0x28:
		return "not ready to ready change, medium may have changed"
	case 0x29:
		return "power on, reset, or bus device reset occurred"
	case 0x3A:
		return "medium not present"
	case 0x44:
		return "internal target failure"
	case 0x5E:
		return "low power condition on"
	}
	return ""
}

func opcodeName(op byte) string {
	switch op {
	case opStartStopUnit:
		return "START STOP UNIT"
	case opATAPassThrough16:
		return "ATA PASS-THROUGH(16)"
	case opATAPassThrough12:
		return "ATA PASS-THROUGH(12)"
	case opTestUnitReady:
		return "TEST UNIT READY"
	case opSynchronizeCache10:
		return "SYNCHRONIZE CACHE(10)"
	}
	return fmt.Sprintf("opcode 0x%02x", op)
}
