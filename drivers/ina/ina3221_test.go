package ina

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// INA3221 codes are sign + 12 bits in bits 15:3.
func code3221(counts int) uint16 { return uint16(int16(counts) << 3) }

func TestINA3221Sense(t *testing.T) {
	// Three 100 mΩ channels, power-on configuration 7127h (all channels,
	// 1 sample, 1.1 ms, continuous).
	bus := playback(t,
		w16(0x40, 0x00, 0x7127),
		// Channel 1: 125 × 40 µV = 5 mV → 50 mA; 625 × 8 mV = 5 V → 250 mW.
		r16(0x40, 0x01, code3221(125)),
		r16(0x40, 0x02, code3221(625)),
		// Channel 2: −5 mV → −50 mA at 12 V: 600 mW (a magnitude, like the
		// power registers of the other chips).
		r16(0x40, 0x03, code3221(-125)),
		r16(0x40, 0x04, code3221(1500)),
		// Channel 3: shunt at full scale (7FF8h = 163.8 mV), bus 0.
		r16(0x40, 0x05, 0x7FF8),
		r16(0x40, 0x06, 0x0000),
		r16(0x40, 0x00, 0x7127), // read back
		// Second Sense: all zero.
		r16(0x40, 0x01, 0), r16(0x40, 0x02, 0),
		r16(0x40, 0x03, 0), r16(0x40, 0x04, 0),
		r16(0x40, 0x05, 0), r16(0x40, 0x06, 0),
		r16(0x40, 0x00, 0x7127),
	)
	d, err := NewINA3221(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Channels() != 3 || d.UpdatePeriod() != 3*2200*time.Microsecond {
		t.Errorf("Channels %d UpdatePeriod %v", d.Channels(), d.UpdatePeriod())
	}
	var r [3]Reading
	if err := d.Sense(r[:]); err != nil {
		t.Fatal(err)
	}
	want := [3]Reading{
		{Bus: 5 * physic.Volt, Shunt: 5 * physic.MilliVolt, Current: 50 * physic.MilliAmpere, Power: 250 * physic.MilliWatt},
		{Bus: 12 * physic.Volt, Shunt: -5 * physic.MilliVolt, Current: -50 * physic.MilliAmpere, Power: 600 * physic.MilliWatt},
		{Shunt: 163800 * physic.MicroVolt, Current: 1638 * physic.MilliAmpere, Overflow: true},
	}
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if err := d.Sense(r[:]); err != nil {
		t.Fatal(err)
	}
	if r != [3]Reading{} {
		t.Errorf("zero: got %+v", r)
	}
}

func TestINA3221ChannelOpts(t *testing.T) {
	// Channel 2 off, channel 3 with a 10 mΩ shunt; 4 samples of 588 µs.
	o := Opts{Addr: 0x43, Averaging: 4, BusConversion: 588 * time.Microsecond, ShuntConversion: 588 * time.Microsecond}
	o.Channels[0] = ChannelOpts{Shunt: 100 * physic.MilliOhm, MaxCurrent: physic.Ampere}
	o.Channels[1] = ChannelOpts{Disabled: true}
	o.Channels[2] = ChannelOpts{Shunt: 10 * physic.MilliOhm}
	const config = 1<<14 | 1<<12 | 0b001<<9 | 0b011<<6 | 0b011<<3 | 0b111
	bus := playback(t,
		w16(0x43, 0x00, config),
		r16(0x43, 0x01, code3221(250)), // 10 mV / 100 mΩ = 100 mA
		r16(0x43, 0x02, code3221(625)), // 5 V
		r16(0x43, 0x05, code3221(250)), // 10 mV / 10 mΩ = 1 A
		r16(0x43, 0x06, code3221(1500)),
		r16(0x43, 0x00, config),        // read back
		w16(0x43, 0x00, config&^0b111), // Halt
	)
	d, err := NewINA3221(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UpdatePeriod(), 2*2*588*4*time.Microsecond; got != want {
		t.Errorf("UpdatePeriod = %v, want %v (two channels)", got, want)
	}
	r := [3]Reading{1: {Bus: 1}} // a stale value that Sense must clear
	if err := d.Sense(r[:]); err != nil {
		t.Fatal(err)
	}
	want := [3]Reading{
		{Bus: 5 * physic.Volt, Shunt: 10 * physic.MilliVolt, Current: 100 * physic.MilliAmpere, Power: 500 * physic.MilliWatt},
		{},
		{Bus: 12 * physic.Volt, Shunt: 10 * physic.MilliVolt, Current: physic.Ampere, Power: 12 * physic.Watt},
	}
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestINA3221Triggered(t *testing.T) {
	var slept sleeps
	o := DefaultOpts(ChipINA3221)
	o.Mode = Triggered
	o.Sleep = slept.sleep
	bus := playback(t,
		w16(0x40, 0x00, 0x7123),
		w16(0x40, 0x00, 0x7123),
		r16(0x40, 0x0F, 0x0001), // CVRF
		r16(0x40, 0x01, 0), r16(0x40, 0x02, 0),
		r16(0x40, 0x03, 0), r16(0x40, 0x04, 0),
		r16(0x40, 0x05, 0), r16(0x40, 0x06, 0),
		r16(0x40, 0x00, 0x7123),
	)
	d, err := NewINA3221(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	var r [3]Reading
	if err := d.Sense(r[:]); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != 6600*time.Microsecond {
		t.Errorf("slept %v, want [6.6ms]", slept)
	}
}

func TestINA3221OptsErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Opts)
		want   []string
	}{
		{"address", func(o *Opts) { o.Addr = 0x44 }, []string{"Opts.Addr 0x44", "0x40-0x43"}},
		{"all disabled", func(o *Opts) {
			for i := range o.Channels {
				o.Channels[i].Disabled = true
			}
		}, []string{"all three channels are disabled"}},
		{"no shunt", func(o *Opts) { o.Channels[1].Shunt = 0 }, []string{"Opts.Channels[1].Shunt"}},
		{"drop", func(o *Opts) { o.Channels[2].MaxCurrent = 2 * physic.Ampere }, []string{"Opts.Channels[2].MaxCurrent 2A", "200mV", "163.800mV"}},
		{"averaging", func(o *Opts) { o.Averaging = 2 }, []string{"Opts.Averaging 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOpts(ChipINA3221)
			tt.modify(&o)
			_, err := NewINA3221(playback(t), &o)
			wantErrContains(t, err, tt.want...)
		})
	}
}

func TestINA3221BusErrorKeepsCause(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		w16(0x40, 0x00, 0x7127),
		r16(0x40, 0x01, 0), r16(0x40, 0x02, 0),
		r16(0x40, 0x03, 0),
	}}
	bus := &faultBus{Playback: pb, failAt: 4, err: syscall.EIO}
	d, err := NewINA3221(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r [3]Reading
	err = d.Sense(r[:])
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("error %v does not wrap EIO", err)
	}
	wantErrContains(t, err, "ina3221 0x40 on playback: read channel 2 bus voltage: ")
	wantErrContains(t, d.Sense(r[:2]), "room for 3 readings")
}
