package sim

import (
	"fmt"
	"strings"
	"time"
)

// SenseError is a SCSI CHECK CONDITION from a simulated disk, with the sense
// data the kernel would hand back in sg_io_hdr.sbp (fixed format, 0x70, or
// descriptor format, 0x72, for ATA PASS-THROUGH results). Its fields match
// drivers/usbdisk's SenseError, so the agent's sim wiring converts it with
// usbdisk.DecodeSense(e.Dev, e.Opcode, e.Raw).
type SenseError struct {
	Dev    string
	Opcode byte
	Key    byte
	ASC    byte
	ASCQ   byte
	Raw    []byte
}

func (e *SenseError) Error() string {
	return fmt.Sprintf("%s: CDB 0x%02x: CHECK CONDITION, sense key 0x%x, asc 0x%02x ascq 0x%02x",
		e.Dev, e.Opcode, e.Key, e.ASC, e.ASCQ)
}

// Sense keys and codes the simulated disks answer with.
const (
	senseRecovered = 0x1
	senseNotReady  = 0x2
	senseIllegal   = 0x5
	senseAborted   = 0xb
)

func fixedSense(dev string, op, key, asc, ascq byte) *SenseError {
	raw := make([]byte, 18)
	raw[0], raw[2], raw[7], raw[12], raw[13] = 0x70, key, 10, asc, ascq
	return &SenseError{Dev: dev, Opcode: op, Key: key, ASC: asc, ASCQ: ascq, Raw: raw}
}

// ataStatusSense is the descriptor-format sense a SAT bridge returns for an
// ATA PASS-THROUGH with CK_COND set: RECOVERED ERROR, "ATA pass through
// information available", and the ATA Status Return descriptor (09h) whose
// count field carries, for CHECK POWER MODE, 00h (standby) or FFh (active or
// idle).
func ataStatusSense(dev string, op, count, status byte) *SenseError {
	return ataSense(dev, op, senseRecovered, 0x1d, 0, count, status)
}

// ataAborted is the sense for an ATA command the drive aborted: ABORTED
// COMMAND with the ATA error (ABRT) and status (ERR) in the descriptor.
func ataAborted(dev string, op byte) *SenseError {
	return ataSense(dev, op, senseAborted, 0x00, 0x04, 0, 0x51)
}

func ataSense(dev string, op, key, ascq, ataErr, count, status byte) *SenseError {
	raw := make([]byte, 8+14)
	raw[0], raw[1], raw[2], raw[3], raw[7] = 0x72, key, 0x00, ascq, 14
	d := raw[8:]
	d[0], d[1] = 0x09, 0x0c
	d[3] = ataErr
	d[5] = count
	d[13] = status
	return &SenseError{Dev: dev, Opcode: op, Key: key, ASC: 0x00, ASCQ: ascq, Raw: raw}
}

