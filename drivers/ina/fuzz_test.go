package ina

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

// registerFile answers every read with the next bytes of regs (cycling),
// as a chip in an unknown state, a counterfeit or a noisy bus would: the
// fuzzer plays the chip.
type registerFile struct {
	regs []byte
	pos  int
}

func (b *registerFile) String() string                  { return "fuzz-bus" }
func (b *registerFile) SetSpeed(physic.Frequency) error { return nil }
func (b *registerFile) Tx(_ uint16, _, r []byte) error {
	for k := range r {
		if len(b.regs) == 0 {
			r[k] = 0
			continue
		}
		r[k] = b.regs[b.pos%len(b.regs)]
		b.pos++
	}
	return nil
}

// FuzzChipRegisters gives every driver register contents chosen by the
// fuzzer. Detect, New and Sense must return readings or errors, never panic
// (a division by a zero calibration read back, an index out of range).
func FuzzChipRegisters(f *testing.F) {
	f.Add(uint8(0), []byte{0x54, 0x49, 0x22, 0x60})
	f.Add(uint8(1), []byte{0xff, 0xff})
	f.Add(uint8(2), []byte{0x80, 0x00, 0x7f, 0xff})
	f.Add(uint8(3), []byte{})
	f.Add(uint8(4), []byte{0x22, 0x81, 0x00, 0x01, 0x02, 0x03, 0x04})
	f.Fuzz(func(t *testing.T, which uint8, regs []byte) {
		bus := &registerFile{regs: regs}
		_, _ = Detect(bus, 0x40)
		chip := Chips[int(which)%len(Chips)]
		o := DefaultOpts(chip)
		o.Addr = 0x40
		o.Sleep = func(time.Duration) {}
		dev, err := New(bus, chip, &o)
		if err != nil {
			return
		}
		rs := make([]Reading, dev.Channels())
		for range 3 {
			_ = dev.Sense(rs)
		}
		_ = dev.String()
	})
}
