package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleParses(t *testing.T) {
	c, err := Parse("veille.toml", Example)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if c.Sampling.Interval.D() != 10*time.Second || len(c.Sensors) != 1 || c.Sensors[0].Address != 0x40 {
		t.Errorf("unexpected example values: %+v", c.Sampling)
	}
	if got := c.Schedule.Windows[0].Sleep; got != (TimeOfDay{23, 30}) {
		t.Errorf("window sleep = %v", got)
	}
}

func TestMinimal(t *testing.T) {
	c, err := Parse("veille.toml", []byte("version = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.TopicPrefix != "veille" || len(c.Checks.Ports) == 0 || c.Telemetry.Batch != 30 {
		t.Errorf("defaults not applied: %+v", c.MQTT)
	}
}

func TestListReplacesDefault(t *testing.T) {
	c, err := Parse("veille.toml", []byte("version = 1\n[checks]\nports = [22]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Checks.Ports) != 1 || c.Checks.Ports[0] != 22 {
		t.Errorf("ports = %v, want [22]", c.Checks.Ports)
	}
	if len(c.Checks.Processes) == 0 {
		t.Errorf("processes default lost")
	}
}

func TestErrorsNameFileLineKey(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"bad time", "version = 1\n[schedule]\n[[schedule.window]]\nname = \"a\"\ndays = [\"daily\"]\nsleep = \"23:00\"\nwake = \"07:00\"\ndepth = \"disks\"\n[[schedule.window]]\nname = \"b\"\ndays = [\"mon\"]\nsleep = \"01:00\"\nwake = \"25:00\"\ndepth = \"disks\"\n",
			`veille.toml:13: schedule.window[1].wake: "25:00" is not a time of day (HH:MM)`},
		{"typo key", "version = 1\n[[sensor]]\nname = \"pi\"\nchip = \"ina226\"\nshunt_resistence = \"100mΩ\"\n",
			`veille.toml:5: sensor[0].shunt_resistence: unknown key (did you mean "shunt_resistance"?)`},
		{"wrong type", "version = 1\n[sampling]\ninterval = 10\n",
			`veille.toml:3: sampling.interval: "10" is not a duration (like 90s, 15m, 2h30m or 7d)`},
		{"range", "version = 1\n[telemetry]\nbatch = 500\n",
			`veille.toml:3: telemetry.batch: 500 samples per frame is out of range (1-120)`},
		{"missing version", "node = \"x\"\n", `veille.toml: version: missing`},
		{"end equals start", "version = 1\n[[schedule.window]]\nname = \"n\"\ndays = [\"daily\"]\nsleep = \"23:00\"\nwake = \"23:00\"\ndepth = \"system\"\n",
			`veille.toml:6: schedule.window[0].wake: the window ends when it starts (23:00)`},
		{"unknown day", "version = 1\n[[schedule.window]]\nname = \"n\"\ndays = [\"mon\", \"funday\"]\nsleep = \"23:00\"\nwake = \"07:00\"\ndepth = \"system\"\n",
			`veille.toml:4: schedule.window[0].days: "funday" is not a day`},
		{"bad zone", "version = 1\n[schedule]\ntimezone = \"Mars/Olympus\"\n",
			`veille.toml:3: schedule.timezone: "Mars/Olympus" is not a time zone`},
		{"bad shunt", "version = 1\n[[sensor]]\nname = \"pi\"\nchip = \"ina226\"\nshunt_resistance = \"lots\"\nmax_current = \"1A\"\n",
			`veille.toml:5: sensor[0].shunt_resistance: "lots" is not a resistance`},
		{"inline table key", "version = 1\n[[sensor]]\nchip = \"ina3221\"\nchannel = [{number = 4, name = \"a\", shunt_resistance = \"100mΩ\"}]\n",
			`veille.toml:4: sensor[0].channel[0].number: 4 is not an ina3221 input (1-3)`},
		{"disk without id", "version = 1\n[[disk]]\nname = \"media\"\nmount = \"/srv/media\"\n",
			`veille.toml:2: disk[0].uuid: give exactly one of uuid or label`},
		{"bare number current", "version = 1\n[[sensor]]\nname = \"pi\"\nchip = \"ina226\"\nshunt_resistance = \"100mΩ\"\nmax_current = 3\n",
			`veille.toml:6: sensor[0].max_current: "3" is not a current`},
		{"shunt range", "version = 1\n[[sensor]]\nname = \"pi\"\nchip = \"ina226\"\nshunt_resistance = \"100mΩ\"\nmax_current = \"3.2A\"\n",
			`veille.toml:6: sensor[0].max_current: 3.200A through 100mΩ drops 320mV, more than the ina226's 81.920mV shunt range`},
		{"syntax", "version = 1\n[mqtt\n", `veille.toml:2:`},
		{"password in URL", "version = 1\n[mqtt]\nbroker = \"tcp://veille:s3cret@broker:1883\"\n",
			`veille.toml:3: mqtt.broker: the URL holds a password, which would be written to the log`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/veille/veille.toml", []byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %s\nwant %s...", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml: no such configuration file") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretPermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "veille.toml")
	if err := os.WriteFile(p, []byte("version = 1\n[mqtt]\npassword = \"s3cret\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "chmod o-rwx "+p) {
		t.Errorf("warnings = %q", c.Warnings)
	}
	for _, mode := range []os.FileMode{0o600, 0o640} { // 0640 root:veille is how the package installs it
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if c, _ = Load(p); len(c.Warnings) != 0 {
			t.Errorf("warnings at mode %04o = %q", mode, c.Warnings)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := Parse("veille.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("effective.toml", out)
	if err != nil {
		t.Fatalf("effective config does not parse back: %v\n%s", err, out)
	}
	out2, _ := c2.Marshal()
	if string(out) != string(out2) {
		t.Errorf("not stable:\n%s\n---\n%s", out, out2)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"10s": 10 * time.Second, "15m": 15 * time.Minute, "2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "0": 0} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := parseDuration(formatDuration(got)); back != got {
			t.Errorf("format %v = %q does not parse back", got, formatDuration(got))
		}
	}
	for _, bad := range []string{"", "x", "-5m", "3dd"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Example)
	f.Add([]byte("version = 1\n[[schedule.window]]\nsleep = \"25:00\"\n"))
	f.Add([]byte("version = 1\n[[sensor]]\nchannel = [{number = 1}]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse("fuzz.toml", doc)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

func TestMarshalHidesPassword(t *testing.T) {
	c, err := Parse("veille.toml", []byte("version = 1\n[mqtt]\npassword = \"hunter2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), Redacted) {
		t.Errorf("effective config shows the password:\n%s", out)
	}
	if c.MQTT.Password != "hunter2" {
		t.Error("Marshal changed the configuration")
	}
}

func TestPasswordFilePermissions(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	p := filepath.Join(dir, "veille.toml")
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{{pw, "s3cret\n", 0o644}, {p, "version = 1\n[mqtt]\npassword_file = \"" + pw + "\"\n", 0o600}} {
		// Chmod too: the mode WriteFile gives depends on the umask.
		if err := os.WriteFile(f.path, []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "chmod o-rwx "+pw) {
		t.Errorf("warnings = %q", c.Warnings)
	}
	if err := os.Chmod(pw, 0o640); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(p); err != nil {
		t.Fatal(err)
	} else if len(c.Warnings) != 0 {
		t.Errorf("warnings after chmod = %q", c.Warnings)
	}
}