// Command interprets one CDB sent to a simulated disk's node (Root+"/dev/sda"
// or "/dev/sda"), as the drive behind its USB bridge would (drivers/usbdisk's
// Transport contract):
//
//   - START STOP UNIT (1Bh): START=0 or POWER CONDITION standby (3h) spins
//     the disk down; START=1, active (1h) or idle (2h) spins it up.
//   - ATA PASS-THROUGH(16) (85h) and (12) (A1h), non-data: STANDBY IMMEDIATE
//     (E0h, or the retired 94h) and SLEEP (E6h) spin down, IDLE IMMEDIATE (E1h)
//     spins up, CHECK POWER MODE (E5h) with CK_COND reports the power mode in
//     the sense data. Other ATA commands are aborted; a bridge with NoSAT
//     rejects the opcode (one with NoStartStop rejects 1Bh).
//   - TEST UNIT READY (00h): NOT READY after a SCSI stop;
//     SYNCHRONIZE CACHE(10) (35h): accepted.
//   - Anything else: ILLEGAL REQUEST, invalid command operation code.
//
// A disk that is not present (no power, port off, still enumerating) fails
// like a missing node (ENOENT); a partition node fails with ENOTTY, as the
// kernel refuses SG_IO there. Completion is immediate: the spin-up shows in
// the load model, not as a blocking call.
func (w *World) Command(dev string, cdb []byte, timeout time.Duration) error {
	at := w.lock()
	defer w.unlock()
	r := w.rel(dev)
	name, ok := strings.CutPrefix(r, "/dev/")
	if !ok {
		return fmt.Errorf("sim: SG_IO on %s: not a device node: %w", dev, errNoTTY)
	}
	d, ok := w.diskBy[name]
	if !ok {
		for _, x := range w.disks {
			for _, p := range x.parts {
				if p.name == name && x.present {
					return fmt.Errorf("sim: SG_IO on %s: partition node: %w", dev, errNoTTY)
				}
			}
		}
		return fmt.Errorf("sim: open %s: %w", dev, errNoEnt)
	}
	if !d.present {
		return fmt.Errorf("sim: open %s: %w", dev, errNoEnt)
	}
	if len(cdb) == 0 || timeout < 0 {
		return fmt.Errorf("sim: SG_IO on %s: empty CDB or negative timeout: %w", dev, errInvalid)
	}
	err := w.cdb(at, d, dev, cdb)
	if rerr := w.render(false); err == nil {
		err = rerr
	}
	return err
}

func (w *World) cdb(at time.Time, d *disk, dev string, cdb []byte) error {
	op := cdb[0]
	illegal := func(asc byte) error { return fixedSense(dev, op, senseIllegal, asc, 0) }
	switch op {
	case 0x00: // TEST UNIT READY
		if len(cdb) < 6 {
			return illegal(0x24)
		}
		if d.stopped {
			return fixedSense(dev, op, senseNotReady, 0x04, 0x02) // initializing command required
		}
		return nil
	case 0x35: // SYNCHRONIZE CACHE(10)
		if len(cdb) < 10 {
			return illegal(0x24)
		}
		return nil
	case 0x1b: // START STOP UNIT
		if d.o.NoStartStop {
			return illegal(0x20)
		}
		if len(cdb) < 6 {
			return illegal(0x24)
		}
		switch pc, start := cdb[4]>>4, cdb[4]&1 != 0; {
		case pc == 0 && !start, pc == 3:
			w.diskStop(at, d)
			d.stopped = true
		case pc == 0 && start, pc == 1, pc == 2:
			w.diskStart(at, d)
		default:
			return illegal(0x24) // invalid field in CDB
		}
		return nil
	case 0x85, 0xa1: // ATA PASS-THROUGH(16), (12)
		if d.o.NoSAT {
			return illegal(0x20)
		}
		need, cmdAt := 16, 14
		if op == 0xa1 {
			need, cmdAt = 12, 9
		}
		if len(cdb) < need {
			return illegal(0x24)
		}
		if proto := cdb[1] >> 1 & 0xf; proto != 3 {
			return illegal(0x24) // only non-data commands without a buffer
		}
		ckCond := cdb[2]&0x20 != 0
		status := byte(0x50) // DRDY | DSC
		switch cdb[cmdAt] {
		case 0xe0, 0x94, 0xe6: // STANDBY IMMEDIATE, its retired form, SLEEP
			w.diskStop(at, d)
		case 0xe1: // IDLE IMMEDIATE
			w.diskStart(at, d)
		case 0xe5, 0x98: // CHECK POWER MODE
			count := byte(0xff)
			if d.state == DiskStandby {
				count = 0x00
			}
			if ckCond {
				return ataStatusSense(dev, op, count, status)
			}
			return nil
		default:
			return ataAborted(dev, op)
		}
		if ckCond {
			return ataStatusSense(dev, op, 0, status)
		}
		return nil
	}
	return illegal(0x20) // invalid command operation code
}
