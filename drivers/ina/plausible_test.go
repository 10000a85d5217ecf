package ina

import (
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// Transcripts of one reading attempt per chip, in the driver's order.

func ina226Attempt(mask, shunt, bus, current, power uint16, rbReg byte, rb uint16) []i2ctest.IO {
	return []i2ctest.IO{r16(0x40, 0x06, mask), r16(0x40, 0x01, shunt), r16(0x40, 0x02, bus),
		r16(0x40, 0x04, current), r16(0x40, 0x03, power), r16(0x40, rbReg, rb)}
}

func ina219Attempt(bus, shunt, current, power uint16, rbReg byte, rb uint16) []i2ctest.IO {
	return []i2ctest.IO{r16(0x40, 0x02, bus), r16(0x40, 0x01, shunt), r16(0x40, 0x04, current),
		r16(0x40, 0x03, power), r16(0x40, rbReg, rb)}
}

func ina260Attempt(mask, current, bus, power, config uint16) []i2ctest.IO {
	return []i2ctest.IO{r16(0x40, 0x06, mask), r16(0x40, 0x01, current), r16(0x40, 0x02, bus),
		r16(0x40, 0x03, power), r16(0x40, 0x00, config)}
}

func ina3221Attempt(regs [6]uint16, config uint16) []i2ctest.IO {
	var ops []i2ctest.IO
	for k, v := range regs {
		ops = append(ops, r16(0x40, byte(k+1), v))
	}
	return append(ops, r16(0x40, 0x00, config))
}

// twice is a persistent fault: the re-read sees the same registers.
func twice(attempt []i2ctest.IO) []i2ctest.IO {
	return append(append([]i2ctest.IO{}, attempt...), attempt...)
}

// ina226Averaged is the datasheet example with 16 samples averaged: its
// configuration 4527h differs from the power-on 4127h, so it is what Sense
// reads back.
func ina226Averaged() Opts {
	o := datasheet226()
	o.Averaging = 16
	return o
}

// splitmix64 makes the deterministic noise of the garbage cases.
func splitmix64(x *uint64) uint16 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return uint16((z ^ (z >> 31)) >> 48)
}

