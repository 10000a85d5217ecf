package ina

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// The INA228 worked example: 15 mΩ, 10 A. Current_LSB = 10/2^19 =
// 19.073486 µA; 10 A × 15 mΩ = 150 mV fits ADCRANGE=0 (±163.84 mV);
// SHUNT_CAL = 13107.2e6 × 19.073486e-6 × 0.015 = 3750 (0EA6h). ADC_CONFIG:
// continuous bus+shunt+temperature (Fh), 1052 µs bus and shunt, 50 µs
// temperature, 1 sample: FB40h.
var ina228Init = []i2ctest.IO{
	{Addr: 0x40, W: []byte{0x00, 0x00, 0x00}}, // CONFIG: ADCRANGE=0
	{Addr: 0x40, W: []byte{0x02, 0x0E, 0xA6}}, // SHUNT_CAL 3750
	{Addr: 0x40, W: []byte{0x01, 0xFB, 0x40}}, // ADC_CONFIG
}

// ina228Read is one continuous-mode Sense transcript with the default
// ADC_CONFIG (FB40h), in the driver's order.
func ina228Read(diag uint16, vshunt, vbus uint32, temp uint16, current, power uint32, energy uint64) []i2ctest.IO {
	return append([]i2ctest.IO{r16(0x40, 0x0B, diag)}, ina228Results(vshunt, vbus, temp, current, power, energy, 0xFB40)...)
}

// ina228Results is what Sense reads after DIAG_ALRT: the results, then
// ADC_CONFIG read back.
func ina228Results(vshunt, vbus uint32, temp uint16, current, power uint32, energy uint64, adc uint16) []i2ctest.IO {
	return []i2ctest.IO{
		r24(0x40, 0x04, vshunt),
		r24(0x40, 0x05, vbus),
		r16(0x40, 0x06, temp),
		r24(0x40, 0x07, current),
		r24(0x40, 0x08, power),
		r40(0x40, 0x09, energy),
		r16(0x40, 0x01, adc),
	}
}

// code20 places a 20-bit two's complement value in bits 23:4.
func code20(v int32) uint32 { return uint32(v<<4) & 0xFFFFFF }

