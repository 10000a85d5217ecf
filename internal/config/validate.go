package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
)

type validator struct {
	file     string
	idx      *keyIndex
	problems []*Problem
}

func (v *validator) bad(key, format string, args ...any) {
	v.problems = append(v.problems, &Problem{File: v.file, Line: v.idx.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

var (
	nodeRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	unitRE = regexp.MustCompile(`^[a-zA-Z0-9:_.@\\-]+\.(service|socket|mount|timer|target|path)$`)
)

// Chips are the INA power monitors veille drives.
var Chips = []string{"ina219", "ina226", "ina230", "ina231", "ina260", "ina3221", "ina228"}

// Actions are what the button can be set to do.
var Actions = []string{"none", "stay_awake", "wake_disks", "sleep_disks", "sleep_now", "shutdown", "reboot"}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func (v *validator) config(c *Config) {
	if !v.idx.has("version") {
		v.bad("version", "missing: the first line of veille.toml must be `version = %d`", Version)
	} else if c.Version != Version {
		v.bad("version", "%d is not a version this veille reads (it reads version %d)", c.Version, Version)
	}
	if !nodeRE.MatchString(c.Node) {
		v.bad("node", "%q is not a node name (letters, digits, _ and -, at most 64)", c.Node)
	}
	if !filepath.IsAbs(c.StateDir) {
		v.bad("state_dir", "%q is not an absolute path", c.StateDir)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		v.bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.Root != "" && !filepath.IsAbs(c.Root) {
		v.bad("root", "%q is not an absolute path", c.Root)
	}
	v.duration("sampling.interval", c.Sampling.Interval, time.Second, 10*time.Minute)

	channels := map[string]string{}
	addChannel := func(key, name string) {
		if !nameRE.MatchString(name) {
			v.bad(key, "%q is not a channel name (lower-case letters, digits, _ and -, at most 32)", name)
			return
		}
		if prev, ok := channels[name]; ok {
			v.bad(key, "channel %q is already defined at %s", name, prev)
			return
		}
		channels[name] = fmt.Sprintf("line %d", v.idx.Line(key))
	}
	for i := range c.Sensors {
		v.sensor(fmt.Sprintf("sensor[%d]", i), &c.Sensors[i], addChannel)
	}
	for i, h := range c.Hwmon {
		k := fmt.Sprintf("hwmon[%d]", i)
		addChannel(k+".name", h.Name)
		if h.Device == "" {
			v.bad(k+".device", "missing: the hwmon name (like \"ina226\") or I2C device (like \"1-0040\")")
		}
		if h.Channel < 0 || h.Channel > 3 {
			v.bad(k+".channel", "%d is not a channel (1-3, or 0 for the first)", h.Channel)
		}
	}
	v.duration("energy.checkpoint_interval", c.Energy.CheckpointInterval, time.Minute, 24*time.Hour)
	if c.Energy.GridIntensity < 0 || c.Energy.GridIntensity > 2000 {
		v.bad("energy.grid_intensity", "%g gCO2e/kWh is out of range (0-2000)", c.Energy.GridIntensity)
	}
	v.schedule(&c.Schedule)
	v.checks(&c.Checks)
	disks := map[string]bool{}
	for i := range c.Disks {
		v.disk(fmt.Sprintf("disk[%d]", i), &c.Disks[i], disks, channels)
	}
	v.button(&c.Button)
	v.mqtt(&c.MQTT)
	ha := &c.HomeAssistant
	if !slices.Contains([]string{"device", "component"}, ha.Discovery) {
		v.bad("homeassistant.discovery", "%q is not device (Home Assistant 2024.12 and later) or component (older, openHAB, Domoticz)", ha.Discovery)
	}
	if ha.DiscoveryPrefix == "" || strings.ContainsAny(ha.DiscoveryPrefix, "+#") {
		v.bad("homeassistant.discovery_prefix", "%q is not a topic prefix", ha.DiscoveryPrefix)
	}
	v.duration("homeassistant.state_interval", ha.StateInterval, 5*time.Second, time.Hour)
	if c.Telemetry.Batch < 1 || c.Telemetry.Batch > 120 {
		v.bad("telemetry.batch", "%d samples per frame is out of range (1-120)", c.Telemetry.Batch)
	}
	if !regexp.MustCompile(`^rtc[0-9]+$`).MatchString(c.Power.RTC) {
		v.bad("power.rtc", "%q is not an RTC name (like rtc0)", c.Power.RTC)
	}
}

func (v *validator) duration(key string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		v.bad(key, "%s is out of range (%s to %s)", formatDuration(d.D()), formatDuration(lo), formatDuration(hi))
	}
}

// shuntRange is each chip's largest shunt voltage (INA219 with PGA /8,
// INA228 with ADCRANGE 0).
var shuntRange = map[string]physic.ElectricPotential{
	"ina219": 320 * physic.MilliVolt, "ina226": 81920 * physic.MicroVolt, "ina230": 81920 * physic.MicroVolt,
	"ina231": 81920 * physic.MicroVolt, "ina228": 163840 * physic.MicroVolt,
}

var (
	ina219Avg = []int{0, 1, 2, 4, 8, 16, 32, 64, 128}
	inaAvg    = []int{0, 1, 4, 16, 64, 128, 256, 512, 1024}
)

func (v *validator) sensor(k string, s *Sensor, addChannel func(key, name string)) {
	if !slices.Contains(Chips, s.Chip) {
		v.bad(k+".chip", "%q is not a supported chip (%s)", s.Chip, strings.Join(Chips, ", "))
		return
	}
	if s.Bus < 0 || s.Bus > 255 {
		v.bad(k+".bus", "%d is not an I2C bus number (the N of /dev/i2c-N)", s.Bus)
	}
	lo, hi := 0x40, 0x4f
	if s.Chip == "ina3221" {
		hi = 0x43
	}
	if s.Address < lo || s.Address > hi {
		v.bad(k+".address", "0x%02x is not an address an %s can have (0x%02x-0x%02x)", s.Address, s.Chip, lo, hi)
	}
	switch s.Chip {
	case "ina3221":
		if s.Name != "" {
			v.bad(k+".name", "an ina3221 has three inputs: name them in [[sensor.channel]] tables instead")
		}
		if len(s.Channels) == 0 {
			v.bad(k+".channel", "missing: an ina3221 needs at least one [[sensor.channel]] with number, name and shunt_resistance")
		}
		seen := map[int]bool{}
		for j, ch := range s.Channels {
			ck := fmt.Sprintf("%s.channel[%d]", k, j)
			if ch.Number < 1 || ch.Number > 3 {
				v.bad(ck+".number", "%d is not an ina3221 input (1-3)", ch.Number)
			} else if seen[ch.Number] {
				v.bad(ck+".number", "input %d is listed twice", ch.Number)
			}
			seen[ch.Number] = true
			addChannel(ck+".name", ch.Name)
			if ch.ShuntResistance.V() == 0 {
				v.bad(ck+".shunt_resistance", "missing: the shunt resistor of this input (like \"100mΩ\")")
			}
		}
	default:
		addChannel(k+".name", s.Name)
		if len(s.Channels) > 0 {
			v.bad(k+".channel", "only an ina3221 has several inputs")
		}
		if s.Chip == "ina260" {
			if s.ShuntResistance.V() != 0 {
				v.bad(k+".shunt_resistance", "an ina260 has its own 2 mΩ shunt; remove this key")
			}
		} else {
			if s.ShuntResistance.V() == 0 {
				v.bad(k+".shunt_resistance", "missing: the shunt resistor on the board (often \"100mΩ\" on modules)")
			}
			if s.MaxCurrent.V() == 0 {
				v.bad(k+".max_current", "missing: the largest current you expect (like \"3.2A\"); it sets the resolution")
			}
		}
	}
	if r, ok := shuntRange[s.Chip]; ok && s.ShuntResistance.V() > 0 && s.MaxCurrent.V() > 0 {
		// The drop at full current must fit the chip's shunt input.
		drop := float64(s.MaxCurrent.V()) * float64(s.ShuntResistance.V()) / 1e9 // nV
		if drop > float64(r) {
			v.bad(k+".max_current", "%s through %s drops %s, more than the %s's %s shunt range: lower max_current (at most %s) or use a smaller shunt",
				s.MaxCurrent.V(), s.ShuntResistance.V(), physic.ElectricPotential(drop), s.Chip, r,
				physic.ElectricCurrent(float64(r)/float64(s.ShuntResistance.V())*1e9))
		}
	}
	avg := inaAvg
	if s.Chip == "ina219" {
		avg = ina219Avg
	}
	if !slices.Contains(avg, s.AdcAveraging) {
		v.bad(k+".adc_averaging", "%d is not an averaging count of the %s (%s; 0 = match the sampling interval)", s.AdcAveraging, s.Chip, joinInts(avg[1:]))
	}
	if s.AdcTime != "auto" {
		if d, err := time.ParseDuration(s.AdcTime); err != nil || d <= 0 {
			v.bad(k+".adc_time", "%q is not \"auto\" or a conversion time (like \"1.1ms\")", s.AdcTime)
		}
	}
	if s.MaxVoltage.V() != 0 {
		if s.Chip != "ina219" {
			v.bad(k+".max_voltage", "only the ina219 has a selectable bus range")
		} else if s.MaxVoltage.V() != 16*physic.Volt && s.MaxVoltage.V() != 32*physic.Volt {
			v.bad(k+".max_voltage", "the ina219 bus range is \"16V\" or \"32V\"")
		}
	}
	if s.AdcRange != 0 {
		if s.Chip != "ina228" {
			v.bad(k+".adc_range", "only the ina228 has adc_range")
		} else if s.AdcRange != 1 {
			v.bad(k+".adc_range", "%d is not 0 (±163.84 mV) or 1 (±40.96 mV)", s.AdcRange)
		}
	}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// ParseDays expands a window's days into a weekday set. Besides "mon"…"sun"
// it accepts "daily", "weekdays" and "weekends".
func ParseDays(days []string) (set [7]bool, err error) {
	if len(days) == 0 {
		return set, fmt.Errorf("missing: the days the window starts on (like [\"mon\", \"tue\"] or [\"daily\"])")
	}
	for _, d := range days {
		switch strings.ToLower(d) {
		case "daily", "everyday":
			for i := range set {
				set[i] = true
			}
		case "weekdays":
			for i := 1; i <= 5; i++ {
				set[i] = true
			}
		case "weekends", "weekend":
			set[0], set[6] = true, true
		default:
			i := slices.Index(dayNames, strings.ToLower(d))
			if i < 0 && len(d) > 3 {
				i = slices.Index(dayNames, strings.ToLower(d[:3]))
			}
			if i < 0 {
				return set, fmt.Errorf("%q is not a day (mon, tue, wed, thu, fri, sat, sun, daily, weekdays, weekends)", d)
			}
			set[i] = true
		}
	}
	return set, nil
}

var locCache sync.Map

// Location loads the schedule's time zone.
func (s *Schedule) Location() (*time.Location, error) {
	if s.Timezone == "" || s.Timezone == "Local" {
		return time.Local, nil
	}
	if l, ok := locCache.Load(s.Timezone); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, err
	}
	locCache.Store(s.Timezone, l)
	return l, nil
}

func (v *validator) schedule(s *Schedule) {
	if _, err := s.Location(); err != nil {
		v.bad("schedule.timezone", "%q is not a time zone (like \"Europe/Paris\"; see timedatectl list-timezones)", s.Timezone)
	}
	v.duration("schedule.min_awake", s.MinAwake, 0, 24*time.Hour)
	v.duration("schedule.retry_every", s.RetryEvery, 30*time.Second, 6*time.Hour)
	v.duration("schedule.give_up_after", s.GiveUpAfter, 0, 24*time.Hour)
	v.duration("schedule.wake_before_timers", s.WakeBeforeTimers, 0, 6*time.Hour)
	for i, t := range s.Timers {
		if !unitRE.MatchString(t) || !strings.HasSuffix(t, ".timer") {
			v.bad(fmt.Sprintf("schedule.timers[%d]", i), "%q is not a systemd timer unit (like \"borgmatic.timer\")", t)
		}
	}
	names := map[string]bool{}
	for i, w := range s.Windows {
		k := fmt.Sprintf("schedule.window[%d]", i)
		if w.Name == "" {
			v.bad(k+".name", "missing: a name for this window (like \"night\")")
		} else if names[w.Name] {
			v.bad(k+".name", "window %q is defined twice", w.Name)
		}
		names[w.Name] = true
		if _, err := ParseDays(w.Days); err != nil {
			v.bad(k+".days", "%v", err)
		}
		if !v.idx.has(k + ".sleep") {
			v.bad(k+".sleep", "missing: when the window starts (\"HH:MM\")")
		}
		if !v.idx.has(k + ".wake") {
			v.bad(k+".wake", "missing: when the window ends (\"HH:MM\")")
		}
		if v.idx.has(k+".sleep") && v.idx.has(k+".wake") && w.Sleep == w.Wake {
			v.bad(k+".wake", "the window ends when it starts (%02d:%02d); a window needs a length", w.Wake.Hour, w.Wake.Minute)
		}
		v.depth(k+".depth", w.Depth)
	}
	for i, e := range s.Exceptions {
		k := fmt.Sprintf("schedule.exception[%d]", i)
		if e.Date.IsZero() {
			v.bad(k+".date", "missing: the day (\"YYYY-MM-DD\")")
		}
		if !e.Until.IsZero() && e.Until.Before(e.Date) {
			v.bad(k+".until", "ends before it starts")
		}
		switch e.Mode {
		case "awake", "":
			if e.Mode == "" {
				v.bad(k+".mode", "missing: \"awake\" (no sleep those days) or \"sleep\" (with sleep, wake and depth)")
			}
		case "sleep":
			if !v.idx.has(k+".sleep") || !v.idx.has(k+".wake") {
				v.bad(k+".sleep", "a \"sleep\" exception needs sleep and wake times")
			} else if e.Sleep == e.Wake {
				v.bad(k+".wake", "the window ends when it starts")
			}
			v.depth(k+".depth", e.Depth)
		default:
			v.bad(k+".mode", "%q is not \"awake\" or \"sleep\"", e.Mode)
		}
	}
}

func (v *validator) depth(key, d string) {
	if d != "disks" && d != "system" {
		v.bad(key, "%q is not \"disks\" (the Pi stays up, USB disks sleep) or \"system\" (the Pi halts until the window ends)", d)
	}
}

func (v *validator) checks(c *Checks) {
	for i, p := range c.Ports {
		if p < 1 || p > 65535 {
			v.bad(fmt.Sprintf("checks.ports[%d]", i), "%d is not a TCP port", p)
		}
	}
	if c.LoadAverage < 0 || c.LoadAverage > 1000 {
		v.bad("checks.load_average", "%g is out of range (0 = off)", c.LoadAverage)
	}
	for i, p := range c.Processes {
		if p == "" || strings.Contains(p, "/") || len(p) > 15 {
			v.bad(fmt.Sprintf("checks.processes[%d]", i), "%q is not a process name (as in /proc/PID/comm: no slash, at most 15 characters)", p)
		}
	}
	if len(c.Command) > 0 && !filepath.IsAbs(c.Command[0]) {
		v.bad("checks.command", "%q: give the program's absolute path (it runs without a shell)", c.Command[0])
	}
	v.duration("checks.command_timeout", c.CommandTimeout, time.Second, 5*time.Minute)
}

func (v *validator) disk(k string, d *Disk, seen map[string]bool, channels map[string]string) {
	if !nameRE.MatchString(d.Name) {
		v.bad(k+".name", "%q is not a disk name (lower-case letters, digits, _ and -)", d.Name)
	} else if seen[d.Name] {
		v.bad(k+".name", "disk %q is defined twice", d.Name)
	}
	seen[d.Name] = true
	if (d.UUID == "") == (d.Label == "") {
		v.bad(k+".uuid", "give exactly one of uuid or label (a filesystem's, see lsblk -f); never /dev/sdX, which changes between boots")
	}
	if !filepath.IsAbs(d.Mount) {
		v.bad(k+".mount", "%q is not an absolute mount point", d.Mount)
	}
	for i, u := range d.Units {
		if !unitRE.MatchString(u) {
			v.bad(fmt.Sprintf("%s.units[%d]", k, i), "%q is not a systemd unit name (like \"jellyfin.service\")", u)
		}
	}
	if !slices.Contains([]string{"auto", "scsi", "ata", "none"}, d.SpinDown) {
		v.bad(k+".spin_down", "%q is not auto, scsi, ata or none", d.SpinDown)
	}
	if d.IdleSpinDown.D() != 0 {
		v.duration(k+".idle_spindown", d.IdleSpinDown, time.Minute, 24*time.Hour)
	}
	v.duration(k+".min_cycle", d.MinCycle, 0, 24*time.Hour)
	v.duration(k+".appear_timeout", d.AppearTimeout, time.Second, 10*time.Minute)
	if d.Channel != "" {
		if _, ok := channels[d.Channel]; !ok {
			v.bad(k+".channel", "%q is not a sensor channel defined above", d.Channel)
		}
	}
}

func (v *validator) button(b *Button) {
	if !b.Enabled {
		return
	}
	if b.Line < 0 || b.Line > 511 {
		v.bad("button.line", "%d is not a GPIO line number", b.Line)
	}
	v.duration("button.debounce", b.Debounce, time.Millisecond, time.Second)
	v.duration("button.long_press", b.LongPress, b.Debounce.D()+time.Millisecond, 30*time.Second)
	v.duration("button.double_press", b.DoublePress, b.Debounce.D()+time.Millisecond, 2*time.Second)
	for _, a := range []struct{ key, val string }{{"button.short", b.Short}, {"button.long", b.Long}, {"button.double", b.Double}} {
		if !slices.Contains(Actions, a.val) {
			v.bad(a.key, "%q is not an action (%s)", a.val, strings.Join(Actions, ", "))
		}
	}
	if b.StayAwakeHours <= 0 || b.StayAwakeHours > 72 {
		v.bad("button.stay_awake_hours", "%g is out of range (0-72]", b.StayAwakeHours)
	}
}

func (v *validator) mqtt(m *MQTT) {
	if m.Broker != "embedded" {
		u, err := url.Parse(m.Broker)
		if err != nil || u.Host == "" || !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme) {
			v.bad("mqtt.broker", "%q is not a broker URL (like \"tcp://192.168.1.10:1883\" or \"ssl://broker:8883\") or \"embedded\"", m.Broker)
		} else if _, has := u.User.Password(); has {
			// The URL is logged at every connect: the password would be too.
			v.bad("mqtt.broker", "the URL holds a password, which would be written to the log; give it in mqtt.password_file (or mqtt.password) and the user in mqtt.username")
		}
	}
	if m.Password != "" && m.PasswordFile != "" {
		v.bad("mqtt.password_file", "give password or password_file, not both")
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		v.bad("mqtt.cert_file", "a client certificate needs both cert_file and key_file")
	}
	if strings.ContainsAny(m.TopicPrefix, "+#") || m.TopicPrefix == "" || strings.HasPrefix(m.TopicPrefix, "/") {
		v.bad("mqtt.topic_prefix", "%q is not a topic prefix (no wildcards, no leading slash)", m.TopicPrefix)
	}
	v.duration("mqtt.keepalive", m.KeepAlive, 5*time.Second, 10*time.Minute)
	if m.SpoolMaxSize < 64<<10 {
		v.bad("mqtt.spool_max_size", "%d bytes is too small (at least 64KiB)", m.SpoolMaxSize)
	}
	v.duration("mqtt.spool_max_age", m.SpoolMaxAge, time.Minute, 365*24*time.Hour)
}

// knownKeys lists every key name of the schema, for "did you mean".
func knownKeys() []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			seen[tag] = true
			if f.Type.PkgPath() == "" || f.Type.Kind() == reflect.Slice || f.Type.Kind() == reflect.Struct {
				if f.Type.Kind() == reflect.Struct && f.Type.Implements(reflect.TypeOf((*interface{ MarshalText() ([]byte, error) })(nil)).Elem()) {
					continue
				}
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sanitizeNode(h string) string {
	h, _, _ = strings.Cut(h, ".")
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "veille"
	}
	return b.String()
}