// TestImplausibleReadingsAreRefused feeds each chip register values it
// cannot produce, the same on the read and on the re-read (a persistent
// fault), and expects ErrImplausible with a message naming what was wrong.
func TestImplausibleReadingsAreRefused(t *testing.T) {
	noise := uint64(1)
	g := func() uint16 { return splitmix64(&noise) }
	// The datasheet INA226 reading at 1 sample: shunt 8000, bus 9584,
	// current 10000, power 4792 with CAL 2560.
	const cal226 = 2560
	tests := []struct {
		name string
		chip Chip
		opts Opts
		init []i2ctest.IO
		ops  []i2ctest.IO
		want []string
	}{
		{
			name: "ina226 reset (configuration back at 4127h)", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			// After a brown-out: power-on configuration, CAL 0, so current
			// and power 0 whatever the shunt voltage.
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 0, 0, 0x00, 0x4127)),
			want: []string{"ina226 0x40 on playback: implausible reading: configuration reads 4127h, the chip's power-on value, not the 4527h written: the chip was reset"},
		},
		{
			name: "ina226 reset (calibration back at 0)", chip: ChipINA226, opts: datasheet226(), init: ina226Init,
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 0, 0, 0x05, 0)),
			want: []string{"calibration reads 0000h, the chip's power-on value, not the 0A00h written: the chip was reset"},
		},
		{
			name: "ina226 garbage", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			ops:  append(ina226Attempt(g(), g(), g(), g(), g(), 0x00, g()), ina226Attempt(g(), g(), g(), g(), g(), 0x00, g())...),
			want: []string{"implausible reading: configuration reads"},
		},
		{
			name: "ina226 configuration bits 14:12 not 100b", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 10000, 4792, 0x00, 0x0527)),
			want: []string{"configuration reads 0527h: bits F000h read 0000h, the chip always returns 4000h there"},
		},
		{
			name: "ina226 configuration changed", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 10000, 4792, 0x00, 0x4D27)),
			want: []string{"configuration reads 4D27h, not the 4527h written"},
		},
		{
			name: "ina226 mask/enable reserved bit", chip: ChipINA226, opts: datasheet226(), init: ina226Init,
			ops:  twice(ina226Attempt(0x0028, 8000, 9584, 10000, 4792, 0x05, cal226)),
			want: []string{"mask/enable reads 28: bits 9:5 always read 0"},
		},
		{
			name: "ina226 bus voltage bit 15", chip: ChipINA226, opts: datasheet226(), init: ina226Init,
			ops:  twice(ina226Attempt(0x0008, 8000, 0x8000|9584, 10000, 4792, 0x05, cal226)),
			want: []string{"bus voltage reads A570: bits 15 always read 0"},
		},
		{
			// 8000 × 2560/2048 = 10000, not 5000.
			name: "ina226 current against shunt × calibration", chip: ChipINA226, opts: datasheet226(), init: ina226Init,
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 5000, 2396, 0x05, cal226)),
			want: []string{"current register reads 5000, but shunt voltage 8000 × calibration 2560 / 2048 = 10000"},
		},
		{
			// One sample: the power is trunc(10000 × 9584 / 20000) = 4792
			// give or take a count.
			name: "ina226 power, one sample", chip: ChipINA226, opts: datasheet226(), init: ina226Init,
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 10000, 4800, 0x05, cal226)),
			want: []string{"power register reads 4800, but the chip's own current 10000 × bus voltage 9584 allow 4790 to 4793"},
		},
		{
			// 16 samples: the per-conversion powers average to no less
			// than half the product of the averages (a supply sagging by
			// less than half): 2394 here.
			name: "ina226 power, averaged, below half", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 10000, 2000, 0x00, 0x4527)),
			want: []string{"power register reads 2000", "allow 2394 to 16421"},
		},
		{
			// …and to no more than (10000+1+21 noise) × the largest bus
			// code 32767 / 20000 = 16421.
			name: "ina226 power, averaged, beyond full scale", chip: ChipINA226, opts: ina226Averaged(),
			init: []i2ctest.IO{w16(0x40, 0x05, cal226), w16(0x40, 0x00, 0x4527)},
			ops:  twice(ina226Attempt(0x0008, 8000, 9584, 10000, 17000, 0x00, 0x4527)),
			want: []string{"power register reads 17000", "allow 2394 to 16421"},
		},
		{
			name: "ina219 reset (calibration back at 0)", chip: ChipINA219, opts: DefaultOpts(ChipINA219), init: ina219Init,
			ops:  twice(ina219Attempt(0x5DC2, 0x07D0, 0, 0, 0x05, 0)),
			want: []string{"calibration reads 0000h, the chip's power-on value, not the 1062h written: the chip was reset"},
		},
		{
			name: "ina219 bus voltage reserved bit 2", chip: ChipINA219, opts: DefaultOpts(ChipINA219), init: ina219Init,
			ops:  twice(ina219Attempt(0x5DC6, 0x07D0, 0x07FF, 0x04CC, 0x05, 4194)),
			want: []string{"bus voltage reads 5DC6: bits 2 always read 0"},
		},
		{
			// PGA ÷1 (400 mA × 100 mΩ = 40 mV): codes are ±4096, the bits
			// above are copies of the sign.
			name: "ina219 shunt voltage not sign-extended", chip: ChipINA219,
			opts: Opts{Shunt: 100 * physic.MilliOhm, MaxCurrent: 400 * physic.MilliAmpere, BusRange: 16 * physic.Volt},
			init: []i2ctest.IO{w16(0x40, 0x05, 33554), w16(0x40, 0x00, 0x019F)},
			ops:  twice(ina219Attempt(0x5DC2, 0x2000, 0x7FFF, 0, 0x00, 0x019F)),
			want: []string{"shunt voltage reads 2000h (8192 × 10 µV): not a sign-extended code of the PGA range ±4096"},
		},
		{
			// 2047 × 3000 / 5000 = 1228.
			name: "ina219 power", chip: ChipINA219, opts: DefaultOpts(ChipINA219), init: ina219Init,
			ops:  twice(ina219Attempt(0x5DC2, 0x07D0, 0x07FF, 2456, 0x05, 4194)),
			want: []string{"power register reads 2456, but the chip's own current 2047 × bus voltage 3000 allow 1227 to 1229"},
		},
		{
			name: "ina260 reset", chip: ChipINA260, opts: Opts{Averaging: 16},
			init: []i2ctest.IO{w16(0x40, 0x00, 0x6527)},
			ops:  twice(ina260Attempt(0x0008, 800, 9600, 1200, 0x6127)),
			want: []string{"configuration reads 6127h, the chip's power-on value, not the 6527h written: the chip was reset"},
		},
		{
			name: "ina260 configuration bits 14:12 not 110b", chip: ChipINA260, opts: Opts{},
			init: []i2ctest.IO{w16(0x40, 0x00, 0x6127)},
			ops:  twice(ina260Attempt(0x0008, 800, 9600, 1200, 0x4127)),
			want: []string{"configuration reads 4127h: bits F000h read 4000h, the chip always returns 6000h there"},
		},
		{
			// 800 × 9600 / 6400 = 1200.
			name: "ina260 power", chip: ChipINA260, opts: Opts{},
			init: []i2ctest.IO{w16(0x40, 0x00, 0x6127)},
			ops:  twice(ina260Attempt(0x0008, 800, 9600, 1300, 0x6127)),
			want: []string{"power register reads 1300, but the chip's own current 800 × bus voltage 9600 allow 1198 to 1201"},
		},
		{
			name: "ina3221 reset", chip: ChipINA3221, opts: func() Opts { o := DefaultOpts(ChipINA3221); o.Averaging = 16; return o }(),
			init: []i2ctest.IO{w16(0x40, 0x00, 0x7527)},
			ops:  twice(ina3221Attempt([6]uint16{}, 0x7127)),
			want: []string{"configuration reads 7127h, the chip's power-on value, not the 7527h written: the chip was reset"},
		},
		{
			name: "ina3221 reserved bits of a result", chip: ChipINA3221, opts: DefaultOpts(ChipINA3221),
			init: []i2ctest.IO{w16(0x40, 0x00, 0x7127)},
			ops:  twice(ina3221Attempt([6]uint16{code3221(125), code3221(625), code3221(-125), code3221(1500) | 0x4, 0, 0}, 0x7127)),
			want: []string{"channel 2 bus voltage reads 2EE4: bits 2:0 always read 0"},
		},
		{
			name: "ina3221 garbage", chip: ChipINA3221, opts: DefaultOpts(ChipINA3221),
			init: []i2ctest.IO{w16(0x40, 0x00, 0x7127)},
			ops: append(ina3221Attempt([6]uint16{g(), g(), g(), g(), g(), g()}, g()),
				ina3221Attempt([6]uint16{g(), g(), g(), g(), g(), g()}, g())...),
			want: []string{"implausible reading: configuration reads"},
		},
		{
			name: "ina228 reset", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops: twice(append([]i2ctest.IO{r16(0x40, 0x0B, 0x0001)},
				ina228Results(code20(32000), code20(61440), 3200, 0, 0, 0, 0xFB68)...)),
			want: []string{"ADC configuration reads FB68h, the chip's power-on value, not the FB40h written: the chip was reset"},
		},
		{
			name: "ina228 MEMSTAT", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0000, code20(32000), code20(61440), 3200, code20(34952), 131070, 3686400)),
			want: []string{"diagnostic flags read 0000h: MEMSTAT 0"},
		},
		{
			name: "ina228 diagnostic bit 8", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0101, code20(32000), code20(61440), 3200, code20(34952), 131070, 3686400)),
			want: []string{"diagnostic flags reads 101: bits 8 always read 0"},
		},
		{
			name: "ina228 bus voltage sign", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0001, code20(32000), 0x800000|code20(61440), 3200, code20(34952), 131070, 3686400)),
			want: []string{"bus voltage reads 8F0000: bits 23 and 3:0 always read 0"},
		},
		{
			name: "ina228 shunt voltage low bits", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0001, code20(32000)|0x3, code20(61440), 3200, code20(34952), 131070, 3686400)),
			want: []string{"shunt voltage reads 7D003: bits 3:0 always read 0"},
		},
		{
			name: "ina228 die temperature", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0001, code20(32000), code20(61440), 0x7000, code20(34952), 131070, 3686400)),
			want: []string{"die temperature reads 7000h (224.0 °C)"},
		},
		{
			// 32000 × 4096 / 3750 = 34952.
			name: "ina228 current", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0001, code20(32000), code20(61440), 3200, code20(30000), 112500, 3686400)),
			want: []string{"current register reads 30000, but shunt voltage 32000 × 4096 / SHUNT_CAL 3750 = 34952"},
		},
		{
			// 34952 × 61440 / 16384 = 131070, computed from the averages
			// whatever the averaging.
			name: "ina228 power", chip: ChipINA228, opts: DefaultOpts(ChipINA228), init: ina228Init,
			ops:  twice(ina228Read(0x0001, code20(32000), code20(61440), 3200, code20(34952), 131100, 3686400)),
			want: []string{"power register reads 131100, but the chip's own current 34952 × bus voltage 61440 allow 131063 to 131076"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			d, err := New(playback(t, append(tt.init[:len(tt.init):len(tt.init)], tt.ops...)...), tt.chip, &o)
			if err != nil {
				t.Fatal(err)
			}
			r := make([]Reading, d.Channels())
			err = d.Sense(r)
			if !errors.Is(err, ErrImplausible) {
				t.Fatalf("Sense = %v, want ErrImplausible", err)
			}
			wantErrContains(t, err, tt.want...)
			for _, x := range r {
				if x != (Reading{}) {
					t.Errorf("a refused reading was written to dst: %v", r)
				}
			}
		})
	}
}

