package pisys

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSoCTemperature(t *testing.T) {
	t.Parallel()
	got, err := Board{Root: "testdata/pi5"}.SoCTemperature()
	if err != nil || got != 52650 {
		t.Fatalf("SoCTemperature = %v, %v; want 52650 m°C", got, err)
	}
	if s := got.String(); s != "52.65°C" {
		t.Errorf("String() = %q", s)
	}
}

func TestSoCTemperatureNotZone0(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for zone, files := range map[string][2]string{
		"thermal_zone0": {"gpu-thermal\n", "39000\n"},
		"thermal_zone3": {"cpu-thermal\n", "-5250\n"},
	} {
		dir := filepath.Join(root, "sys/class/thermal", zone)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "type"), files[0])
		writeFile(t, filepath.Join(dir, "temp"), files[1])
	}
	got, err := Board{Root: root}.SoCTemperature()
	if err != nil || got != -5250 || got.Celsius() != -5.25 {
		t.Fatalf("SoCTemperature = %v, %v; want -5.25°C from zone 3", got, err)
	}
}

func TestSoCTemperatureNotAvailable(t *testing.T) {
	t.Parallel()
	for _, root := range []string{"testdata/pc", t.TempDir()} {
		_, err := Board{Root: root}.SoCTemperature()
		if !errors.Is(err, ErrNotAvailable) {
			t.Errorf("SoCTemperature under %s = %v, want ErrNotAvailable", root, err)
		}
	}
}

func TestSoCTemperatureBadValue(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "sys/class/thermal/thermal_zone0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "type"), "cpu-thermal\n")
	writeFile(t, filepath.Join(dir, "temp"), "48.3\n")
	_, err := Board{Root: root}.SoCTemperature()
	if err == nil || errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), `not a decimal integer: "48.3"`) {
		t.Fatalf("SoCTemperature over a bad file = %v", err)
	}
}

// fakeVcgencmd writes a stand-in for vcgencmd that answers get_throttled
// and pmic_read_adc from fixtures, and hangs on "hang".
func fakeVcgencmd(t *testing.T, throttled, pmicFixture string) string {
	t.Helper()
	pmic, err := filepath.Abs(filepath.Join("testdata", pmicFixture))
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(t.TempDir(), "vcgencmd")
	writeFile(t, prog, `#!/bin/sh
case "$*" in
get_throttled) echo "`+throttled+`" ;;
pmic_read_adc) cat '`+pmic+`' ;;
hang) exec sleep 60 ;;
*) echo "unexpected arguments: $*" >&2; exit 3 ;;
esac
`)
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestBoardPi5(t *testing.T) {
	t.Parallel()
	b := Board{Vcgencmd: fakeVcgencmd(t, "throttled=0x50005", "pmic_read_adc_pi5.txt")}
	th, err := b.Throttled(t.Context())
	if err != nil || th != UnderVoltage|Throttling|UnderVoltageOccurred|ThrottlingOccurred {
		t.Fatalf("Throttled = %v, %v", th, err)
	}
	p, err := b.PMIC(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rails) != 12 {
		t.Errorf("%d rails, want 12", len(p.Rails))
	}
	if w := p.PartialPower(); math.Abs(w-1.76670653643166) > 1e-9 {
		t.Errorf("PartialPower = %v W, want 1.7667 W", w)
	}
}

func TestBoardPi4HasNoPMIC(t *testing.T) {
	t.Parallel()
	b := Board{Vcgencmd: fakeVcgencmd(t, "throttled=0x0", "pmic_read_adc_pi4.txt")}
	if th, err := b.Throttled(t.Context()); err != nil || th != 0 || th.String() != "0x0 (ok)" {
		t.Fatalf("Throttled = %v, %v", th, err)
	}
	_, err := b.PMIC(t.Context())
	if !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "Command not registered") {
		t.Fatalf("PMIC on a Pi 4 = %v, want ErrNotAvailable with the firmware's answer", err)
	}
}

func TestVcgencmdMissing(t *testing.T) {
	t.Parallel()
	for _, prog := range []string{filepath.Join(t.TempDir(), "vcgencmd"), "veille-no-such-vcgencmd"} {
		b := Board{Vcgencmd: prog}
		if _, err := b.Throttled(t.Context()); !errors.Is(err, ErrNotAvailable) {
			t.Errorf("Throttled with %s = %v, want ErrNotAvailable", prog, err)
		}
		if _, err := b.PMIC(t.Context()); !errors.Is(err, ErrNotAvailable) {
			t.Errorf("PMIC with %s = %v, want ErrNotAvailable", prog, err)
		}
	}
}

func TestVcgencmdFails(t *testing.T) {
	t.Parallel()
	prog := filepath.Join(t.TempDir(), "vcgencmd")
	writeFile(t, prog, "#!/bin/sh\necho \"Can't open device file: /dev/vcio\" >&2\nexit 255\n")
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Board{Vcgencmd: prog}.Throttled(t.Context())
	if err == nil || errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "Can't open device file") {
		t.Fatalf("Throttled with a failing vcgencmd = %v, want its message", err)
	}
}

func TestVcgencmdTimeout(t *testing.T) {
	t.Parallel()
	b := Board{Vcgencmd: fakeVcgencmd(t, "", "pmic_read_adc_pi5.txt"), Timeout: 50 * time.Millisecond}
	_, err := b.vcgencmd(t.Context(), "hang")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("vcgencmd that hangs = %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
