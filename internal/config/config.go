// Package config is veille's configuration: one TOML file, versioned and
// strict. An unknown key, a wrong type or an out-of-range value is an error
// that names the file, the line and the key and says what was expected:
//
//	veille.toml:12: schedule.window[1].wake: "25:00" is not a time of day (HH:MM)
//
// Defaults make a minimal file work. The package is a leaf: it imports no
// implementation package, and the agent translates these plain values into
// the options of each part.
package config

import (
	_ "embed"
	"fmt"
	"os"
)

// Version is the configuration schema this build reads.
const Version = 1

// Example is the example configuration with every key commented; it is what
// the SD-card image and the Debian package ship as /etc/veille/veille.toml.
//
//go:embed example.toml
var Example []byte

// Config is a whole veille.toml.
type Config struct {
	Version  int    `toml:"version" comment:"schema version of this file"`
	Node     string `toml:"node"`
	StateDir string `toml:"state_dir"`
	LogLevel string `toml:"log_level"`
	DryRun   bool   `toml:"dry_run"`
	// Root prefixes every kernel path (/sys, /proc, /dev); "" on a Pi.
	Root string `toml:"root"`

	Sampling      Sampling      `toml:"sampling"`
	Sensors       []Sensor      `toml:"sensor"`
	Hwmon         []Hwmon       `toml:"hwmon"`
	System        System        `toml:"system"`
	Energy        Energy        `toml:"energy"`
	Schedule      Schedule      `toml:"schedule"`
	Checks        Checks        `toml:"checks"`
	Disks         []Disk        `toml:"disk"`
	Button        Button        `toml:"button"`
	MQTT          MQTT          `toml:"mqtt"`
	HomeAssistant HomeAssistant `toml:"homeassistant"`
	Telemetry     Telemetry     `toml:"telemetry"`
	Power         Power         `toml:"power"`
	Simulation    Simulation    `toml:"simulation"`

	// Warnings are problems that do not stop veille (for example a
	// password in a file others can read).
	Warnings []string `toml:"-"`
	// File is where the configuration was read from.
	File string `toml:"-"`

	keys *keyIndex
}

