package platform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// program stands in for rpi-eeprom-config with a shell snippet. It runs
// /bin/sh -c rather than a script written to disk: writing an executable
// while parallel tests fork can fail with ETXTBSY.
func program(t *testing.T, body string) BootloaderProgram {
	t.Helper()
	return BootloaderProgram{Path: "/bin/sh", Args: []string{"-c", body}}
}

func catProgram(t *testing.T, fixture string) BootloaderProgram {
	abs, err := filepath.Abs(filepath.Join("testdata", "eeprom", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return program(t, "exec cat '"+abs+"'")
}

func TestBoardOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		model  string
		compat []string
		want   Board
	}{
		{"Raspberry Pi 3 Model B Rev 1.2", []string{"raspberrypi,3-model-b", "brcm,bcm2837"}, Pi3},
		{"Raspberry Pi 3 Model B Plus Rev 1.3", nil, Pi3},
		{"Raspberry Pi 3 Model A Plus Rev 1.0", []string{"raspberrypi,3-model-a-plus", "brcm,bcm2837"}, Pi3},
		{"Raspberry Pi 4 Model B Rev 1.4", []string{"raspberrypi,4-model-b", "brcm,bcm2711"}, Pi4},
		{"Raspberry Pi 4 Model B", nil, Pi4}, // mainline device tree
		{"Raspberry Pi 400 Rev 1.0", nil, Pi400},
		{"", []string{"raspberrypi,400", "brcm,bcm2711"}, Pi400},
		{"Raspberry Pi Compute Module 4 Rev 1.0", []string{"raspberrypi,4-compute-module", "brcm,bcm2711"}, CM4},
		{"Raspberry Pi Compute Module 4S Rev 1.0", nil, Other},
		{"Raspberry Pi 5 Model B Rev 1.0", []string{"raspberrypi,5-model-b", "brcm,bcm2712"}, Pi5},
		{"Raspberry Pi 500 Rev 1.0", nil, Pi500},
		{"Raspberry Pi Compute Module 5 Rev 1.0", nil, CM5},
		{"Raspberry Pi Zero 2 W Rev 1.0", []string{"raspberrypi,model-zero-2-w", "brcm,bcm2837"}, Other},
		{"", []string{"linux,dummy-virt"}, Other},
		{"", nil, Other},
	} {
		if got := BoardOf(tc.model, tc.compat); got != tc.want {
			t.Errorf("BoardOf(%q, %q) = %q, want %q", tc.model, tc.compat, got, tc.want)
		}
	}
}

func TestBoardFacts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		b         Board
		gen       int
		rtc, gpio bool
	}{
		{Pi3, 3, false, true}, {Pi4, 4, false, true}, {Pi400, 4, false, true}, {CM4, 4, false, true},
		{Pi5, 5, true, false}, {Pi500, 5, true, false}, {CM5, 5, true, false}, {Other, 0, false, false},
	} {
		if tc.b.Generation() != tc.gen || tc.b.HasBuiltinRTC() != tc.rtc || tc.b.GPIO3Wakes() != tc.gpio {
			t.Errorf("%s: generation %d, builtin RTC %v, GPIO3 wakes %v", tc.b, tc.b.Generation(), tc.b.HasBuiltinRTC(), tc.b.GPIO3Wakes())
		}
	}
}

func TestParseDTStrings(t *testing.T) {
	t.Parallel()
	got := ParseDTStrings([]byte("raspberrypi,5-model-b\x00brcm,bcm2712\x00"))
	if want := []string{"raspberrypi,5-model-b", "brcm,bcm2712"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDTStrings = %q, want %q", got, want)
	}
	if got := ParseDTStrings(nil); got != nil {
		t.Errorf("ParseDTStrings(nil) = %q", got)
	}
}

