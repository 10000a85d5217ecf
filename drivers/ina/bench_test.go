package ina

import (
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// senseCase is a chip opened with its defaults and the transactions of one
// continuous-mode Sense.
type senseCase struct {
	chip  Chip
	init  []i2ctest.IO
	sense []i2ctest.IO
}

func senseCases() []senseCase {
	return []senseCase{
		{ChipINA219, ina219Init, []i2ctest.IO{r16(0x40, 0x02, 0x5DC2), r16(0x40, 0x01, 0x07D0), r16(0x40, 0x04, 0x07FF), r16(0x40, 0x03, 0x04CC), r16(0x40, 0x05, 4194)}},
		// CAL 2097: 20 mV = 8000 counts → current trunc(8000·2097/2048) =
		// 8191, power trunc(8191·9584/20000) = 3925.
		{ChipINA226, []i2ctest.IO{w16(0x40, 0x05, 2097), w16(0x40, 0x00, 0x4127)},
			[]i2ctest.IO{r16(0x40, 0x06, 8), r16(0x40, 0x01, 8000), r16(0x40, 0x02, 9584), r16(0x40, 0x04, 8191), r16(0x40, 0x03, 3925), r16(0x40, 0x05, 2097)}},
		{ChipINA260, []i2ctest.IO{w16(0x40, 0x00, 0x6127)},
			[]i2ctest.IO{r16(0x40, 0x06, 8), r16(0x40, 0x01, 800), r16(0x40, 0x02, 9600), r16(0x40, 0x03, 1200), r16(0x40, 0x00, 0x6127)}},
		{ChipINA3221, []i2ctest.IO{w16(0x40, 0x00, 0x7127)},
			[]i2ctest.IO{r16(0x40, 0x01, 0x03E8), r16(0x40, 0x02, 0x1388), r16(0x40, 0x03, 0xFC18), r16(0x40, 0x04, 0x2EE0), r16(0x40, 0x05, 0), r16(0x40, 0x06, 0), r16(0x40, 0x00, 0x7127)}},
		{ChipINA228, ina228Init, ina228Read(0x0001, code20(32000), code20(61440), 3200, code20(34952), 131070, 3686400)},
	}
}

// openForSense returns the driver and a playback primed with one Sense;
// reset rewinds it for the next.
func openForSense(tb testing.TB, c senseCase) (Dev, *i2ctest.Playback) {
	tb.Helper()
	pb := &i2ctest.Playback{Ops: c.init, DontPanic: true}
	d, err := New(pb, c.chip, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pb.Ops, pb.Count = c.sense, 0
	return d, pb
}

func TestSenseDoesNotAllocate(t *testing.T) {
	for _, c := range senseCases() {
		d, pb := openForSense(t, c)
		dst := make([]Reading, d.Channels())
		allocs := testing.AllocsPerRun(100, func() {
			pb.Count = 0
			if err := d.Sense(dst); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Sense allocates %v times per call", c.chip, allocs)
		}
	}
}

func BenchmarkSense(b *testing.B) {
	for _, c := range senseCases() {
		b.Run(string(c.chip), func(b *testing.B) {
			d, pb := openForSense(b, c)
			dst := make([]Reading, d.Channels())
			b.ReportAllocs()
			for b.Loop() {
				pb.Count = 0
				if err := d.Sense(dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