func TestINA228Sense(t *testing.T) {
	// 25 °C = 3200 × 7.8125 m°C.
	at25 := physic.ZeroCelsius + 25*physic.Celsius
	tests := []struct {
		name string
		ops  []i2ctest.IO
		want Reading
	}{
		{
			name: "zero",
			ops:  ina228Read(0x0001, 0, 0, 3200, 0, 0, 0),
			want: Reading{HasEnergy: true, DieTemp: at25, HasDieTemp: true},
		},
		{
			// 10 mV = 32000 × 312.5 nV, 12 V = 61440 × 195.3125 µV. The chip
			// computes 0.6667 A = 34952 LSB and 8.0 W = 131070 × 3.2·LSB; ENERGY
			// 3686400 × 16·3.2·LSB = 3600 J = 1 Wh exactly.
			name: "mid-scale",
			ops:  ina228Read(0x0001, code20(32000), code20(61440), 3200, code20(34952), 131070, 3686400),
			want: Reading{Bus: 12 * physic.Volt, Shunt: 10 * physic.MilliVolt,
				Current: 666656494 * physic.NanoAmpere, Power: 7999877930 * physic.NanoWatt,
				Energy: physic.WattHour, HasEnergy: true, DieTemp: at25, HasDieTemp: true},
		},
		{
			name: "negative current, below zero",
			ops:  ina228Read(0x0001, code20(-32000), code20(61440), 0xFB00, code20(-34952), 131070, 3686400),
			want: Reading{Bus: 12 * physic.Volt, Shunt: -10 * physic.MilliVolt,
				Current: -666656494 * physic.NanoAmpere, Power: 7999877930 * physic.NanoWatt,
				Energy: physic.WattHour, HasEnergy: true, DieTemp: physic.ZeroCelsius - 10*physic.Celsius, HasDieTemp: true},
		},
		{
			// 7FFFFh × 312.5 nV = 163.84 mV: the shunt ADC at full scale.
			name: "shunt full scale",
			ops:  ina228Read(0x0001, 0x7FFFF0, code20(61440), 3200, code20(1<<19-1), 0, 0),
			want: Reading{Bus: 12 * physic.Volt, Shunt: 163839688 * physic.NanoVolt,
				Current: 9999980927 * physic.NanoAmpere, HasEnergy: true, DieTemp: at25, HasDieTemp: true, Overflow: true},
		},
		{
			// MATHOF (bit 9): values kept, flagged.
			name: "math overflow",
			ops:  ina228Read(0x0201, code20(32000), code20(61440), 3200, code20(34952), 0xFFFFFF, 0),
			want: Reading{Bus: 12 * physic.Volt, Shunt: 10 * physic.MilliVolt,
				Current: 666656494 * physic.NanoAmpere, Power: 1023999938965 * physic.NanoWatt,
				HasEnergy: true, DieTemp: at25, HasDieTemp: true, Overflow: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewINA228(playback(t, append(ina228Init[:3:3], tt.ops...)...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sense1(t, d); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestINA228EnergyWrap(t *testing.T) {
	// ENERGYOF (bit 11) is read before ENERGY, whose read clears it. The
	// register wrapped from FFFFFFFF00h to 100h: 200h LSB later.
	ops := append(ina228Init[:3:3], ina228Read(0x0001, 0, 0, 0, 0, 0, 0xFFFFFFFF00)...)
	ops = append(ops, ina228Read(0x0801, 0, 0, 0, 0, 0, 0x100)...)
	ops = append(ops, ina228Read(0x0001, 0, 0, 0, 0, 0, 0x300)...)
	ops = append(ops, w16(0x40, 0x00, 0x4000)) // RSTACC
	ops = append(ops, ina228Read(0x0001, 0, 0, 0, 0, 0, 0x10)...)
	d, err := NewINA228(playback(t, ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Energy_LSB = 16 × 3.2 × 10 A/2^19 = 976.5625 µJ.
	e1 := sense1(t, d).Energy
	e2 := sense1(t, d).Energy
	e3 := sense1(t, d).Energy
	if want := physic.Energy(1073741823750000000); e1 != want {
		t.Errorf("before wrap: %d nJ, want %d", e1, want)
	}
	if step := 500000000 * physic.NanoJoule; e2-e1 != step || e3-e2 != step { // 200h × 976.5625 µJ
		t.Errorf("steps across the wrap: %d, %d nJ; want %d", e2-e1, e3-e2, step)
	}
	if err := d.ResetAccumulators(); err != nil {
		t.Fatal(err)
	}
	if e, want := sense1(t, d).Energy, 15625000*physic.NanoJoule; e != want { // 10h × 976.5625 µJ
		t.Errorf("after reset: %d nJ, want %d", e, want)
	}
}

func TestINA228ADCRange(t *testing.T) {
	// 2 mΩ × 10 A = 20 mV fits ±40.96 mV: ADCRANGE=1, SHUNT_CAL ×4 = 2000,
	// shunt LSB 78.125 nV; the current LSB stays 10 A/2^19.
	o := Opts{Shunt: 2 * physic.MilliOhm, MaxCurrent: 10 * physic.Ampere}
	ops := []i2ctest.IO{
		w16(0x40, 0x00, 0x0010),
		w16(0x40, 0x02, 2000),
		w16(0x40, 0x01, 0xFB40),
	}
	ops = append(ops, ina228Read(0x0001, code20(256000), code20(61440), 3200, code20(1<<19-1), 0, 0)...)
	ops = append(ops, w16(0x40, 0x00, 0x4010)) // RSTACC keeps ADCRANGE
	ops = append(ops, w16(0x40, 0x01, 0x0B40)) // Halt: MODE 0
	d, err := NewINA228(playback(t, ops...), &o)
	if err != nil {
		t.Fatal(err)
	}
	r := sense1(t, d)
	if r.Shunt != 20*physic.MilliVolt || r.Current != 9999980927*physic.NanoAmpere {
		t.Errorf("got %+v", r)
	}
	if err := d.ResetAccumulators(); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

func TestINA228Charge(t *testing.T) {
	// −52429 LSB = −1.000004 C; CHARGEOF (bit 10) reported.
	ops := append(ina228Init[:3:3],
		r16(0x40, 0x0B, 0x0401),
		r40(0x40, 0x0A, 0xFFFFFF3333),
	)
	d, err := NewINA228(playback(t, ops...), nil)
	if err != nil {
		t.Fatal(err)
	}
	q, overflow, err := d.Charge()
	if err != nil {
		t.Fatal(err)
	}
	if q != -1000003815 || !overflow {
		t.Errorf("Charge = %d nC overflow %v, want -1000003815 true", q, overflow)
	}
}

func TestINA228TriggeredTiming(t *testing.T) {
	var slept sleeps
	// 100 ms: (84+84+50 µs) × 512 = 111.616 ms is the shortest cycle above.
	avg, ct := TimingFor(ChipINA228, 100*time.Millisecond)
	o := DefaultOpts(ChipINA228)
	o.Averaging, o.BusConversion, o.ShuntConversion = avg, ct, ct
	o.Mode = Triggered
	o.Sleep = slept.sleep
	// MODE 7h, VBUSCT = VSHCT = 1 (84 µs), VTCT 0 (50 µs), AVG 6 (512).
	const adc = 0x7<<12 | 1<<9 | 1<<6 | 6
	ops := append(ina228Init[:1:1], ina228Init[1], w16(0x40, 0x01, adc), w16(0x40, 0x01, adc))
	ops = append(ops, r16(0x40, 0x0B, 0x0001), r16(0x40, 0x0B, 0x0003))
	ops = append(ops, ina228Results(0, 0, 0, 0, 0, 0, adc)...)
	d, err := NewINA228(playback(t, ops...), &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UpdatePeriod(), 111616*time.Microsecond; got != want {
		t.Errorf("UpdatePeriod = %v, want %v", got, want)
	}
	sense1(t, d)
	if len(slept) != 2 || slept[0] != d.UpdatePeriod() {
		t.Errorf("slept %v", slept)
	}
}

func TestINA228OptsErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Opts)
		want   []string
	}{
		{"drop beyond 163.84 mV", func(o *Opts) { o.MaxCurrent = 12 * physic.Ampere }, []string{"Opts.MaxCurrent 12A", "180mV", "163.840mV"}},
		{"drop beyond ADCRANGE=1", func(o *Opts) { o.ShuntRange = 40960 * physic.MicroVolt }, []string{"exceeds Opts.ShuntRange 40.960mV"}},
		{"conversion time of the INA226", func(o *Opts) { o.BusConversion = 1100 * time.Microsecond }, []string{"Opts.BusConversion 1.1ms", "4.12ms"}},
		{"SHUNT_CAL beyond 15 bits", func(o *Opts) { o.CurrentLSB = physic.Ampere }, []string{"SHUNT_CAL", "exceeds the register maximum 32767"}},
		{"SHUNT_CAL zero", func(o *Opts) {
			o.Shunt, o.MaxCurrent, o.CurrentLSB = physic.MilliOhm, 100*physic.MicroAmpere, physic.NanoAmpere
		}, []string{"SHUNT_CAL", "rounds to 0"}},
		{"LSB too small", func(o *Opts) { o.CurrentLSB = physic.MicroAmpere }, []string{"Opts.CurrentLSB 1µA", "Opts.MaxCurrent 10A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOpts(ChipINA228)
			tt.modify(&o)
			_, err := NewINA228(playback(t), &o)
			wantErrContains(t, err, tt.want...)
		})
	}
}

func TestINA228CurrentLSBOption(t *testing.T) {
	// A current LSB rounded up from 10 A / 2^19 = 19.0735 µA gives the same
	// SHUNT_CAL: round(13107.2e6 × 19.074e-6 × 0.015) = 3750.
	o := DefaultOpts(ChipINA228)
	o.CurrentLSB = 19074 * physic.NanoAmpere
	if _, err := NewINA228(playback(t, ina228Init...), &o); err != nil {
		t.Fatal(err)
	}
}

func TestINA228BusErrorKeepsCause(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: append(ina228Init[:3:3], ina228Read(0x0001, 0, 0, 0, 0, 0, 0)[:6]...)}
	bus := &faultBus{Playback: pb, failAt: 9, err: syscall.EREMOTEIO}
	d, err := NewINA228(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r [1]Reading
	err = d.Sense(r[:])
	if !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("error %v does not wrap EREMOTEIO", err)
	}
	wantErrContains(t, err, "ina228 0x40 on playback: read energy: ")
}