func TestDetectPi5(t *testing.T) {
	t.Parallel()
	r, err := Detect(context.Background(), Options{Root: "testdata/pi5", Bootloader: catProgram(t, "pi5-default.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Board != Pi5 || r.Model != "Raspberry Pi 5 Model B Rev 1.0" || !r.I2C1 {
		t.Errorf("board %q model %q i2c1 %v", r.Board, r.Model, r.I2C1)
	}
	if !reflect.DeepEqual(r.WakeRTCs, []string{"rtc0"}) {
		t.Errorf("WakeRTCs = %q", r.WakeRTCs)
	}
	ok, why := r.CanWake()
	if !ok || !strings.Contains(why, "rtc0") || !strings.Contains(why, "POWER_OFF_ON_HALT=1") {
		t.Errorf("CanWake() = %v, %q", ok, why)
	}
	if len(r.Findings) != 1 {
		t.Fatalf("findings = %v, want the EEPROM warning", r.Findings)
	}
	f := r.Findings[0]
	for _, s := range []string{"POWER_OFF_ON_HALT is unset (default 0)", "WAKE_ON_GPIO is unset (default 1)"} {
		if !strings.Contains(f.Message, s) {
			t.Errorf("finding %q lacks %q", f.Message, s)
		}
	}
	if f.Severity != Warning || f.Fix != EEPROMFix || !strings.Contains(f.Fix, "sudo -E rpi-eeprom-config --edit") {
		t.Errorf("finding = %+v", f)
	}
	sum := r.Summary()
	for _, s := range []string{"board: Raspberry Pi 5 (Raspberry Pi 5 Model B Rev 1.0)", "timed wake: yes", "i2c bus 1: enabled", "warning: bootloader:"} {
		if !strings.Contains(sum, s) {
			t.Errorf("Summary lacks %q:\n%s", s, sum)
		}
	}
}

func TestDetectPi5GoodEEPROM(t *testing.T) {
	t.Parallel()
	r, err := Detect(context.Background(), Options{Root: "testdata/pi5", Bootloader: catProgram(t, "pi5-wake.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.Bootloader == nil {
		t.Errorf("findings = %v, bootloader %v", r.Findings, r.Bootloader)
	}
}

func TestDetectPi5BootloaderUnreadable(t *testing.T) {
	t.Parallel()
	r, err := Detect(context.Background(), Options{Root: "testdata/pi5", Bootloader: BootloaderProgram{Path: filepath.Join(t.TempDir(), "missing")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.BootloaderErr == nil || len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, "could not check the bootloader config") {
		t.Errorf("BootloaderErr %v, findings %v", r.BootloaderErr, r.Findings)
	}
	// Skipping runs nothing and reports nothing.
	r, err = Detect(context.Background(), Options{Root: "testdata/pi5", SkipBootloader: true, Bootloader: BootloaderProgram{Path: "/nonexistent"}})
	if err != nil || r.BootloaderErr != nil || len(r.Findings) != 0 {
		t.Errorf("SkipBootloader: %v %v %v", err, r.BootloaderErr, r.Findings)
	}
}

func TestDetectCM5DefaultsPowerOff(t *testing.T) {
	t.Parallel()
	// A CM5 defaults POWER_OFF_ON_HALT to 1: only WAKE_ON_GPIO is flagged.
	r, err := Detect(context.Background(), Options{Root: "testdata/cm5", Bootloader: catProgram(t, "pi5-default.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Board != CM5 || len(r.Findings) != 1 {
		t.Fatalf("board %q findings %v", r.Board, r.Findings)
	}
	if m := r.Findings[0].Message; strings.Contains(m, "POWER_OFF_ON_HALT") || !strings.Contains(m, "WAKE_ON_GPIO") {
		t.Errorf("finding %q", m)
	}
}

func TestDetectPi4WithoutRTC(t *testing.T) {
	t.Parallel()
	// The bootloader program must not run on a Pi 4: point it at something
	// that would fail.
	r, err := Detect(context.Background(), Options{Root: "testdata/pi4", Bootloader: BootloaderProgram{Path: "/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Board != Pi4 || len(r.WakeRTCs) != 0 || r.Bootloader != nil || r.BootloaderErr != nil || len(r.Findings) != 0 {
		t.Fatalf("report %+v", r)
	}
	ok, why := r.CanWake()
	if ok {
		t.Fatal("CanWake() = true on a Pi 4 without RTC")
	}
	for _, s := range []string{"no RTC", "wakeup-source", "Witty Pi", "PiJuice", "GPIO3", "GLOBAL_EN", `"disks"`} {
		if !strings.Contains(why, s) {
			t.Errorf("CanWake explanation lacks %q: %s", s, why)
		}
	}
	if sum := r.Summary(); !strings.Contains(sum, "timed wake: no: ") {
		t.Errorf("Summary: %s", sum)
	}
}

func TestDetectPi4WithRTCHat(t *testing.T) {
	t.Parallel()
	r, err := Detect(context.Background(), Options{Root: "testdata/pi4-ds3231"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.WakeRTCs, []string{"rtc0"}) || r.I2C1 {
		t.Errorf("WakeRTCs %q (rtc1 has no wakealarm), i2c1 %v", r.WakeRTCs, r.I2C1)
	}
	if ok, why := r.CanWake(); !ok || strings.Contains(why, "POWER_OFF_ON_HALT") {
		t.Errorf("CanWake() = %v, %q", ok, why)
	}
}

func TestDetectOtherAndEmptyRoot(t *testing.T) {
	t.Parallel()
	r, err := Detect(context.Background(), Options{Root: "testdata/qemu-virt"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Board != Other || r.Model != "" || len(r.WakeRTCs) != 1 {
		t.Errorf("report %+v", r)
	}
	if !strings.Contains(r.Summary(), "board: other (no device-tree model)") {
		t.Errorf("Summary: %s", r.Summary())
	}
	r, err = Detect(context.Background(), Options{Root: t.TempDir()})
	if err != nil || r.Board != Other {
		t.Fatalf("empty root: %+v, %v", r, err)
	}
	if ok, why := r.CanWake(); ok || !strings.Contains(why, "Options") {
		t.Errorf("CanWake() on an empty root = %v, %q", ok, why)
	}
	// A Pi 5 without the RTC driver gets the driver hint, not the HAT list.
	r = &Report{Board: Pi5}
	if ok, why := r.CanWake(); ok || !strings.Contains(why, "rpi-rtc") || strings.Contains(why, "PiJuice") {
		t.Errorf("Pi 5 without wakealarm: %v, %q", ok, why)
	}
}

func TestDetectUnreadableTree(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// model is a directory: reading it fails with something other than
	// "does not exist", which is an error.
	if err := os.MkdirAll(filepath.Join(root, "proc", "device-tree", "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Detect(context.Background(), Options{Root: root}); err == nil || !strings.Contains(err.Error(), "device tree model") {
		t.Errorf("Detect() error = %v", err)
	}
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sys", "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sys", "class", "rtc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Detect(context.Background(), Options{Root: root}); err == nil || !strings.Contains(err.Error(), "list RTCs") {
		t.Errorf("Detect() error = %v", err)
	}
}

func TestParseBootloaderConfig(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/eeprom/pi5-conditional.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ParseBootloaderConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// [pi5] applies to the 5 family, not to a Pi 4; [gpio4=1] never decides.
	for _, tc := range []struct {
		key   string
		b     Board
		want  string
		found bool
	}{
		{"POWER_OFF_ON_HALT", Pi5, "1", true},
		{"POWER_OFF_ON_HALT", CM5, "1", true},
		{"POWER_OFF_ON_HALT", Pi4, "0", true},
		{"WAKE_ON_GPIO", Pi5, "1", true},
		{"BOOT_UART", Pi5, "1", true},
		{"BOOT_ORDER", Pi5, "", false},
	} {
		got, found := cfg.Get(tc.key, tc.b)
		if got != tc.want || found != tc.found {
			t.Errorf("Get(%s, %s) = %q, %v; want %q, %v", tc.key, tc.b, got, found, tc.want, tc.found)
		}
	}
	if fs := CheckWakeEEPROM(cfg, Pi5); len(fs) != 1 || !strings.Contains(fs[0].Message, "WAKE_ON_GPIO=1") || strings.Contains(fs[0].Message, "POWER_OFF_ON_HALT") {
		t.Errorf("CheckWakeEEPROM = %v", fs)
	}
	if fs := CheckWakeEEPROM(cfg, Pi4); fs != nil {
		t.Errorf("CheckWakeEEPROM on a Pi 4 = %v, want nothing", fs)
	}
	for _, bad := range []string{"[all\n", "[]\n", "JUST_A_WORD\n", "=1\n", "TWO WORDS=1\n"} {
		if _, err := ParseBootloaderConfig(strings.NewReader("BOOT_UART=1\n" + bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseBootloaderConfig(%q) error = %v, want one naming line 2", bad, err)
		}
	}
}

func TestBootloaderProgramFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := program(t, "echo 'VCHI initialization failed' >&2; exit 1")
	_, err := p.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "VCHI initialization failed") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("failing program: %v", err)
	}
	p = program(t, "echo 'not a config line'")
	if _, err := p.Read(ctx); err == nil || !strings.Contains(err.Error(), "not KEY=VALUE") {
		t.Errorf("garbage output: %v", err)
	}
	// A program that never finishes is stopped at the timeout; what is
	// checked is the outcome, not how long it took.
	p = program(t, "exec sleep 600")
	p.Timeout = time.Millisecond
	if _, err := p.Read(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within 1ms") {
		t.Errorf("hanging program: %v", err)
	}
	p = BootloaderProgram{Path: filepath.Join(t.TempDir(), "nope")}
	if _, err := p.Read(ctx); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing program: %v", err)
	}
}

func TestCheckButton(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		facts ButtonFacts
		want  []string // substrings, one per expected finding, in order
	}{
		{"no button", ButtonFacts{Board: Pi4, ButtonGPIO: -1, SensorBuses: []int{1}}, nil},
		{"pi4 gpio3 with sensors on bus 1", ButtonFacts{Board: Pi4, ButtonGPIO: 3, SensorBuses: []int{1}, WantWake: true},
			[]string{"GPIO3, which is I2C bus 1's SCL"}},
		{"pi4 gpio3 with bus 1 enabled only", ButtonFacts{Board: Pi4, ButtonGPIO: 3, I2C1Enabled: true},
			[]string{"I2C bus 1's SCL"}},
		{"pi4 gpio3, sensors elsewhere", ButtonFacts{Board: Pi4, ButtonGPIO: 3, SensorBuses: []int{3}, WantWake: true}, nil},
		{"pi4 gpio17 wants wake", ButtonFacts{Board: Pi4, ButtonGPIO: 17, SensorBuses: []int{1}, WantWake: true},
			[]string{"GPIO17 cannot wake a halted Raspberry Pi 4"}},
		{"pi4 gpio17 no wake", ButtonFacts{Board: Pi4, ButtonGPIO: 17, SensorBuses: []int{1}}, nil},
		{"pi5 gpio3 wants wake", ButtonFacts{Board: Pi5, ButtonGPIO: 3, SensorBuses: []int{1}, WantWake: true},
			[]string{"I2C bus 1's SCL", "power button"}},
		{"pi5 gpio17 wants wake", ButtonFacts{Board: Pi5, ButtonGPIO: 17, WantWake: true}, []string{"power button"}},
		{"gpio2 is SDA", ButtonFacts{Board: Pi3, ButtonGPIO: 2, SensorBuses: []int{1}, WantWake: true},
			[]string{"I2C bus 1's SDA", "GPIO2 does not wake"}},
	} {
		got := CheckButton(tc.facts)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d findings %v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, s := range tc.want {
			if !strings.Contains(got[i].Message, s) {
				t.Errorf("%s: finding %d %q lacks %q", tc.name, i, got[i].Message, s)
			}
		}
	}
	f := CheckButton(ButtonFacts{Board: Pi4, ButtonGPIO: 3, SensorBuses: []int{1}})[0]
	if f.Severity != Problem || !strings.Contains(f.Fix, "GPIO17") || !strings.Contains(f.Fix, "i2c3..i2c6") || !strings.Contains(f.Fix, "GLOBAL_EN") {
		t.Errorf("pi4 conflict finding %+v", f)
	}
	f = CheckButton(ButtonFacts{Board: Pi5, ButtonGPIO: 3, SensorBuses: []int{1}})[0]
	if strings.Contains(f.Fix, "i2c3..i2c6") || strings.Contains(f.Fix, "GLOBAL_EN") {
		t.Errorf("pi5 conflict fix mentions Pi 4 only options: %q", f.Fix)
	}
}

func FuzzParseBootloaderConfig(f *testing.F) {
	for _, s := range []string{"[all]\nPOWER_OFF_ON_HALT=1\n", "# c\n\nA=B=C\n[pi5]\nX=\n", "[", "=", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseBootloaderConfig(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, st := range cfg.Settings {
			if st.Key == "" || strings.ContainsAny(st.Key, " \t=") || st.Line < 1 {
				t.Fatalf("bad setting %+v from %q", st, s)
			}
			if _, found := cfg.Get(st.Key, Pi5); !found && sectionApplies(st.Section, Pi5) {
				t.Fatalf("Get(%q) not found though set in %q", st.Key, st.Section)
			}
		}
		CheckWakeEEPROM(cfg, Pi5)
	})
}

func FuzzParseDTStrings(f *testing.F) {
	f.Add([]byte("raspberrypi,5-model-b\x00brcm,bcm2712\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range ParseDTStrings(b) {
			if s == "" || strings.ContainsRune(s, 0) {
				t.Fatalf("ParseDTStrings(%q) gave %q", b, s)
			}
		}
		BoardOf("", ParseDTStrings(b))
	})
}
