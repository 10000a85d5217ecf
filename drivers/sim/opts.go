package sim

import (
	"log/slog"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Opts describes a world. DefaultOpts gives the reference home server; tests
// start from it and change what they need.
type Opts struct {
	// Now is the world's clock (required). Tests pass a fake clock's Now,
	// the demo a fast one. The world never moves time itself.
	Now func() time.Time
	// After, if set, is a timer on the same clock; the GPIO button waits on
	// it for its next scripted edge. Without it the button polls the clock
	// every millisecond of real time while a caller waits for an edge.
	After func(d time.Duration) <-chan time.Time
	// Root is the directory the world's /proc, /sys and /dev live in. Empty:
	// a new temporary directory, removed by Close.
	Root string
	// Logger receives the world's events (a disk spinning down, the board
	// halting); nil discards them.
	Logger *slog.Logger
	// Seed makes the pseudo-random CPU bursts and I/O phases; worlds with
	// the same options and seed behave identically.
	Seed uint64
	// History, if positive, is how much of its load model's past the world
	// remembers: older rail steps are folded into a running total, so that
	// memory stays flat over a long run. ExactEnergy and RailAt then answer
	// for times at most History before the present, CumulativeEnergy for
	// any time since. The emulated chips are unaffected: a rail keeps
	// whatever a chip on it may still read. Zero keeps everything.
	History time.Duration

	Board   BoardOpts
	Hubs    []HubOpts
	Disks   []DiskOpts
	Rails   []RailOpts
	Sensors []SensorOpts
	Units   []UnitOpts
	// Listen are the TCP ports something listens on (sshd on 22, Jellyfin on
	// 8096…), shown in /proc/net/tcp and tcp6.
	Listen []uint16
	// I2CBus names the emulated bus ("I2C1"); /dev/i2c-<n> is created for it.
	I2CBus string
	// Button, if set, adds the GPIO button.
	Button *ButtonOpts
}

// BoardOpts describes the Raspberry Pi board.
type BoardOpts struct {
	// Model is the device-tree model string ("Raspberry Pi 5 Model B Rev 1.0").
	Model string
	// Compatible is the device-tree compatible list ("raspberrypi,5-model-b",
	// "brcm,bcm2712").
	Compatible []string
	// Rail is the rail the board draws from.
	Rail string
	// Idle is the running board's draw without CPU bursts (≈2.7 W).
	Idle physic.Power
	// Halted is the draw after a halt (≈15 mW on a Pi 5 with
	// POWER_OFF_ON_HALT=1).
	Halted physic.Power
	// Booting is the draw while booting or shutting down.
	Booting physic.Power
	// BootTime and ShutdownTime are how long booting and shutting down take.
	BootTime, ShutdownTime time.Duration
	// Bursts are the deterministic CPU bursts while running.
	Bursts Bursts
	// NoRTC: no /sys/class/rtc/rtc0 (a Pi 4 without an RTC HAT): a halted
	// board only wakes on the button.
	NoRTC bool
	// HaltKeepsUSB: the onboard USB ports stay powered while halted (a Pi 4,
	// or a Pi 5 without POWER_OFF_ON_HALT=1). By default they lose power.
	HaltKeepsUSB bool
	// AmbientC is the room temperature; the SoC and sensor dies follow the
	// board's power above it with a one-minute lag.
	AmbientC float64
}

// Bursts is a deterministic pseudo-random pattern: one burst of Duration at
// Power (on top of the idle draw) in every slot of length Every, at an offset
// drawn from the world's seed.
type Bursts struct {
	Every    time.Duration
	Duration time.Duration
	Power    physic.Power
}

// HubOpts describes a USB hub. Root hubs are named "usb<N>" and hang off a
// host controller; external hubs are named by their location ("2-1": bus 2,
// root port 1).
type HubOpts struct {
	Name  string
	Ports int
	// Controller is the sysfs path of a root hub's host controller.
	Controller string
	// Peer is the hub's USB 2/3 twin: port N of one and port N of the other
	// share a connector and its VBUS, which is off only when both are.
	Peer string
	// Gang names the power group: every port of every hub with the same Gang
	// shares one VBUS switch (a Pi 4 or 5's onboard ports). Empty: each port
	// (with its twin) switches on its own.
	Gang string
	// Onboard: the ports are the board's own, without power while it is
	// halted (unless BoardOpts.HaltKeepsUSB).
	Onboard bool
	// VendorID is idVendor ("2109" for a VIA Labs hub).
	VendorID string
}

// DiskOpts describes a USB disk.
type DiskOpts struct {
	Name   string // kernel name: "sda"
	Vendor string // SCSI vendor, 8 characters
	Model  string // SCSI model, 16 characters
	Serial string
	Size   int64 // bytes
	// Location is the USB device the disk is: "2-1.1" (hub 2-1, port 1).
	Location string
	// Rail is the rail that feeds the disk.
	Rail string
	// SelfPowered: the disk has its own supply, so switching its port off
	// only disconnects it (the enclosure then puts the disk in standby).
	SelfPowered bool
	Power       DiskPower
	// StandbyAfter is the drive's own standby timer (0: none).
	StandbyAfter time.Duration
	// NoSAT: the USB bridge rejects ATA PASS-THROUGH.
	NoSAT bool
	// NoStartStop: the bridge rejects START STOP UNIT (spin-down needs ATA).
	NoStartStop bool
	// IO is background I/O on the disk while one of its filesystems is
	// mounted and the board runs (a media scanner, a sync client).
	IO         IOPattern
	Partitions []PartitionOpts
}

// DiskPower is a disk's draw in each state.
type DiskPower struct {
	Standby, SpinUp, Idle, Busy physic.Power
	SpinUpTime                  time.Duration
}

// IOPattern is periodic I/O: a request of Duration every Every, at a phase
// drawn from the world's seed. A zero Every means none.
type IOPattern struct {
	Every, Duration time.Duration
	Write           bool
}

// PartitionOpts describes a partition. A MountPoint makes it an fstab entry:
// mounted when the world starts and at every boot if the disk is there.
type PartitionOpts struct {
	UUID, Label, FSType string
	MountPoint          string
	Options             string // mount options, "rw,noatime" when empty
}

// RailOpts describes a power rail: a supply of Supply volts behind a source
// resistance, optionally switched by a USB port's VBUS.
type RailOpts struct {
	Name   string
	Supply physic.ElectricPotential
	Source physic.ElectricResistance
	// Port, "hub:port" ("2-1:1"), makes the rail that port's VBUS: 0 V while
	// the port's power is off.
	Port string
}

// Chip is an INA2xx part number.
type Chip string

// The emulated chips.
const (
	ChipINA219  Chip = "ina219"
	ChipINA226  Chip = "ina226"
	ChipINA260  Chip = "ina260"
	ChipINA3221 Chip = "ina3221"
	ChipINA228  Chip = "ina228"
)

// SensorOpts places a chip on the bus.
type SensorOpts struct {
	Addr uint16
	Chip Chip
	// Rail and Shunt for single-channel chips (the INA260's shunt is inside).
	Rail  string
	Shunt physic.ElectricResistance
	// Channels for the INA3221; an empty Rail leaves the input unconnected.
	Channels [3]ChannelOpts
	// ExternalSupply: the chip is not powered from the Pi's 3.3 V, so it
	// keeps its registers across a halt.
	ExternalSupply bool
	// Kernel: a kernel driver owns the chip (ina2xx, ina3221, ina238): it
	// configured it at boot and shows it under /sys/class/hwmon, with the
	// I²C device bound in /sys/bus/i2c. The chip stays on the bus, as on a
	// Pi: writing to it clobbers the kernel's configuration.
	Kernel bool
}

// ChannelOpts is one INA3221 input.
type ChannelOpts struct {
	Rail  string
	Shunt physic.ElectricResistance
}

// UnitOpts describes a systemd unit.
type UnitOpts struct {
	Name string // "jellyfin.service"
	// RequiresMountsFor are the paths the unit needs mounted.
	RequiresMountsFor []string
	// Active: running when the world starts and after every boot.
	Active bool
	// RefuseStop: a stop job fails (the unit stays active).
	RefuseStop bool
	// Process is the main process's comm (/proc/<pid>/comm); default: the
	// unit name without its suffix, cut to 15 characters.
	Process string
	// Holds are files the process keeps open while active: a mount holding
	// one cannot be unmounted (EBUSY).
	Holds []string
	// IO is I/O the unit does on the disk under RequiresMountsFor[0] while
	// active.
	IO IOPattern
}

// ButtonOpts describes the GPIO button (active low, with a pull-up).
type ButtonOpts struct {
	Name   string // "GPIO17"
	Number int
	// WakesBoard: a press boots a halted board (the Pi 5 power button, GPIO3
	// on a Pi 4).
	WakesBoard bool
}

// Host controller paths of a Raspberry Pi 5 (RP1), as sysfs shows them.
const (
	Pi5USBController0 = "/sys/devices/platform/axi/1000120000.pcie/1f00200000.usb/xhci-hcd.0"
	Pi5USBController1 = "/sys/devices/platform/axi/1000120000.pcie/1f00300000.usb/xhci-hcd.1"
	Pi5MMCHost        = "/sys/devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa"
)

// StandardDisk is the brief's USB disk: 0.6 W in standby, 1 s at 10 W to
// spin up, 4 W spinning idle, 5.5 W busy.
var StandardDisk = DiskPower{
	Standby:    600 * physic.MilliWatt,
	SpinUp:     10 * physic.Watt,
	Idle:       4 * physic.Watt,
	Busy:       5500 * physic.MilliWatt,
	SpinUpTime: time.Second,
}

// DefaultOpts is the reference home server: a Raspberry Pi 5 (2.7 W idle at
// 5.1 V, 200 ms CPU bursts at +3 W, 15 mW halted) with an RTC, the four RP1
// root hubs ganged, an external powered USB 3 hub with per-port power
// switching (2-1, twin 1-1) and two 2.5" disks on its ports 1 and 2, each on
// its port's 5 V VBUS. Sensors on I2C1: an INA228 on the Pi's input (0x40),
// an INA226 on sda's rail (0x41), an INA3221 on all three rails (0x42), an
// INA260 on sdb's rail (0x44) and an INA219 on the Pi's input (0x45). sshd,
// Jellyfin (8096, media on sda) and Nextcloud (80/443, data on sdb) run; a
// button on GPIO17 wakes the board.
func DefaultOpts(now func() time.Time) Opts {
	return Opts{
		Now:  now,
		Seed: 1,
		Board: BoardOpts{
			Model:        "Raspberry Pi 5 Model B Rev 1.0",
			Compatible:   []string{"raspberrypi,5-model-b", "brcm,bcm2712"},
			Rail:         "pi",
			Idle:         2700 * physic.MilliWatt,
			Halted:       15 * physic.MilliWatt,
			Booting:      3500 * physic.MilliWatt,
			BootTime:     20 * time.Second,
			ShutdownTime: 5 * time.Second,
			Bursts:       Bursts{Every: 10 * time.Second, Duration: 200 * time.Millisecond, Power: 3 * physic.Watt},
			AmbientC:     22,
		},
		Hubs: []HubOpts{
			{Name: "usb1", Ports: 2, Controller: Pi5USBController0, Gang: "rp1", Onboard: true},
			{Name: "usb2", Ports: 1, Controller: Pi5USBController0, Gang: "rp1", Onboard: true, Peer: "usb1"},
			{Name: "usb3", Ports: 2, Controller: Pi5USBController1, Gang: "rp1", Onboard: true},
			{Name: "usb4", Ports: 1, Controller: Pi5USBController1, Gang: "rp1", Onboard: true, Peer: "usb3"},
			{Name: "1-1", Ports: 4, VendorID: "2109"},
			{Name: "2-1", Ports: 4, VendorID: "2109", Peer: "1-1"},
		},
		Disks: []DiskOpts{
			{
				Name: "sda", Vendor: "WD", Model: "Elements 25A2", Serial: "575834314132333435",
				Size: 2000398934016, Location: "2-1.1", Rail: "sda", Power: StandardDisk,
				Partitions: []PartitionOpts{{
					UUID: "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", Label: "media", FSType: "ext4",
					MountPoint: "/srv/media",
				}},
			},
			{
				Name: "sdb", Vendor: "Seagate", Model: "Expansion HDD", Serial: "NAAB1234",
				Size: 1000204886016, Location: "2-1.2", Rail: "sdb", Power: StandardDisk,
				Partitions: []PartitionOpts{{
					UUID: "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", Label: "cloud", FSType: "ext4",
					MountPoint: "/srv/cloud",
				}},
			},
		},
		Rails: []RailOpts{
			{Name: "pi", Supply: 5100 * physic.MilliVolt, Source: 20 * physic.MilliOhm},
			{Name: "sda", Supply: 5 * physic.Volt, Source: 50 * physic.MilliOhm, Port: "2-1:1"},
			{Name: "sdb", Supply: 5 * physic.Volt, Source: 50 * physic.MilliOhm, Port: "2-1:2"},
		},
		Sensors: []SensorOpts{
			{Addr: 0x40, Chip: ChipINA228, Rail: "pi", Shunt: 15 * physic.MilliOhm},
			{Addr: 0x41, Chip: ChipINA226, Rail: "sda", Shunt: 10 * physic.MilliOhm},
			{Addr: 0x42, Chip: ChipINA3221, Channels: [3]ChannelOpts{
				{Rail: "pi", Shunt: 100 * physic.MilliOhm},
				{Rail: "sda", Shunt: 50 * physic.MilliOhm},
				{Rail: "sdb", Shunt: 50 * physic.MilliOhm},
			}},
			{Addr: 0x44, Chip: ChipINA260, Rail: "sdb"},
			{Addr: 0x45, Chip: ChipINA219, Rail: "pi", Shunt: 100 * physic.MilliOhm},
		},
		Units: []UnitOpts{
			{Name: "ssh.service", Active: true, Process: "sshd"},
			{Name: "jellyfin.service", Active: true, RequiresMountsFor: []string{"/srv/media"},
				Holds: []string{"/srv/media/.jellyfin/library.db"}},
			{Name: "nextcloud-cron.timer", Active: true, RequiresMountsFor: []string{"/srv/cloud/data"}, Process: "php"},
		},
		Listen: []uint16{22, 80, 443, 8096},
		I2CBus: "I2C1",
		Button: &ButtonOpts{Name: "GPIO17", Number: 17, WakesBoard: true},
	}
}

// BurstyOpts is DefaultOpts with the reference load for energy-accuracy
// benchmarks: CPU bursts of 200 ms at +3 W every 10 s, and sda spinning up
// (1 s at 10 W) every 3 minutes: it reads for 300 ms every 3 minutes and
// its own standby timer spins it down 30 s after.
func BurstyOpts(now func() time.Time) Opts {
	o := DefaultOpts(now)
	o.Disks[0].StandbyAfter = 30 * time.Second
	o.Disks[0].IO = IOPattern{Every: 3 * time.Minute, Duration: 300 * time.Millisecond}
	o.Units[1].Holds = nil
	return o
}
