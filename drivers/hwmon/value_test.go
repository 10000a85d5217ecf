package hwmon

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseValue(t *testing.T) {
	for in, want := range map[string]int64{
		"5104\n": 5104, "-150\n": -150, "0": 0, "  42 \n": 42,
		"90347843136\n": 90347843136, "9223372036854775807\n": 9223372036854775807,
	} {
		got, err := ParseValue(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("ParseValue(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "5.1", "0x40", "12 34", "9223372036854775808", "+-1", strings.Repeat("1", 70)} {
		if v, err := ParseValue(strings.NewReader(in)); err == nil {
			t.Errorf("ParseValue(%q) = %d, want an error", in, v)
		}
	}
	boom := errors.New("EIO")
	if _, err := ParseValue(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error lost: %v", err)
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]string{
		"1-0040": "1 64 true", "13-004f": "13 79 true", "0-03ff": "0 1023 true",
		"i2c-1": "0 0 false", "1-40": "0 0 false", "thermal_zone0": "0 0 false",
		"1-a050": "0 0 false", "1-0040x": "0 0 false", "01-0040": "0 0 false", "1-004F": "0 0 false",
	} {
		b, a, ok := ParseDevice(in)
		if got := strconv.Itoa(b) + " " + strconv.Itoa(int(a)) + " " + strconv.FormatBool(ok); got != want {
			t.Errorf("ParseDevice(%q) = %s, want %s", in, got, want)
		}
	}
	if got := DeviceName(1, 0x40); got != "1-0040" {
		t.Errorf("DeviceName = %q", got)
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"5104\n", "-150\n", "", "9223372036854775807", "1e3", " 7 \n", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue(strings.NewReader(s))
		if err != nil {
			return
		}
		// Whatever parses is the decimal integer the text holds.
		if want, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil || want != v {
			t.Fatalf("ParseValue(%q) = %d, the text holds %d (%v)", s, v, want, err)
		}
		if len(s) > maxValueLen {
			t.Fatalf("ParseValue accepted %d bytes", len(s))
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"1-0040", "i2c-1", "13-004f", "1-a050", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bus, addr, ok := ParseDevice(s)
		if ok && DeviceName(bus, addr) != s {
			t.Fatalf("ParseDevice(%q) = %d, 0x%x: does not round-trip", s, bus, addr)
		}
	})
}
