package hwmon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func TestScanPi4(t *testing.T) {
	t.Parallel()
	sensors, err := FS{Root: "testdata/pi4"}.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sensors {
		got = append(got, fmt.Sprintf("%s %s %d 0x%02x %s", s.Name, s.Family, s.Bus, s.Addr, filepath.Base(s.Dir)))
	}
	want := []string{
		"ina226 ina2xx 1 0x40 hwmon2",
		"ina3221 ina3221 1 0x41 hwmon3",
		"ina228 ina238 1 0x45 hwmon4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScanNoHwmon(t *testing.T) {
	t.Parallel()
	sensors, err := FS{Root: t.TempDir()}.Scan()
	if err != nil || len(sensors) != 0 {
		t.Fatalf("Scan of an empty root: %v, %v", sensors, err)
	}
}

func TestReadINA226(t *testing.T) {
	t.Parallel()
	s := lookup(t, "testdata/pi4", 1, 0x40)
	if s.String() != "ina226 at 1-0040" {
		t.Errorf("String() = %q", s)
	}
	chans, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []Channel{{
		Index:   1,
		Bus:     5104 * physic.MilliVolt,
		Shunt:   61 * physic.MilliVolt,
		Current: 612 * physic.MilliAmpere,
		Power:   3125 * physic.MilliWatt,
		Has:     Bus | Shunt | Current | Power,
	}}
	check(t, chans, want)
}

func TestReadINA3221(t *testing.T) {
	t.Parallel()
	s := lookup(t, "testdata/pi4", 1, 0x41)
	chans, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	// Channel 3 is disabled; power is bus × current.
	want := []Channel{
		{Index: 1, Label: "pi-5v", Bus: 5072 * physic.MilliVolt, Shunt: 24880 * physic.MicroVolt, Current: 248 * physic.MilliAmpere,
			Power: 1257856 * physic.MicroWatt, Has: Bus | Shunt | Current | Power, Computed: true},
		{Index: 2, Label: "disk-12v", Bus: 12016 * physic.MilliVolt, Shunt: 41120 * physic.MicroVolt, Current: 411 * physic.MilliAmpere,
			Power: 4938576 * physic.MicroWatt, Has: Bus | Shunt | Current | Power, Computed: true},
	}
	check(t, chans, want)
}

func TestReadINA228(t *testing.T) {
	t.Parallel()
	s := lookup(t, "testdata/pi4", 1, 0x45)
	chans, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []Channel{{
		Index:       1,
		Bus:         5120 * physic.MilliVolt,
		Shunt:       12 * physic.MilliVolt,
		Current:     2403 * physic.MilliAmpere,
		Power:       12303360 * physic.MicroWatt,
		Energy:      90347843136 * physic.MicroJoule,
		Temperature: physic.ZeroCelsius + 41250*physic.MilliCelsius,
		Has:         Bus | Shunt | Current | Power | Energy | Temperature,
	}}
	check(t, chans, want)
	if got := chans[0].Temperature.String(); got != "41.250°C" {
		t.Errorf("temperature %s", got)
	}
}

func TestReadINA260Pi5(t *testing.T) {
	t.Parallel()
	sensors, err := FS{Root: "testdata/pi5"}.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) != 1 || sensors[0].Name != "ina260" || sensors[0].Device != "1-0040" {
		t.Fatalf("Scan found %v, want the ina260 at 1-0040 only", sensors)
	}
	chans, err := sensors[0].Read()
	if err != nil {
		t.Fatal(err)
	}
	check(t, chans, []Channel{{
		Index: 1, Bus: 5087 * physic.MilliVolt, Shunt: 3 * physic.MilliVolt, Current: 1396 * physic.MilliAmpere,
		Power: 7100 * physic.MilliWatt, Has: Bus | Shunt | Current | Power,
	}})
}

func TestLookupMissing(t *testing.T) {
	t.Parallel()
	fs := FS{Root: "testdata/pi4"}
	for _, tt := range []struct {
		addr uint16
		want string
	}{
		{0x4f, "no I²C device there"},
		// Declared in the device tree, module not loaded.
		{0x44, "has a ina219 there but no supported hwmon sensor"},
	} {
		_, err := fs.Lookup(1, tt.addr)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Lookup(1, 0x%02x) = %v, want ErrNotFound saying %q", tt.addr, err, tt.want)
		}
	}
}

