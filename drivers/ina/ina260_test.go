package ina

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

func TestINA260Sense(t *testing.T) {
	tests := []struct {
		name                      string
		mask, current, bus, power uint16
		want                      Reading
	}{
		{name: "zero", mask: 0x0008, want: Reading{}},
		{
			// 800 × 1.25 mA = 1 A, 9600 × 1.25 mV = 12 V, 1200 × 10 mW = 12 W.
			name: "mid-scale", mask: 0x0008, current: 800, bus: 9600, power: 1200,
			want: Reading{Bus: 12 * physic.Volt, Current: physic.Ampere, Power: 12 * physic.Watt},
		},
		{
			name: "negative current", mask: 0x0008, current: 0xFCE0, bus: 9600, power: 1200,
			want: Reading{Bus: 12 * physic.Volt, Current: -physic.Ampere, Power: 12 * physic.Watt},
		},
		{
			// The 15 A rating: 12000 × 1.25 mA, 36 V: 28800 × 1.25 mV, 540 W.
			name: "full rating", mask: 0x0008, current: 12000, bus: 28800, power: 54000,
			want: Reading{Bus: 36 * physic.Volt, Current: 15 * physic.Ampere, Power: 540 * physic.Watt},
		},
		{
			name: "current register at full scale", mask: 0x0008, current: 0x8000, bus: 9600, power: 0xFFFF,
			want: Reading{Bus: 12 * physic.Volt, Current: -40960 * physic.MilliAmpere, Power: 655350 * physic.MilliWatt, Overflow: true},
		},
		{
			name: "math overflow", mask: 0x000C, current: 800, bus: 9600, power: 1200,
			want: Reading{Bus: 12 * physic.Volt, Current: physic.Ampere, Power: 12 * physic.Watt, Overflow: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := playback(t,
				w16(0x40, 0x00, 0x6127), // the power-on configuration
				r16(0x40, 0x06, tt.mask),
				r16(0x40, 0x01, tt.current),
				r16(0x40, 0x02, tt.bus),
				r16(0x40, 0x03, tt.power),
				r16(0x40, 0x00, 0x6127), // read back
			)
			d, err := NewINA260(bus, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sense1(t, d); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestINA260TimingAndHalt(t *testing.T) {
	avg, ct := TimingFor(ChipINA260, time.Second) // 64 × 8.244 ms
	o := Opts{Addr: 0x4F, Averaging: avg, BusConversion: ct, ShuntConversion: ct}
	const config = 0x6000 | 0b011<<9 | 0b111<<6 | 0b111<<3 | 0b111
	bus := playback(t, w16(0x4F, 0x00, config), w16(0x4F, 0x00, config&^0b111))
	d, err := NewINA260(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UpdatePeriod(), 1055232*time.Microsecond; got != want {
		t.Errorf("UpdatePeriod = %v, want %v", got, want)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestINA260BusErrorKeepsCause(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true}
	bus := &faultBus{Playback: pb, failAt: 0, err: syscall.ENXIO}
	_, err := NewINA260(bus, nil)
	if !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("error %v does not wrap ENXIO", err)
	}
	wantErrContains(t, err, "ina260 0x40 on playback: write configuration: ")
}
