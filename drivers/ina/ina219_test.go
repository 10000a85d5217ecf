package ina

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// Default INA219 options: 100 mΩ, 3.2 A, 32 V. 3.2 A × 100 mΩ = 320 mV picks
// PGA ÷8. CAL = trunc(0.04096·2^15/(3.2·0.1)) = 4194 (even, 1062h); the
// configuration is then exactly the power-on 399Fh (32 V, ÷8, 12-bit, both
// continuous). Current_LSB = 0.04096/(4194·0.1) = 97.663 µA.
var ina219Init = []i2ctest.IO{
	{Addr: 0x40, W: []byte{0x05, 0x10, 0x62}}, // calibration 4194
	{Addr: 0x40, W: []byte{0x00, 0x39, 0x9F}}, // configuration
}

func TestINA219Sense(t *testing.T) {
	tests := []struct {
		name                      string
		bus, shunt, current, powr uint16
		want                      Reading
	}{
		{
			name: "zero",
			want: Reading{},
		},
		{
			// 12 V (3000 << 3, CNVR set), 20 mV, current 2000·4194/4096 = 2047,
			// power 2047·3000/5000 = 1228.
			name: "mid-scale", bus: 0x5DC2, shunt: 0x07D0, current: 0x07FF, powr: 0x04CC,
			want: Reading{Bus: 12 * physic.Volt, Shunt: 20 * physic.MilliVolt,
				Current: 199916834 * physic.NanoAmpere, Power: 2398611350 * physic.NanoWatt},
		},
		{
			name: "negative current", bus: 0x5DC2, shunt: 0xF830, current: 0xF801, powr: 0x04CC,
			want: Reading{Bus: 12 * physic.Volt, Shunt: -20 * physic.MilliVolt,
				Current: -199916834 * physic.NanoAmpere, Power: 2398611350 * physic.NanoWatt},
		},
		{
			// 320 mV is the ÷8 full scale: flagged, values kept. Current
			// 32000·4194/4096 = 32765, power 32765·3000/5000 = 19659.
			name: "shunt full scale", bus: 0x5DC2, shunt: 0x7D00, current: 0x7FFD, powr: 0x4CCB,
			want: Reading{Bus: 12 * physic.Volt, Shunt: 320 * physic.MilliVolt,
				Current: 3199938960 * physic.NanoAmpere, Power: 38399267525 * physic.NanoWatt, Overflow: true},
		},
		{
			// OVF: the current/power calculation overflowed. The readings are
			// still what the chip holds.
			name: "math overflow", bus: 0x5DC3, shunt: 0x07D0, current: 0x07FF, powr: 0x04CC,
			want: Reading{Bus: 12 * physic.Volt, Shunt: 20 * physic.MilliVolt,
				Current: 199916834 * physic.NanoAmpere, Power: 2398611350 * physic.NanoWatt, Overflow: true},
		},
		{
			// 26 V: the top of the input range, 6500 << 3.
			name: "bus 26 V", bus: 6500 << 3,
			want: Reading{Bus: 26 * physic.Volt},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := playback(t, append(ina219Init[:2:2],
				r16(0x40, 0x02, tt.bus),
				r16(0x40, 0x01, tt.shunt),
				r16(0x40, 0x04, tt.current),
				r16(0x40, 0x03, tt.powr),
				// The configuration is the power-on 399Fh: the calibration
				// is what tells this chip from a reset one.
				r16(0x40, 0x05, 4194),
			)...)
			d, err := NewINA219(bus, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sense1(t, d); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestINA219Opts(t *testing.T) {
	// 400 mA × 100 mΩ = 40 mV: PGA ÷1. 16 V range. CAL = trunc(0.04096·2^15/0.04)
	// = 33554 (8312h, already even). 128 samples each: BADC = SADC = 1111b.
	bus := playback(t,
		w16(0x45, 0x05, 33554),
		w16(0x45, 0x00, 0<<13|0<<11|0b1111<<7|0b1111<<3|0b111),
		r16(0x45, 0x02, 5000<<3|0b10),
		r16(0x45, 0x01, 4000),   // 40 mV: full scale at ÷1
		r16(0x45, 0x04, 0x7FFF), // 4000·33554/4096 = 32767
		r16(0x45, 0x03, 0),
		r16(0x45, 0x00, 0b1111<<7|0b1111<<3|0b111), // read back
	)
	o := Opts{Addr: 0x45, Shunt: 100 * physic.MilliOhm, MaxCurrent: 400 * physic.MilliAmpere,
		BusRange: 16 * physic.Volt, Averaging: 128, BusConversion: 532 * time.Microsecond, ShuntConversion: 532 * time.Microsecond}
	d, err := NewINA219(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UpdatePeriod(), 2*68100*time.Microsecond; got != want {
		t.Errorf("UpdatePeriod = %v, want %v", got, want)
	}
	if got, want := d.String(), "ina219 0x45 on playback"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	r := sense1(t, d)
	if !r.Overflow || r.Shunt != 40*physic.MilliVolt || r.Bus != 20*physic.Volt {
		t.Errorf("got %+v, want 20 V, 40 mV flagged as full scale", r)
	}
}

func TestINA219OptsErrors(t *testing.T) {
	base := DefaultOpts(ChipINA219)
	tests := []struct {
		name   string
		modify func(o *Opts)
		want   []string
	}{
		{"drop beyond 320 mV", func(o *Opts) { o.MaxCurrent = 4 * physic.Ampere }, []string{"Opts.MaxCurrent 4A", "Opts.Shunt 100mΩ", "400mV", "320mV"}},
		{"drop beyond chosen PGA", func(o *Opts) { o.ShuntRange = 160 * physic.MilliVolt }, []string{"exceeds Opts.ShuntRange 160mV"}},
		{"no such PGA", func(o *Opts) { o.ShuntRange = 100 * physic.MilliVolt }, []string{"Opts.ShuntRange 100mV"}},
		{"bus range", func(o *Opts) { o.BusRange = 26 * physic.Volt }, []string{"Opts.BusRange 26V"}},
		{"averaging at 9 bits", func(o *Opts) { o.Averaging = 4; o.BusConversion = 84 * time.Microsecond }, []string{"Opts.Averaging 4", "Opts.BusConversion 84µs"}},
		{"no shunt", func(o *Opts) { o.Shunt = 0 }, []string{"Opts.Shunt"}},
		{"no max current", func(o *Opts) { o.MaxCurrent = 0 }, []string{"Opts.MaxCurrent"}},
		{"calibration too large", func(o *Opts) { o.Shunt = physic.MilliOhm; o.MaxCurrent = 100 * physic.MilliAmpere }, []string{"calibration", "exceeds the register maximum 65534"}},
		{"address", func(o *Opts) { o.Addr = 0x50 }, []string{"Opts.Addr 0x50"}},
		{"mode", func(o *Opts) { o.Mode = 7 }, []string{"Opts.Mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.modify(&o)
			// No transaction is expected: validation happens before any write.
			_, err := NewINA219(playback(t), &o)
			wantErrContains(t, err, tt.want...)
		})
	}
}

func TestINA219TriggeredAndHalt(t *testing.T) {
	var slept sleeps
	o := DefaultOpts(ChipINA219)
	o.Mode = Triggered
	o.Sleep = slept.sleep
	bus := playback(t,
		w16(0x40, 0x05, 4194),
		w16(0x40, 0x00, 0x399B), // shunt and bus, triggered
		// Sense: trigger, wait one period, CNVR not yet set, wait a step, set.
		w16(0x40, 0x00, 0x399B),
		r16(0x40, 0x02, 0x5DC0),
		r16(0x40, 0x02, 0x5DC2),
		r16(0x40, 0x01, 0x07D0),
		r16(0x40, 0x04, 0x07FF),
		r16(0x40, 0x03, 0x04CC),
		r16(0x40, 0x00, 0x399B), // read back
		// Halt: MODE = 000.
		w16(0x40, 0x00, 0x3998),
	)
	d, err := NewINA219(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	r := sense1(t, d)
	if r.Bus != 12*physic.Volt || r.Current != 199916834*physic.NanoAmpere {
		t.Errorf("got %+v", r)
	}
	period := 1064 * time.Microsecond
	if len(slept) != 2 || slept[0] != period || slept[1] != period/16 {
		t.Errorf("slept %v, want [%v %v]", slept, period, period/16)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestINA219HaltThenSense(t *testing.T) {
	var slept sleeps
	o := DefaultOpts(ChipINA219)
	o.Sleep = slept.sleep
	bus := playback(t,
		w16(0x40, 0x05, 4194),
		w16(0x40, 0x00, 0x399F),
		w16(0x40, 0x00, 0x3998), // Halt
		// Sense after Halt: continuous mode back on, then wait for CNVR.
		w16(0x40, 0x00, 0x399F),
		r16(0x40, 0x02, 0x5DC2),
		r16(0x40, 0x01, 0),
		r16(0x40, 0x04, 0),
		r16(0x40, 0x03, 0),
		r16(0x40, 0x05, 4194),
		// Then plain continuous reads again.
		r16(0x40, 0x02, 0x5DC2),
		r16(0x40, 0x01, 0),
		r16(0x40, 0x04, 0),
		r16(0x40, 0x03, 0),
		r16(0x40, 0x05, 4194),
	)
	d, err := NewINA219(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	sense1(t, d)
	sense1(t, d)
	if len(slept) != 1 {
		t.Errorf("slept %v, want one wait for the restart", slept)
	}
}

func TestINA219NeverReady(t *testing.T) {
	var slept sleeps
	o := DefaultOpts(ChipINA219)
	o.Mode = Triggered
	o.Sleep = slept.sleep
	ops := []i2ctest.IO{w16(0x40, 0x05, 4194), w16(0x40, 0x00, 0x399B), w16(0x40, 0x00, 0x399B)}
	// One poll after the first period, then one per period/16 up to 3 periods.
	for range 33 {
		ops = append(ops, r16(0x40, 0x02, 0x5DC0))
	}
	d, err := NewINA219(playback(t, ops...), &o)
	if err != nil {
		t.Fatal(err)
	}
	var r [1]Reading
	wantErrContains(t, d.Sense(r[:]), "ina219 0x40 on playback: conversion not ready after 3.192ms")
}

func TestINA219BusErrorKeepsCause(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: append(ina219Init[:2:2],
		r16(0x40, 0x02, 0x5DC2),
		r16(0x40, 0x01, 0x07D0),
	)}
	bus := &faultBus{Playback: pb, failAt: 4, err: syscall.EREMOTEIO}
	d, err := NewINA219(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r [1]Reading
	err = d.Sense(r[:])
	if !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("Sense error %v does not wrap EREMOTEIO", err)
	}
	wantErrContains(t, err, "ina219 0x40 on playback: read current: ")
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

func TestINA219CalibrationWriteError(t *testing.T) {
	bus := &faultBus{Playback: &i2ctest.Playback{DontPanic: true}, failAt: 0, err: syscall.ENXIO}
	_, err := NewINA219(bus, nil)
	if !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("New error %v does not wrap ENXIO", err)
	}
	wantErrContains(t, err, "ina219 0x40 on playback: write calibration: ")
}

func TestSenseShortDst(t *testing.T) {
	d, err := NewINA219(playback(t, ina219Init...), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErrContains(t, d.Sense(nil), "room for 1 reading")
}