// TestPlausibleAveragedPower: an averaged INA226 result whose power is off
// the product of its averages within the per-conversion bounds is accepted:
// a window where the rail switched on (power ≈ 3 × the product) and one
// with a sagging supply (power ≈ 0.6 × the product).
func TestPlausibleAveragedPower(t *testing.T) {
	for _, power := range []uint16{14000, 2900} {
		o := ina226Averaged()
		d, err := NewINA226(playback(t, append([]i2ctest.IO{w16(0x40, 0x05, 2560), w16(0x40, 0x00, 0x4527)},
			ina226Attempt(0x0008, 8000, 9584, 10000, power, 0x00, 0x4527)...)...), &o)
		if err != nil {
			t.Fatal(err)
		}
		if r := sense1(t, d); r.Power != physic.Power(power)*25*physic.MilliWatt {
			t.Errorf("power %d read as %v", power, r.Power)
		}
	}
}

// TestGlitchIsReRead: one corrupted transfer (the power register) fails the
// check; the re-read finds the registers consistent and Sense returns them.
func TestGlitchIsReRead(t *testing.T) {
	o := datasheet226()
	ops := append(ina226Init[:2:2], ina226Attempt(0x0008, 8000, 9584, 10000, 0xB7C3, 0x05, 2560)...)
	ops = append(ops, ina226Attempt(0x0008, 8000, 9584, 10000, 4792, 0x05, 2560)...)
	d, err := NewINA226(playback(t, ops...), &o)
	if err != nil {
		t.Fatal(err)
	}
	if got := sense1(t, d); got.Power != 119800*physic.MilliWatt || got.Current != 10*physic.Ampere {
		t.Errorf("after the re-read: %v, want the datasheet reading", got)
	}
}

