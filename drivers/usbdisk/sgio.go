package usbdisk

import "fmt"

// SGIO is the Linux Transport: it sends each CDB with the SG_IO ioctl on
// the device node (/dev/sdX works as well as /dev/sgN). START STOP UNIT is
// allowed to anyone who can open the node; ATA PASS-THROUGH needs
// CAP_SYS_RAWIO.
type SGIO struct{}

var _ Transport = SGIO{}

// sg_io_hdr outcome fields, decoded the same on every GOARCH.
type sgResult struct {
	status       uint8 // SCSI status
	hostStatus   uint16
	driverStatus uint16
	info         uint32
	sense        []byte // the sb_len_wr bytes the kernel wrote
}

const (
	sgInterfaceID   = 'S'
	sgDxferNone     = -1
	sgInfoOKMask    = 0x1
	sgIO            = 0x2285
	sgGetVersionNum = 0x2282
	senseBufLen     = 32

	scsiCheckCondition = 0x02
	driverSense        = 0x08
)

// err turns the outcome of an SG_IO call into nil, a *SenseError, or an
// error naming the failing layer.
func (r sgResult) err(dev string, opcode byte) error {
	if len(r.sense) > 0 && (r.status == scsiCheckCondition || r.driverStatus&0x0F == driverSense || r.info&sgInfoOKMask != 0) {
		if se, ok := DecodeSense(dev, opcode, r.sense); ok {
			return se
		}
	}
	if r.info&sgInfoOKMask == 0 {
		return nil
	}
	if r.hostStatus != 0 {
		return fmt.Errorf("%s: %s: host adapter: %s", dev, opcodeName(opcode), hostStatusText(r.hostStatus))
	}
	if r.status != 0 {
		return fmt.Errorf("%s: %s: SCSI status 0x%02x (%s)", dev, opcodeName(opcode), r.status, scsiStatusText(r.status))
	}
	return fmt.Errorf("%s: %s: driver status 0x%02x", dev, opcodeName(opcode), r.driverStatus)
}

func hostStatusText(s uint16) string {
	names := map[uint16]string{
		0x01: "no connection (DID_NO_CONNECT)", 0x02: "bus busy (DID_BUS_BUSY)",
		0x03: "timed out (DID_TIME_OUT)", 0x04: "bad target (DID_BAD_TARGET)",
		0x05: "aborted (DID_ABORT)", 0x06: "parity error (DID_PARITY)",
		0x07: "internal error (DID_ERROR)", 0x08: "reset (DID_RESET)",
		0x0E: "transport disrupted (DID_TRANSPORT_DISRUPTED)", 0x0F: "transport failed (DID_TRANSPORT_FAILFAST)",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("status 0x%02x", s)
}

func scsiStatusText(s uint8) string {
	switch s {
	case 0x02:
		return "CHECK CONDITION without sense data"
	case 0x08:
		return "BUSY"
	case 0x18:
		return "RESERVATION CONFLICT"
	case 0x28:
		return "TASK SET FULL"
	case 0x30:
		return "ACA ACTIVE"
	case 0x40:
		return "TASK ABORTED"
	}
	return "unexpected"
}
