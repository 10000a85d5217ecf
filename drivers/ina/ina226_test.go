package ina

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// The INA226 datasheet example (SBOS547 §6.5.2, Table 1): 2 mΩ shunt, 10 A
// maximum, Current_LSB rounded up to 1 mA: CAL = 0.00512/(0.001·0.002) = 2560
// (0A00h). Shunt 8000 (20 mV), bus 9584 (11.98 V), current 10000 (10 A),
// power 4792 × 25 mW = 119.8 W.
func datasheet226() Opts {
	o := DefaultOpts(ChipINA226)
	o.Shunt = 2 * physic.MilliOhm
	o.MaxCurrent = 10 * physic.Ampere
	o.CurrentLSB = physic.MilliAmpere
	return o
}

var ina226Init = []i2ctest.IO{
	{Addr: 0x40, W: []byte{0x05, 0x0A, 0x00}}, // CAL 2560
	{Addr: 0x40, W: []byte{0x00, 0x41, 0x27}}, // 1 sample, 1.1 ms, continuous: the power-on 4127h
}

func TestINA226Datasheet(t *testing.T) {
	tests := []struct {
		name                             string
		mask, shunt, bus, current, power uint16
		want                             Reading
	}{
		{name: "zero", mask: 0x0008, want: Reading{}},
		{
			name: "datasheet example", mask: 0x0008, shunt: 8000, bus: 9584, current: 10000, power: 4792,
			want: Reading{Bus: 11980 * physic.MilliVolt, Shunt: 20 * physic.MilliVolt,
				Current: 10 * physic.Ampere, Power: 119800 * physic.MilliWatt},
		},
		{
			name: "negative current", mask: 0x0008, shunt: 0xE0C0, bus: 9584, current: 0xD8F0, power: 4792,
			want: Reading{Bus: 11980 * physic.MilliVolt, Shunt: -20 * physic.MilliVolt,
				Current: -10 * physic.Ampere, Power: 119800 * physic.MilliWatt},
		},
		{
			// 81.9175 mV: the largest shunt code, the ADC is at full scale.
			name: "shunt full scale", mask: 0x0008, shunt: 0x7FFF, bus: 9584, current: 0x7FFF, power: 0x3AC7,
			want: Reading{Bus: 11980 * physic.MilliVolt, Shunt: 81917500 * physic.NanoVolt,
				Current: 32767 * physic.MilliAmpere, Power: 0x3AC7 * 25 * physic.MilliWatt, Overflow: true},
		},
		{
			// OVF (bit 2): the power calculation overflowed; values kept.
			name: "math overflow", mask: 0x000C, shunt: 8000, bus: 9584, current: 10000, power: 0xFFFF,
			want: Reading{Bus: 11980 * physic.MilliVolt, Shunt: 20 * physic.MilliVolt,
				Current: 10 * physic.Ampere, Power: 0xFFFF * 25 * physic.MilliWatt, Overflow: true},
		},
		{
			name: "bus full scale", mask: 0x0008, bus: 0x7FFF,
			want: Reading{Bus: 40958750 * physic.MicroVolt, Overflow: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := datasheet226()
			bus := playback(t, append(ina226Init[:2:2],
				r16(0x40, 0x06, tt.mask),
				r16(0x40, 0x01, tt.shunt),
				r16(0x40, 0x02, tt.bus),
				r16(0x40, 0x04, tt.current),
				r16(0x40, 0x03, tt.power),
				// The configuration written is the power-on 4127h: the
				// calibration is what tells this chip from a reset one.
				r16(0x40, 0x05, 2560),
			)...)
			d, err := NewINA226(bus, &o)
			if err != nil {
				t.Fatal(err)
			}
			if got := sense1(t, d); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestINA226Calibration(t *testing.T) {
	tests := []struct {
		name           string
		opts           Opts
		cal            uint16
		shunt, current uint16
		want           physic.ElectricCurrent
	}{
		{
			// The common 0.1 Ω module with a 25 µA LSB: CAL = 0.00512/(25e-6·0.1) = 2048.
			// 80 mV = 32000 × 2.5 µV; current 32000 × 2048/2048.
			name: "module 25 µA LSB", opts: Opts{Shunt: 100 * physic.MilliOhm, MaxCurrent: 800 * physic.MilliAmpere, CurrentLSB: 25 * physic.MicroAmpere},
			cal: 2048, shunt: 32000, current: 32000, want: 800 * physic.MilliAmpere,
		},
		{
			// Derived LSB: CAL = trunc(0.00512·2^15/(10·0.002)) = 8388, so
			// Current_LSB = 0.00512/(8388·0.002) = 305.198 µA ≥ 10 A/2^15.
			// 20 mV = 8000 counts: current trunc(8000 × 8388/2048) = 32765.
			name: "derived from MaxCurrent", opts: Opts{Shunt: 2 * physic.MilliOhm, MaxCurrent: 10 * physic.Ampere},
			cal: 8388, shunt: 8000, current: 32765, want: 9999809251 * physic.NanoAmpere,
		},
		{
			// Defaults: 100 mΩ, 0.8 A: CAL = trunc(167.77216/0.08) = 2097.
			name: "defaults", opts: Opts{Shunt: 100 * physic.MilliOhm, MaxCurrent: 800 * physic.MilliAmpere},
			cal: 2097, current: 0, want: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := playback(t,
				w16(0x40, 0x05, tt.cal),
				w16(0x40, 0x00, 0x4127),
				r16(0x40, 0x06, 0),
				r16(0x40, 0x01, tt.shunt),
				r16(0x40, 0x02, 0), // 0 V: no power
				r16(0x40, 0x04, tt.current),
				r16(0x40, 0x03, 0),
				r16(0x40, 0x05, tt.cal),
			)
			d, err := NewINA226(bus, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := sense1(t, d).Current; got != tt.want {
				t.Errorf("current = %v (%d nA), want %v (%d nA)", got, int64(got), tt.want, int64(tt.want))
			}
		})
	}
}

func TestINA230And231(t *testing.T) {
	for _, c := range []Chip{ChipINA230, ChipINA231} {
		t.Run(string(c), func(t *testing.T) {
			o := datasheet226()
			o.Addr = 0x41
			bus := playback(t, w16(0x41, 0x05, 2560), w16(0x41, 0x00, 0x4127))
			d, err := New(bus, c, &o)
			if err != nil {
				t.Fatal(err)
			}
			if d.Chip() != c || d.String() != string(c)+" 0x41 on playback" {
				t.Errorf("Chip %q String %q", d.Chip(), d)
			}
		})
	}
}

func TestINA226OptsErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Opts)
		want   []string
	}{
		{"drop beyond 81.92 mV", func(o *Opts) { o.Shunt = 100 * physic.MilliOhm; o.CurrentLSB = 0 }, []string{"Opts.MaxCurrent 10A", "Opts.Shunt 100mΩ", "1V", "81.920mV"}},
		{"averaging", func(o *Opts) { o.Averaging = 3 }, []string{"Opts.Averaging 3", "[1 4 16 64 128 256 512 1024]"}},
		{"bus conversion", func(o *Opts) { o.BusConversion = time.Millisecond }, []string{"Opts.BusConversion 1ms"}},
		{"shunt conversion", func(o *Opts) { o.ShuntConversion = 1052 * time.Microsecond }, []string{"Opts.ShuntConversion 1.052ms"}},
		{"LSB too small for MaxCurrent", func(o *Opts) { o.CurrentLSB = 100 * physic.MicroAmpere }, []string{"Opts.CurrentLSB 100µA", "Opts.MaxCurrent 10A"}},
		{"calibration beyond 15 bits", func(o *Opts) {
			o.Shunt, o.MaxCurrent, o.CurrentLSB = 100*physic.MilliOhm, 10*physic.MilliAmpere, physic.MicroAmpere
		}, []string{"calibration 51200", "exceeds the register maximum 32767"}},
		{"LSB too coarse", func(o *Opts) { o.CurrentLSB = 5 * physic.Ampere }, []string{"rounds to 0"}},
		{"negative LSB", func(o *Opts) { o.CurrentLSB = -1 }, []string{"Opts.CurrentLSB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := datasheet226()
			tt.modify(&o)
			_, err := NewINA226(playback(t), &o)
			wantErrContains(t, err, tt.want...)
		})
	}
}

func TestINA226Triggered(t *testing.T) {
	var slept sleeps
	o := datasheet226()
	o.Mode = Triggered
	o.Averaging, o.BusConversion, o.ShuntConversion = 16, 588*time.Microsecond, 588*time.Microsecond
	o.Sleep = slept.sleep
	// AVG 16 = 010b, 588 µs = 011b: 4000h | 010b<<9 | 011b<<6 | 011b<<3 | 011b.
	const config = 0x4000 | 0b010<<9 | 0b011<<6 | 0b011<<3 | 0b011
	bus := playback(t,
		w16(0x40, 0x05, 2560),
		w16(0x40, 0x00, config),
		w16(0x40, 0x00, config),
		r16(0x40, 0x06, 0x0000),
		r16(0x40, 0x06, 0x0008), // CVRF
		r16(0x40, 0x01, 8000),
		r16(0x40, 0x02, 9584),
		r16(0x40, 0x04, 10000),
		r16(0x40, 0x03, 4792),
		r16(0x40, 0x00, config),        // not the power-on value: read back
		w16(0x40, 0x00, config&^0b111), // Halt
	)
	d, err := NewINA226(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UpdatePeriod(), 2*588*16*time.Microsecond; got != want {
		t.Errorf("UpdatePeriod = %v, want %v", got, want)
	}
	if got := sense1(t, d); got.Power != 119800*physic.MilliWatt || got.Overflow {
		t.Errorf("got %+v", got)
	}
	if want := []time.Duration{18816 * time.Microsecond, 1176 * time.Microsecond}; len(slept) != 2 || slept[0] != want[0] || slept[1] != want[1] {
		t.Errorf("slept %v, want %v", slept, want)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestINA226BusErrorKeepsCause(t *testing.T) {
	o := datasheet226()
	pb := &i2ctest.Playback{DontPanic: true, Ops: append(ina226Init[:2:2], r16(0x40, 0x06, 0x0008), r16(0x40, 0x01, 8000))}
	bus := &faultBus{Playback: pb, failAt: 4, err: syscall.EREMOTEIO}
	d, err := NewINA226(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	var r [1]Reading
	err = d.Sense(r[:])
	if !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("error %v does not wrap EREMOTEIO", err)
	}
	wantErrContains(t, err, "ina226 0x40 on playback: read bus voltage: remote I/O error")
}
