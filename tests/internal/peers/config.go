package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Config describes a configuration of `veille demo` for a test: the
// demo's hardware (the Pi on an INA226, a media disk on an INA260 with its
// unit, a button) and the embedded broker, with the node, schedule and
// cadences the test needs. An empty field takes the default noted.
type Config struct {
	Node          string // "demo"
	Interval      string // sampling interval: "10s"
	Checkpoint    string // energy checkpoint interval: "15m"
	Enabled       bool   // the schedule
	Windows       string // [[schedule.window]] blocks (Window)
	MinAwake      string // "30m"
	Retry         string // retry_every: "5m"
	IdleSpindown  string // the media disk's: "0s" (off)
	ButtonLong    string // the button's long press: "shutdown"
	StateInterval string // Home Assistant state: "60s"
	Batch         int    // samples per telemetry frame: 6
}

// Write writes the configuration into a temporary directory of the test
// and returns its path.
func (c Config) Write(t testing.TB) string {
	t.Helper()
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	batch := c.Batch
	if batch == 0 {
		batch = 6
	}
	doc := fmt.Sprintf(`version = 1
node = %q
state_dir = "/var/lib/veille"

[sampling]
interval = %q

[[sensor]]
name = "pi"
chip = "ina226"
bus = 1
address = 0x40
shunt_resistance = "10mΩ"
max_current = "5A"

[[sensor]]
name = "media"
chip = "ina260"
bus = 1
address = 0x41

[energy]
checkpoint_interval = %q
grid_intensity = 56

[schedule]
enabled = %t
timezone = "Europe/Paris"
min_awake = %q
retry_every = %q
give_up_after = "2h"
%s
[checks]
ports = [22, 8096]
containers = false
sessions = false
inhibitors = false
processes = ["rsync"]
smart_selftest = false

[[disk]]
name = "media"
label = "media"
mount = "/srv/media"
fstype = "ext4"
units = ["jellyfin.service"]
idle_spindown = %q
min_cycle = "30m"
check = false
channel = "media"

[button]
enabled = true
line = 17
short = "stay_awake"
long = %q
double = "sleep_now"
stay_awake_hours = 1

[mqtt]
broker = "embedded"
listen = "127.0.0.1:0"

[homeassistant]
enabled = true
state_interval = %q

[telemetry]
batch = %d
`, def(c.Node, "demo"), def(c.Interval, "10s"), def(c.Checkpoint, "15m"), c.Enabled, def(c.MinAwake, "30m"), def(c.Retry, "5m"), c.Windows,
		def(c.IdleSpindown, "0s"), def(c.ButtonLong, "shutdown"), def(c.StateInterval, "60s"), batch)
	path := filepath.Join(t.TempDir(), "veille.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Window is one [[schedule.window]] block for Config.Windows, on the days
// given ("daily" when none: "weekdays", "weekends", "mon"...).
func Window(name, sleep, wake, depth string, days ...string) string {
	if len(days) == 0 {
		days = []string{"daily"}
	}
	quoted := make([]string, len(days))
	for i, d := range days {
		quoted[i] = strconv.Quote(d)
	}
	return fmt.Sprintf("\n[[schedule.window]]\nname = %q\ndays = [%s]\nsleep = %q\nwake = %q\ndepth = %q\n", name, strings.Join(quoted, ", "), sleep, wake, depth)
}
