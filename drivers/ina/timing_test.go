package ina

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

func TestTimingFor(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		chip     Chip
		interval time.Duration
		avg      int
		ct       time.Duration
		period   time.Duration
	}{
		// INA226 family: 2·ct·avg.
		{ChipINA226, 100 * us, 1, 140 * us, 280 * us},
		{ChipINA226, time.Millisecond, 4, 140 * us, 1120 * us},
		{ChipINA226, 100 * time.Millisecond, 256, 204 * us, 104448 * us},
		{ChipINA226, time.Second, 64, 8244 * us, 1055232 * us},
		{ChipINA231, time.Second, 64, 8244 * us, 1055232 * us},
		{ChipINA260, time.Second, 64, 8244 * us, 1055232 * us},
		// Beyond what the chip can do: the longest, 1024 × 2 × 8.244 ms.
		{ChipINA226, time.Minute, 1024, 8244 * us, 16883712 * us},
		// INA3221: three channels, 6·ct·avg.
		{ChipINA3221, time.Second, 512, 332 * us, 1019904 * us},
		{ChipINA3221, 10 * time.Millisecond, 1, 2116 * us, 12696 * us},
		// INA228: (2·ct + 50 µs)·avg.
		{ChipINA228, time.Second, 128, 4120 * us, 1061120 * us},
		{ChipINA228, 100 * time.Millisecond, 512, 84 * us, 111616 * us},
		{ChipINA228, 100 * us, 1, 50 * us, 150 * us},
		// INA219: bus + shunt ADC time from its table.
		{ChipINA219, 100 * us, 1, 84 * us, 168 * us},
		{ChipINA219, 300 * us, 1, 276 * us, 552 * us},
		{ChipINA219, 5 * time.Millisecond, 8, 532 * us, 8520 * us},
		{ChipINA219, time.Second, 128, 532 * us, 136200 * us},
	}
	for _, tt := range tests {
		avg, ct := TimingFor(tt.chip, tt.interval)
		if avg != tt.avg || ct != tt.ct {
			t.Errorf("TimingFor(%s, %v) = %d, %v; want %d, %v", tt.chip, tt.interval, avg, ct, tt.avg, tt.ct)
			continue
		}
		// The driver's own period for those settings is the one promised.
		if got := updatePeriodFor(t, tt.chip, avg, ct); got != tt.period {
			t.Errorf("%s with %d × %v: UpdatePeriod %v, want %v", tt.chip, avg, ct, got, tt.period)
		}
	}
	if avg, ct := TimingFor("ina999", time.Second); avg != 0 || ct != 0 {
		t.Errorf("unknown chip: %d, %v", avg, ct)
	}
}

// TestTimingForCovers checks, for every chip and a sweep of intervals, that
// the period covers the interval whenever the chip can, and that no valid
// setting would cover it with a shorter period.
func TestTimingForCovers(t *testing.T) {
	for _, c := range []Chip{ChipINA219, ChipINA226, ChipINA3221, ChipINA228} {
		la, lct := TimingFor(c, 24*time.Hour)
		longest := updatePeriodFor(t, c, la, lct)
		for iv := 50 * time.Microsecond; iv < 30*time.Second; iv = iv * 9 / 8 {
			avg, ct := TimingFor(c, iv)
			p := updatePeriodFor(t, c, avg, ct)
			if p < iv && p != longest {
				t.Errorf("%s %v: period %v is short of the interval", c, iv, p)
			}
			for _, a := range allTimings(c) {
				if q := cyclePeriod219or(c, a.avg, a.ct); q >= iv && q < p {
					t.Errorf("%s %v: %d × %v gives %v, but %d × %v gives %v", c, iv, avg, ct, p, a.avg, a.ct, q)
				}
			}
		}
	}
}

type timing struct {
	avg int
	ct  time.Duration
}

func allTimings(c Chip) []timing {
	var out []timing
	if c == ChipINA219 {
		for _, a := range adc219Table {
			out = append(out, timing{a.avg, a.conv})
		}
		return out
	}
	table := ct226
	if c == ChipINA228 {
		table = ct228
	}
	for _, avg := range avgCounts {
		for _, ct := range table {
			out = append(out, timing{avg, ct})
		}
	}
	return out
}

func cyclePeriod219or(c Chip, avg int, ct time.Duration) time.Duration {
	if c == ChipINA219 {
		a, _ := find219(avg, ct)
		return 2 * a.total
	}
	return cyclePeriod(c, avg, ct, 3)
}

// updatePeriodFor opens chip with the timing and returns its UpdatePeriod.
// New only writes, so a Record without a bus takes its traffic.
func updatePeriodFor(t *testing.T, c Chip, avg int, ct time.Duration) time.Duration {
	t.Helper()
	o := DefaultOpts(c)
	o.Averaging, o.BusConversion, o.ShuntConversion = avg, ct, ct
	d, err := New(&i2ctest.Record{}, c, &o)
	if err != nil {
		t.Fatalf("New(%s, %d × %v): %v", c, avg, ct, err)
	}
	return d.UpdatePeriod()
}