// Problem returns an error about key, placed at the key's line, for checks
// made outside this package (a policy the scheduler refuses, a sensor that
// is bound to a kernel driver).
func (c *Config) Problem(key, format string, args ...any) *Problem {
	return &Problem{File: c.File, Line: c.keys.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Sampling sets how often sensors are read.
type Sampling struct {
	Interval Duration `toml:"interval"`
}

// Sensor is an INA power monitor on an I2C bus, driven by veille.
type Sensor struct {
	Name            string     `toml:"name"`
	Chip            string     `toml:"chip"`
	Bus             int        `toml:"bus"`
	Address         int        `toml:"address"`
	ShuntResistance Resistance `toml:"shunt_resistance"`
	MaxCurrent      Current    `toml:"max_current"`
	// AdcAveraging is the chip's averaging count; 0 matches the time
	// between readings (the sampling interval, or a fraction of it when the
	// chip cannot average so long) so the readings cover all of it.
	AdcAveraging int `toml:"adc_averaging"`
	// AdcTime is the conversion time ("auto" or like "1.1ms").
	AdcTime string `toml:"adc_time"`
	// MaxVoltage selects the INA219 bus range: "16V" or "32V".
	MaxVoltage Voltage `toml:"max_voltage"`
	// AdcRange is the INA228 shunt range: 0 = ±163.84 mV, 1 = ±40.96 mV.
	AdcRange int       `toml:"adc_range"`
	Channels []Channel `toml:"channel"`
}

// Channel is one input of an INA3221.
type Channel struct {
	Number          int        `toml:"number"`
	Name            string     `toml:"name"`
	ShuntResistance Resistance `toml:"shunt_resistance"`
}

// Hwmon is a power sensor already owned by a kernel hwmon driver.
type Hwmon struct {
	Name    string `toml:"name"`
	Device  string `toml:"device"`
	Channel int    `toml:"channel"`
}

// System enables the Pi's own readings.
type System struct {
	SocTemperature bool   `toml:"soc_temperature"`
	Throttling     bool   `toml:"throttling"`
	PMIC           bool   `toml:"pmic"`
	Vcgencmd       string `toml:"vcgencmd"`
}

// Energy sets persistence and the savings/CO2e estimates.
type Energy struct {
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	// GridIntensity is the grid's carbon intensity in gCO2e per kWh.
	GridIntensity float64 `toml:"grid_intensity"`
}

// Schedule is the weekly sleep plan.
type Schedule struct {
	Enabled          bool        `toml:"enabled"`
	Timezone         string      `toml:"timezone"`
	MinAwake         Duration    `toml:"min_awake"`
	RetryEvery       Duration    `toml:"retry_every"`
	GiveUpAfter      Duration    `toml:"give_up_after"`
	WakeBeforeTimers Duration    `toml:"wake_before_timers"`
	Timers           []string    `toml:"timers"`
	Windows          []Window    `toml:"window"`
	Exceptions       []Exception `toml:"exception"`
}

// Window is a weekly sleep window.
type Window struct {
	Name  string    `toml:"name"`
	Days  []string  `toml:"days"`
	Sleep TimeOfDay `toml:"sleep"`
	Wake  TimeOfDay `toml:"wake"`
	Depth string    `toml:"depth"`
}

// Exception changes the plan on dated days.
type Exception struct {
	Name string `toml:"name"`
	Date Date   `toml:"date"`
	// Until makes the exception a range of days (inclusive).
	Until Date `toml:"until"`
	// Mode is "awake" (no window starts on those days) or "sleep" (the
	// given times replace the usual windows).
	Mode  string    `toml:"mode"`
	Sleep TimeOfDay `toml:"sleep"`
	Wake  TimeOfDay `toml:"wake"`
	Depth string    `toml:"depth"`
}

// Checks are the activity checks that postpone sleep.
type Checks struct {
	Ports          []int    `toml:"ports"`
	Containers     bool     `toml:"containers"`
	Sessions       bool     `toml:"sessions"`
	Inhibitors     bool     `toml:"inhibitors"`
	Processes      []string `toml:"processes"`
	LoadAverage    float64  `toml:"load_average"`
	NetworkRate    ByteRate `toml:"network_rate"`
	DiskIORate     ByteRate `toml:"disk_io_rate"`
	SmartSelfTest  bool     `toml:"smart_selftest"`
	Smartctl       string   `toml:"smartctl"`
	Command        []string `toml:"command"`
	CommandTimeout Duration `toml:"command_timeout"`
}

// Disk is a USB disk that veille may put to sleep.
type Disk struct {
	Name          string   `toml:"name"`
	UUID          string   `toml:"uuid"`
	Label         string   `toml:"label"`
	Mount         string   `toml:"mount"`
	FSType        string   `toml:"fstype"`
	Options       string   `toml:"options"`
	Units         []string `toml:"units"`
	AutoUnits     bool     `toml:"auto_units"`
	SpinDown      string   `toml:"spin_down"`
	CutPower      bool     `toml:"cut_power"`
	IdleSpinDown  Duration `toml:"idle_spindown"`
	MinCycle      Duration `toml:"min_cycle"`
	Check         bool     `toml:"check"`
	AppearTimeout Duration `toml:"appear_timeout"`
	Channel       string   `toml:"channel"`
}

// Button is the physical push button.
type Button struct {
	Enabled        bool     `toml:"enabled"`
	Chip           string   `toml:"chip"`
	Line           int      `toml:"line"`
	ActiveLow      bool     `toml:"active_low"`
	Debounce       Duration `toml:"debounce"`
	LongPress      Duration `toml:"long_press"`
	DoublePress    Duration `toml:"double_press"`
	Short          string   `toml:"short"`
	Long           string   `toml:"long"`
	Double         string   `toml:"double"`
	StayAwakeHours float64  `toml:"stay_awake_hours"`
}

// MQTT is the broker connection.
type MQTT struct {
	Broker             string   `toml:"broker"`
	Listen             string   `toml:"listen"`
	ClientID           string   `toml:"client_id"`
	Username           string   `toml:"username"`
	Password           string   `toml:"password"`
	PasswordFile       string   `toml:"password_file"`
	CAFile             string   `toml:"ca_file"`
	CertFile           string   `toml:"cert_file"`
	KeyFile            string   `toml:"key_file"`
	InsecureSkipVerify bool     `toml:"insecure_skip_verify"`
	KeepAlive          Duration `toml:"keepalive"`
	TopicPrefix        string   `toml:"topic_prefix"`
	SpoolMaxSize       ByteSize `toml:"spool_max_size"`
	SpoolMaxAge        Duration `toml:"spool_max_age"`
}

// HomeAssistant is the Home Assistant integration.
type HomeAssistant struct {
	Enabled         bool     `toml:"enabled"`
	DiscoveryPrefix string   `toml:"discovery_prefix"`
	Discovery       string   `toml:"discovery"`
	StateInterval   Duration `toml:"state_interval"`
}

// Telemetry is the CBOR stream.
type Telemetry struct {
	Batch int `toml:"batch"`
}

// Power is the whole-system sleep.
type Power struct {
	RTC         string `toml:"rtc"`
	EEPROMCheck bool   `toml:"eeprom_check"`
}

// Simulation replaces hardware with veille's simulated world, for the demo
// and for test machines (the QEMU image test) that have no sensors.
type Simulation struct {
	// Sensors puts every [[sensor]] on an emulated I2C bus fed by a load
	// model; everything else (sysfs, systemd, logind, the RTC) stays real.
	Sensors bool `toml:"sensors"`
}

// Default returns the configuration a minimal file starts from.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Version:  Version,
		Node:     sanitizeNode(host),
		StateDir: "/var/lib/veille",
		LogLevel: "info",
		Sampling: Sampling{Interval: Dur(10e9)},
		System:   System{SocTemperature: true, Throttling: true, PMIC: true, Vcgencmd: "vcgencmd"},
		Energy:   Energy{CheckpointInterval: Dur(15 * 60e9), GridIntensity: 250},
		Schedule: Schedule{
			Enabled:          true,
			Timezone:         "Local",
			MinAwake:         Dur(30 * 60e9),
			RetryEvery:       Dur(5 * 60e9),
			GiveUpAfter:      Dur(2 * 3600e9),
			WakeBeforeTimers: Dur(10 * 60e9),
		},
		Checks: Checks{
			Ports:          []int{22, 445, 2049, 8096, 32400},
			Containers:     true,
			Sessions:       true,
			Inhibitors:     true,
			Processes:      []string{"rsync", "borg", "restic", "apt", "apt-get", "dpkg", "unattended-upgr"},
			SmartSelfTest:  true,
			Smartctl:       "smartctl",
			CommandTimeout: Dur(10e9),
		},
		Button: Button{
			Line: 17, ActiveLow: true,
			Debounce: Dur(30e6), LongPress: Dur(2e9), DoublePress: Dur(400e6),
			Short: "stay_awake", Long: "shutdown", Double: "sleep_now", StayAwakeHours: 2,
		},
		MQTT: MQTT{
			Broker:       "tcp://localhost:1883",
			Listen:       "127.0.0.1:1883",
			KeepAlive:    Dur(30e9),
			TopicPrefix:  "veille",
			SpoolMaxSize: ByteSize(16 << 20),
			SpoolMaxAge:  Dur(7 * 24 * 3600e9),
		},
		HomeAssistant: HomeAssistant{
			Enabled: true, DiscoveryPrefix: "homeassistant", Discovery: "device",
			StateInterval: Dur(5 * 60e9),
		},
		Telemetry: Telemetry{Batch: 30},
		Power:     Power{RTC: "rtc0", EEPROMCheck: true},
	}
}

// diskDefaults fills what a [[disk]] leaves out.
func diskDefaults(d *Disk, set func(string) bool) {
	if !set("auto_units") {
		d.AutoUnits = true
	}
	if !set("spin_down") {
		d.SpinDown = "auto"
	}
	if !set("check") {
		d.Check = true
	}
	if !set("appear_timeout") {
		d.AppearTimeout = Dur(60e9)
	}
	if !set("min_cycle") {
		d.MinCycle = Dur(3600e9)
	}
}

// sensorDefaults fills what a [[sensor]] leaves out.
func sensorDefaults(s *Sensor, set func(string) bool) {
	if !set("bus") {
		s.Bus = 1
	}
	if !set("address") {
		s.Address = 0x40
	}
	if !set("adc_time") {
		s.AdcTime = "auto"
	}
}