// A hwmon device found through the class directory without a "device" link
// (an older or trimmed tree) is still read; it has no I²C identity.
func TestSensorWithoutDeviceLink(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "sys/class/hwmon/hwmon7")
	write(t, dir, map[string]string{"name": "ina219\n", "in1_input": "12000\n", "curr1_input": "-150\n"})
	sensors, err := FS{Root: root}.Scan()
	if err != nil || len(sensors) != 1 {
		t.Fatalf("Scan: %v %v", sensors, err)
	}
	if s := sensors[0]; s.Device != "" || s.String() != "ina219 (hwmon7)" {
		t.Errorf("sensor %q device %q", s, s.Device)
	}
	chans, err := sensors[0].Read()
	if err != nil {
		t.Fatal(err)
	}
	check(t, chans, []Channel{{Index: 1, Bus: 12 * physic.Volt, Current: -150 * physic.MilliAmpere, Has: Bus | Current}})
}

// Before Linux 3.x the attributes were in the parent device's directory.
func TestLegacyLayout(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dev := filepath.Join(root, "sys/devices/i2c-0/0-0040")
	write(t, dev, map[string]string{"name": "ina226\n", "in1_input": "3300\n", "power1_input": "990000\n"})
	class := filepath.Join(root, "sys/class/hwmon/hwmon0")
	if err := os.MkdirAll(class, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../devices/i2c-0/0-0040", filepath.Join(class, "device")); err != nil {
		t.Fatal(err)
	}
	sensors, err := FS{Root: root}.Scan()
	if err != nil || len(sensors) != 1 {
		t.Fatalf("Scan: %v %v", sensors, err)
	}
	if s := sensors[0]; s.Device != "0-0040" || s.Dir != filepath.Join(class, "device") {
		t.Errorf("sensor %s in %s", s, s.Dir)
	}
	chans, err := sensors[0].Read()
	if err != nil {
		t.Fatal(err)
	}
	check(t, chans, []Channel{{Index: 1, Bus: 3300 * physic.MilliVolt, Power: 990 * physic.MilliWatt, Has: Bus | Power}})
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"garbage", map[string]string{"name": "ina226", "in1_input": "5.1V\n"}, `hwmon ina226 (hwmon0): read in1_input: not a decimal integer: "5.1V"`},
		{"nothing", map[string]string{"name": "ina226", "update_interval": "35"}, "no in1_input, curr1_input or power1_input"},
		{"overflow", map[string]string{"name": "ina238", "energy1_input": "9223372036854775807"}, "energy1_input: value 9223372036854775807 × 1000 out of range"},
		{"ina3221 all disabled", map[string]string{"name": "ina3221", "in1_enable": "0", "in2_enable": "0", "in3_enable": "0"}, "all three channels are disabled"},
		{"ina3221 power overflow", map[string]string{"name": "ina3221", "in1_input": "9223372036854", "curr1_input": "10000000"}, "in1_input × curr1_input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "sys/class/hwmon/hwmon0"), tt.files)
			sensors, err := FS{Root: root}.Scan()
			if err != nil || len(sensors) != 1 {
				t.Fatalf("Scan: %v %v", sensors, err)
			}
			_, err = sensors[0].Read()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestFamilyOf(t *testing.T) {
	for name, want := range map[string]Family{
		"ina219": INA2xx, "ina226": INA2xx, "ina230": INA2xx, "ina231": INA2xx, "ina260": INA2xx,
		"ina3221": INA3221, "ina238": INA238, "ina228": INA238, "cpu_thermal": 0, "rp1_adc": 0,
	} {
		got, ok := FamilyOf(name)
		if got != want || ok != (want != 0) {
			t.Errorf("FamilyOf(%q) = %s, %t", name, got, ok)
		}
	}
}

func lookup(t *testing.T, root string, bus int, addr uint16) *Sensor {
	t.Helper()
	s, err := FS{Root: root}.Lookup(bus, addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bus != bus || s.Addr != addr {
		t.Fatalf("Lookup(%d, 0x%02x) found %s", bus, addr, s)
	}
	return s
}

func check(t *testing.T, got, want []Channel) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d channels, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("channel %d:\n%#v\nwant:\n%#v", i, got[i], want[i])
		}
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The agent reads every sensor once per sampling interval.
func BenchmarkReadINA3221(b *testing.B) {
	s, err := FS{Root: "testdata/pi4"}.Lookup(1, 0x41)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