func TestChipSet(t *testing.T) {
	var c Chip
	if err := c.Set(" INA3221 "); err != nil || c != ChipINA3221 {
		t.Errorf("Set: %q, %v", c, err)
	}
	err := c.Set("ina238")
	wantErrContains(t, err, `unknown chip "ina238"`, "ina219, ina226, ina230, ina231, ina260, ina3221, ina228")
	_, err = New(&i2ctest.Record{}, "ina238", nil)
	wantErrContains(t, err, `unknown chip "ina238"`)
}

func TestReadingString(t *testing.T) {
	r := Reading{Bus: 5 * physic.Volt, Current: physic.Ampere, Power: 5 * physic.Watt,
		Energy: physic.WattHour, HasEnergy: true, DieTemp: physic.ZeroCelsius + 30*physic.Celsius, HasDieTemp: true, Overflow: true}
	if got, want := r.String(), "Bus: 5V, Shunt: 0V, Current: 1A, Power: 5W, Energy: 3.600kJ, Die: 30°C (overflow)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// An INA3221 with one input enabled cycles through that input only: the
// settings that cover 10 s with three inputs cover a third of it with one.
func TestTimingForInputs(t *testing.T) {
	for inputs := 1; inputs <= 3; inputs++ {
		avg, ct := TimingForInputs(ChipINA3221, 10*time.Second, inputs)
		period := cyclePeriod(ChipINA3221, avg, ct, inputs)
		if period < 10*time.Second {
			t.Errorf("%d inputs: avg %d × %v covers %v < 10 s", inputs, avg, ct, period)
		}
		dev, err := NewINA3221(&i2ctest.Record{}, &Opts{Averaging: avg, BusConversion: ct, ShuntConversion: ct,
			Channels: channelsEnabled(inputs)})
		if err != nil {
			t.Fatal(err)
		}
		if dev.UpdatePeriod() != period {
			t.Errorf("%d inputs: the driver's period %v, TimingForInputs planned %v", inputs, dev.UpdatePeriod(), period)
		}
	}
	a3, c3 := TimingFor(ChipINA3221, 10*time.Second)
	if a, c := TimingForInputs(ChipINA3221, 10*time.Second, 3); a != a3 || c != c3 {
		t.Error("TimingFor is not TimingForInputs with three inputs")
	}
	if a1, c1 := TimingForInputs(ChipINA3221, 10*time.Second, 1); cyclePeriod(ChipINA3221, a3, c3, 1) >= 10*time.Second || (a1 == a3 && c1 == c3) {
		t.Error("one input with the three-input settings should not cover the interval; TimingForInputs must differ")
	}
}

func channelsEnabled(n int) [3]ChannelOpts {
	var ch [3]ChannelOpts
	for i := range ch {
		ch[i] = ChannelOpts{Disabled: i >= n, Shunt: 100 * physic.MilliOhm}
	}
	return ch
}

func TestReadStep(t *testing.T) {
	s := time.Second
	tests := []struct {
		chip     Chip
		interval time.Duration
		inputs   int
		want     time.Duration
	}{
		{ChipINA226, 10 * s, 1, 10 * s},                 // 16.9 s reach it: one reading
		{ChipINA226, 60 * s, 1, 15 * s},                 // 16.9 s at most: four readings
		{ChipINA260, 10 * time.Minute, 1, 600 * s / 36}, // ⌈600 / 16.88⌉ = 36
		{ChipINA231, 17 * s, 1, 17 * s / 2},
		{ChipINA3221, 60 * s, 3, 60 * s / 2}, // 50.7 s with three inputs
		{ChipINA3221, 60 * s, 1, 60 * s / 4}, // 16.9 s with one
		{ChipINA228, 60 * s, 1, 60 * s / 8},  // 8.5 s
		{ChipINA219, 10 * s, 1, s},           // 136 ms: capped at MinReadStep
		{ChipINA219, 1500 * time.Millisecond, 1, 1500 * time.Millisecond},
		{"ina999", 60 * s, 1, 60 * s},
	}
	for _, tt := range tests {
		if got := ReadStep(tt.chip, tt.interval, tt.inputs); got != tt.want {
			t.Errorf("ReadStep(%s, %v, %d) = %v, want %v", tt.chip, tt.interval, tt.inputs, got, tt.want)
		}
	}
	// Whatever the interval, the step divides it evenly, is not below
	// MinReadStep, and the timing for the step covers it unless even that
	// step is out of the chip's reach (INA219).
	for _, c := range []Chip{ChipINA219, ChipINA226, ChipINA3221, ChipINA228} {
		for iv := s; iv <= 10*time.Minute; iv = iv * 9 / 8 {
			step := ReadStep(c, iv, 3)
			if k := iv / step; step < MinReadStep || iv-k*step >= k {
				t.Errorf("%s %v: step %v (interval %v = %d steps + %v)", c, iv, step, iv, k, iv-k*step)
			}
			avg, ct := TimingForInputs(c, step, 3)
			if p := updatePeriodFor(t, c, avg, ct); p < step && c != ChipINA219 {
				t.Errorf("%s %v: step %v, but the chip's window for it is %v", c, iv, step, p)
			}
		}
	}
}
