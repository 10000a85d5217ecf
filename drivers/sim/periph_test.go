package sim_test

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ina219"
)

// TestPeriphINA219ReadsEmulator runs periph's own INA219 driver, written by
// other people from the same datasheet, against the emulated chip: an
// independent check of the emulator (and of veille's driver, which is tested
// against the same emulator). periph's driver sets a 16 V range and 128×
// averaging (68 ms per conversion) and reads four registers.
func TestPeriphINA219ReadsEmulator(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	dev, err := ina219.New(w.Bus(), &ina219.Opts{Address: 0x45, SenseResistor: 100 * physic.MilliOhm, MaxCurrent: 3200 * physic.MilliAmpere})
	if err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second) // several conversion windows of the idle board
	pm, err := dev.Sense()
	if err != nil {
		t.Fatal(err)
	}
	v, i, err := w.RailAt("pi", fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	// periph truncates to its LSBs: 4 mV bus, ~97.7 µA current, ~1.95 mW power.
	if d := pm.Voltage - v; d < -8*physic.MilliVolt || d > 8*physic.MilliVolt {
		t.Errorf("periph reads %s, the rail is at %s", pm.Voltage, v)
	}
	if d := pm.Current - i; d < -200*physic.MicroAmpere || d > 200*physic.MicroAmpere {
		t.Errorf("periph reads %s, the rail carries %s", pm.Current, i)
	}
	want := physic.Power(int64(v) / 1000 * int64(i) / 1000 / 1000)
	if d := pm.Power - want; d < -20*physic.MilliWatt || d > 20*physic.MilliWatt {
		t.Errorf("periph reads %s, V×I is %s", pm.Power, want)
	}
	t.Logf("periph's ina219 on the emulator: %s (rail %s, %s)", pm, v, i)
}