// TestINA228WrapNotFromNoise: an ENERGYOF flag counts a 2^40 wrap only when
// ENERGY went below its last value; a flag read through noise on an
// otherwise good reading adds nothing, and a flag seen on a refused first
// read (whose ENERGY read cleared it) still counts on the re-read.
func TestINA228WrapNotFromNoise(t *testing.T) {
	good := func(diag uint16, energy uint64) []i2ctest.IO {
		return ina228Read(diag, code20(32000), code20(61440), 3200, code20(34952), 131070, energy)
	}
	ops := append(ina228Init[:3:3], good(0x0001, 0x1000)...)
	ops = append(ops, good(0x0801, 0x2000)...) // ENERGYOF, but ENERGY grew: noise
	// ENERGYOF with a corrupted power read: refused, re-read without the
	// flag (reading ENERGY cleared it), ENERGY below its last value: a wrap.
	ops = append(ops, ina228Read(0x0801, code20(32000), code20(61440), 3200, code20(34952), 5, 0x100)...)
	ops = append(ops, good(0x0001, 0x180)...)
	d, err := NewINA228(playback(t, ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	lsb := physic.Energy(976562500) // 16 × 3.2 × 10 A / 2^19 = 976.5625 µJ, in pJ
	e := func() physic.Energy { return sense1(t, d).Energy }
	if got, want := e(), 0x1000*lsb/1000; got != want {
		t.Errorf("first: %d nJ, want %d", got, want)
	}
	if got, want := e(), 0x2000*lsb/1000; got != want {
		t.Errorf("a noisy ENERGYOF counted: %d nJ, want %d", got, want)
	}
	if got, want := e(), ((1<<40)+0x180)*(lsb/1000)+((1<<40)+0x180)*(lsb%1000)/1000; got != want {
		t.Errorf("a wrap seen on the refused read: %d nJ, want %d", got, want)
	}
}

// perConversion is an INA219/INA226/INA260 computing one averaged result
// the way the datasheets describe it (SBOS547 §7.3.1): each conversion's
// current is shunt·CAL/den and its power |current|·bus/div, both truncated,
// and the registers hold the truncated means of the shunt voltages, bus
// voltages, currents and powers.
type perConversion struct {
	cal, den, div int64
}

func (m perConversion) result(shunt, bus []int64) (s, v, i, p int64) {
	var ss, sv, si, sp int64
	for k := range shunt {
		ik := shunt[k] * m.cal / m.den
		ss += shunt[k]
		sv += bus[k]
		si += ik
		sp += absInt(ik) * bus[k] / m.div
	}
	n := int64(len(shunt))
	return ss / n, sv / n, si / n, sp / n
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestPowerBoundsHoldPerConversion checks the powerModel bounds against the
// datasheet's per-conversion arithmetic for the loads the bounds are meant
// for — a rail switched on or off within the window, a supply sagging by up
// to half under steps between no load and the chip's full scale, a current
// hovering around zero — and shows the one kind of window refused: the
// inrush of a rail switched on, high current at a low voltage.
func TestPowerBoundsHoldPerConversion(t *testing.T) {
	const n = 1024
	seed := uint64(7)
	rnd := func(k int64) int64 { return int64(splitmix64(&seed)) % k }
	// The drivers' own models, as New builds them for 16 samples averaged.
	open := func(c Chip, mod func(*Opts)) Dev {
		o := DefaultOpts(c)
		o.Averaging = 16
		if mod != nil {
			mod(&o)
		}
		d, err := New(&registerFile{}, c, &o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d226 := open(ChipINA226, func(o *Opts) { *o = ina226Averaged() }).(*INA226)
	d226def := open(ChipINA226, nil).(*INA226)
	d219 := open(ChipINA219, nil).(*INA219)
	d260 := open(ChipINA260, nil).(*INA260)
	chips := []struct {
		name string
		m    perConversion
		pm   powerModel
		fs   int64 // shunt counts at full scale
		vs   int64 // supply, bus counts
	}{
		{"ina226 CAL 2560 at 12 V", perConversion{d226.curM.num, d226.curM.den, 20000}, d226.powM, 26000, 9600},
		{"ina226 CAL 2097 at 5 V", perConversion{d226def.curM.num, d226def.curM.den, 20000}, d226def.powM, 32000, 4000},
		{"ina219 CAL 4194 at 5 V", perConversion{d219.curM.num, d219.curM.den, 5000}, d219.powM, 32000, 1250},
		{"ina260 at 12 V", perConversion{2048, 2048, 6400}, d260.powM, 12000, 9600},
	}
	for _, c := range chips {
		if c.pm.kind != powerAveraged || c.pm.div != uint64(c.m.div) {
			t.Fatalf("%s: the driver's power model %+v is not the averaged one of divisor %d", c.name, c.pm, c.m.div)
		}
	}
	loads := []struct {
		name   string
		refuse bool
		fill   func(shunt, bus []int64, fs, vs int64)
	}{
		{"steady", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				sh[k], b[k] = fs/3, vs
			}
		}},
		{"steps from no load to full scale, supply sagging by half at full scale", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				sh[k] = fs * int64(k/64%2)
				if k%128 > 100 {
					sh[k] = rnd(fs + 1)
				}
				b[k] = vs - vs*sh[k]/fs/2
			}
		}},
		{"random load, supply sagging by up to half", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				sh[k] = rnd(fs + 1)
				b[k] = vs - vs*sh[k]/fs/2
			}
		}},
		{"rail switched on at 90 %", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				if k > n*9/10 {
					sh[k], b[k] = fs, vs
				}
			}
		}},
		{"rail switched off at 5 %", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				if k < n/20 {
					sh[k], b[k] = fs/2, vs
				}
			}
		}},
		{"current around zero", false, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				sh[k], b[k] = rnd(13)-6, vs
			}
		}},
		{"inrush: a rail rising at full-scale current, then a light load", true, func(sh, b []int64, fs, vs int64) {
			for k := range sh {
				if k < n/4 {
					sh[k], b[k] = fs, vs*int64(k)/int64(n/4)/4
				} else {
					sh[k], b[k] = fs/40, vs
				}
			}
		}},
	}
	for _, c := range chips {
		for _, l := range loads {
			sh, b := make([]int64, n), make([]int64, n)
			l.fill(sh, b, c.fs, c.vs)
			s, v, i, p := c.m.result(sh, b)
			err := c.pm.check(&regs{name: c.name}, uint64(p), absCode(i), uint64(v))
			lo, hi := c.pm.bounds(absCode(i), uint64(v))
			t.Logf("%s, %s: shunt %d bus %d current %d power %d, bounds %d…%d", c.name, l.name, s, v, i, p, lo/c.pm.div, hi/c.pm.div)
			if l.refuse && err == nil {
				t.Errorf("%s, %s: accepted, want refused", c.name, l.name)
			}
			if !l.refuse && err != nil {
				t.Errorf("%s, %s: %v", c.name, l.name, err)
			}
		}
		// One conversion per result: the registers are the conversion's
		// own values, so any power but the truncated product is refused.
		one := c.pm
		one.kind = powerOneConversion
		for range 1000 {
			sh, bus := rnd(c.fs+1), rnd(c.vs+1)
			_, v, i, p := c.m.result([]int64{sh}, []int64{bus})
			if err := one.check(&regs{name: c.name}, uint64(p), absCode(i), uint64(v)); err != nil {
				t.Fatalf("%s, one conversion: %v", c.name, err)
			}
			if err := one.check(&regs{name: c.name}, uint64(p+2), absCode(i), uint64(v)); err == nil && p > 0 {
				t.Fatalf("%s, one conversion: power %d+2 for %d × %d accepted", c.name, p, i, v)
			}
		}
	}
}

// TestRefusedErrorSaysWhere: the error of a refused reading names the chip
// and wraps ErrImplausible without hiding it behind another cause.
func TestRefusedErrorSaysWhere(t *testing.T) {
	o := DefaultOpts(ChipINA260)
	o.Sleep = func(time.Duration) {}
	d, err := NewINA260(playback(t, append([]i2ctest.IO{w16(0x40, 0x00, 0x6127)}, twice(ina260Attempt(0x0008, 800, 9600, 1200, 0x6527))...)...), &o)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Sense(make([]Reading, 1))
	if !errors.Is(err, ErrImplausible) || !strings.HasPrefix(err.Error(), "ina260 0x40 on playback: implausible reading: ") {
		t.Errorf("error %q", err)
	}
}
