package ina

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/i2c"
)

// ID registers and values (INA228 at 3Eh/3Fh, the others at FEh/FFh).
const (
	regManufacturerID228 = 0x3E
	regDeviceID228       = 0x3F
	regManufacturerID    = 0xFE
	regDieID             = 0xFF

	idTI      = 0x5449 // "TI"
	die226    = 0x2260
	die3221   = 0x3220
	die260    = 0x227 // bits 15:4; bits 3:0 are the revision
	device228 = 0x228 // bits 15:4; bits 3:0 are the revision
	config219 = ina219ConfigPOR
	reset219  = ina219Reset
	firstAddr = 0x40
	lastAddr  = 0x4F
)

// Detect identifies the chip at addr from its ID registers and writes nothing
// but register pointers: MANUFACTURER_ID/DEVICE_ID at 3Eh/3Fh first
// (INA228: 5449h/228xh), then Manufacturer/Die ID at FEh/FFh (INA226: 2260h,
// INA260: 227xh, INA3221: 3220h).
//
// A bus error on the first read (typically a NACK: nothing at addr) is
// returned wrapped. A device that answers without a known ID gives an error
// wrapping ErrNotIdentified: it may be an INA219, INA230 or INA231, which have
// no ID registers, or something else entirely. See DetectReset.
func Detect(bus i2c.Bus, addr uint16) (Chip, error) {
	c, _, err := detect(bus, addr, false)
	return c, err
}

// DetectReset is Detect followed, for a device without a known ID, by the
// INA219 check: it writes RST (8000h) to register 00h and expects the 399Fh
// power-on configuration back. Only call it on an address where nothing else
// can live: the reset write means something else to another chip (an HTU21 or
// HDC1000 also answers at 0x40).
func DetectReset(bus i2c.Bus, addr uint16) (Chip, error) {
	c, _, err := detect(bus, addr, true)
	return c, err
}

// detect implements Detect and DetectReset; answered reports whether the
// first read went through, i.e. whether anything is at addr.
func detect(bus i2c.Bus, addr uint16, reset bool) (chip Chip, answered bool, err error) {
	d := &regs{bus: bus, addr: addr, name: fmt.Sprintf("detect %#02x on %s", addr, bus)}
	mfr, err := d.read16(regManufacturerID228, "manufacturer ID (3Eh)")
	if err != nil {
		return "", false, err
	}
	chip, err = identify(d, mfr, reset)
	return chip, true, err
}

func identify(d *regs, mfr uint16, reset bool) (Chip, error) {
	if mfr == idTI {
		dev, err := d.read16(regDeviceID228, "device ID (3Fh)")
		if err != nil {
			return "", err
		}
		if dev>>4 == device228 {
			return ChipINA228, nil
		}
	}
	mfr2, err := d.read16(regManufacturerID, "manufacturer ID (FEh)")
	if err != nil {
		return "", err
	}
	die, err := d.read16(regDieID, "die ID (FFh)")
	if err != nil {
		return "", err
	}
	if mfr2 == idTI {
		switch {
		case die == die226:
			return ChipINA226, nil
		case die == die3221:
			return ChipINA3221, nil
		case die>>4 == die260:
			return ChipINA260, nil
		}
	}
	if reset {
		if err := d.write16(ina219RegConfig, reset219, "INA219 reset"); err != nil {
			return "", err
		}
		config, err := d.read16(ina219RegConfig, "INA219 configuration")
		if err != nil {
			return "", err
		}
		if config == config219 {
			return ChipINA219, nil
		}
		return "", fmt.Errorf("%s: IDs 3Eh=%04Xh FEh=%04Xh FFh=%04Xh, configuration after reset %04Xh (INA219: %04Xh): %w",
			d.name, mfr, mfr2, die, config, config219, ErrNotIdentified)
	}
	return "", fmt.Errorf("%s: IDs 3Eh=%04Xh FEh=%04Xh FFh=%04Xh: %w", d.name, mfr, mfr2, die, ErrNotIdentified)
}

// Found is one device that answered Scan.
type Found struct {
	Addr uint16
	// Chip is the chip its ID registers name, or "" for a device without a
	// known ID (maybe an INA219, INA230 or INA231; see DetectReset).
	Chip Chip
}

func (f Found) String() string {
	if f.Chip == "" {
		return fmt.Sprintf("%#02x: unidentified", f.Addr)
	}
	return fmt.Sprintf("%#02x: %s", f.Addr, f.Chip)
}

// Scan runs Detect at every address from 0x40 to 0x4F, where the family
// lives. On the bus that is, per address, one write of the register pointer
// 3Eh followed by a 2-byte read; for a device that answers, up to three more
// such reads (3Fh, FEh, FFh). It writes no register: a device that answers
// without a known ID is listed with an empty Chip. An address whose first read
// fails is taken as empty (a NACK is the normal answer of an empty address,
// and Linux i2c-dev reports it as an error). A device that answers and then
// fails a later read is left out, and its error is returned with the others
// (errors.Join) next to the devices found. An address for which skip (when
// not nil) returns true is not touched at all: one a kernel driver owns,
// say.
func Scan(bus i2c.Bus, skip func(addr uint16) bool) ([]Found, error) {
	var found []Found
	var errs []error
	for addr := uint16(firstAddr); addr <= lastAddr; addr++ {
		if skip != nil && skip(addr) {
			continue
		}
		chip, answered, err := detect(bus, addr, false)
		switch {
		case !answered:
		case err == nil:
			found = append(found, Found{Addr: addr, Chip: chip})
		case errors.Is(err, ErrNotIdentified):
			found = append(found, Found{Addr: addr})
		default:
			errs = append(errs, err)
		}
	}
	return found, errors.Join(errs...)
}
