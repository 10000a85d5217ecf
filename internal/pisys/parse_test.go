package pisys

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strings"
	"testing"
)

func TestParseThrottled(t *testing.T) {
	for in, want := range map[string]Throttled{
		"throttled=0x0\n":     0,
		"throttled=0x50005\n": UnderVoltage | Throttling | UnderVoltageOccurred | ThrottlingOccurred,
		"throttled=0x80008":   SoftTempLimit | SoftTempLimitOccurred,
		"throttled=0xE0000\n": FreqCappedOccurred | ThrottlingOccurred | SoftTempLimitOccurred,
	} {
		got, err := ParseThrottled(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("ParseThrottled(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "throttled=", "throttled=0x", "throttled=50005", "0x50005", "throttled=0x1ffffffff", "throttled=0xzz"} {
		if got, err := ParseThrottled(strings.NewReader(in)); err == nil {
			t.Errorf("ParseThrottled(%q) = %v, want an error", in, got)
		}
	}
	_, err := ParseThrottled(strings.NewReader(`error=2 error_msg="Invalid arguments"`))
	if !errors.Is(err, ErrNotAvailable) {
		t.Errorf("firmware error: %v, want ErrNotAvailable", err)
	}
}

func TestThrottledNames(t *testing.T) {
	th := Throttled(0x50005)
	if got := th.String(); got != "0x50005 (under-voltage, throttled, under-voltage-occurred, throttling-occurred)" {
		t.Errorf("String() = %q", got)
	}
	if th.Now() != UnderVoltage|Throttling || th.SinceBoot() != UnderVoltageOccurred|ThrottlingOccurred {
		t.Errorf("Now %v, SinceBoot %v", th.Now(), th.SinceBoot())
	}
	if got := fmt.Sprint(Throttled(1<<4 | 1<<31).Names()); got != "[bit 4 bit 31]" {
		t.Errorf("undocumented bits: %s", got)
	}
	all := UnderVoltage | FreqCapped | Throttling | SoftTempLimit | UnderVoltageOccurred | FreqCappedOccurred | ThrottlingOccurred | SoftTempLimitOccurred
	if n := len(all.Names()); n != 8 || strings.Contains(fmt.Sprint(all.Names()), "bit ") {
		t.Errorf("documented bits: %v", all.Names())
	}
}

func TestParsePMICPi5(t *testing.T) {
	f, err := os.Open("testdata/pmic_read_adc_pi5.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ParsePMIC(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range p.Rails {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "3V7_WL_SW 3V3_SYS 1V8_SYS DDR_VDD2 DDR_VDDQ 1V1_SYS 0V8_SW VDD_CORE 3V3_DAC 3V3_ADC 0V8_AON HDMI" {
		t.Errorf("rails: %s", got)
	}
	core := p.Rails[7]
	if core.Volts != 0.76798460 || core.Amps != 0.56259000 || math.Abs(core.Watts()-0.76798460*0.56259000) > 1e-15 {
		t.Errorf("VDD_CORE = %+v", core)
	}
	if fmt.Sprint(p.Voltages) != "[{EXT5V 5.14158} {BATT 3.280339}]" || len(p.Unpaired) != 0 {
		t.Errorf("voltage-only channels %v, unpaired %v", p.Voltages, p.Unpaired)
	}
	if v, ok := p.Input(); !ok || v != 5.14158 {
		t.Errorf("Input() = %v, %t", v, ok)
	}
	if w := p.PartialPower(); math.Abs(w-1.76670653643166) > 1e-9 {
		t.Errorf("PartialPower = %v", w)
	}
}

func TestParsePMICVariants(t *testing.T) {
	// Another board's rail names, CRLF, an unknown extra line, and a
	// current without its voltage.
	in := "0V8_SYS_A current(6)=0.5A\r\n" +
		"PMIC firmware 2.1\r\n" +
		"0V8_SYS_V volt(14)=0.8V\r\n" +
		"FAN_A current(30)=0.1A\r\n" +
		"EXT5V_V volt(24)=5.0V\r\n"
	p, err := ParsePMIC(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Rails) != "[{0V8_SYS 0.8 0.5}]" || fmt.Sprint(p.Unpaired) != "[FAN]" || p.PartialPower() != 0.4 {
		t.Errorf("got %+v", p)
	}
}

func TestParsePMICErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "no rail",
		"EXT5V_V volt(24)=5.14158000V\n":         "no rail",
		"X_A volt(1)=1.0V\n":                     "mixes up current and voltage",
		"X_A current(1)=1.0V\n":                  "mixes up current and voltage",
		"X_A current(1)=1A\nX_A current(2)=2A\n": "X_A listed twice",
		"X_V volt(1)=1V\nX_V volt(2)=2V\n":       "X_V listed twice",
		"X_A current(1)=1e999A\nX_V volt(2)=2V":  "bad value",
	} {
		_, err := ParsePMIC(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePMIC(%q) = %v, want %q", in, err, want)
		}
	}
	f, err := os.Open("testdata/pmic_read_adc_pi4.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ParsePMIC(f); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("Pi 4 answer: %v, want ErrNotAvailable", err)
	}
}

func TestParseMilliCelsius(t *testing.T) {
	for in, want := range map[string]MilliCelsius{"48312\n": 48312, "-61\n": -61, "0": 0} {
		if got, err := ParseMilliCelsius(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("ParseMilliCelsius(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "48.3", "48312 m", strings.Repeat("9", 65)} {
		if got, err := ParseMilliCelsius(strings.NewReader(in)); err == nil {
			t.Errorf("ParseMilliCelsius(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseThrottled(f *testing.F) {
	for _, s := range []string{"throttled=0x50005\n", "throttled=0x0", "error=1 error_msg=\"x\"", "throttled=0xffffffff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThrottled(strings.NewReader(s))
		if err != nil {
			return
		}
		again, err := ParseThrottled(strings.NewReader(fmt.Sprintf("throttled=%#x\n", uint32(th))))
		if err != nil || again != th {
			t.Fatalf("%v does not round-trip: %v, %v", th, again, err)
		}
		if n := len(th.Names()); n != bits.OnesCount32(uint32(th)) {
			t.Fatalf("%v has %d names", th, n)
		}
	})
}

func FuzzParsePMIC(f *testing.F) {
	if b, err := os.ReadFile("testdata/pmic_read_adc_pi5.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("X_A current(1)=1A\nX_V volt(2)=2V\n")
	f.Add("error=1 error_msg=\"Command not registered\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePMIC(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(p.Rails) == 0 {
			t.Fatal("accepted a reading without rails")
		}
		seen := map[string]bool{}
		for _, r := range p.Rails {
			if seen[r.Name] || math.IsNaN(r.Watts()) {
				t.Fatalf("bad rail %+v in %+v", r, p)
			}
			seen[r.Name] = true
		}
	})
}

func FuzzParseMilliCelsius(f *testing.F) {
	for _, s := range []string{"48312\n", "-61", "", "48.3", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMilliCelsius(strings.NewReader(s))
		if err != nil {
			return
		}
		again, err := ParseMilliCelsius(strings.NewReader(fmt.Sprintf("%d\n", int64(v))))
		if err != nil || again != v {
			t.Fatalf("%d does not round-trip: %d, %v", v, again, err)
		}
	})
}
