// Package power runs the sleep and wake sequences of veille: the USB disks
// (stop the services that use them, sync, unmount, spin down, cut the port)
// and the whole system (disks, wake alarm, notice, record, power-off).
//
// Every step is checked, logged and emitted as an Event; every step of a
// sleep sequence is undone, in reverse, when a later step fails, so a
// failure leaves the system awake and serving, and the error names the step
// and its cause. Nothing is forced: no MNT_FORCE or MNT_DETACH, no
// spin-down of a mounted disk, no port cut that would take anything else
// down (usbdisk.CheckPortCut), no power-off against a logind inhibitor.
//
// One Controller serialises the sequences asked for by the schedule, Home
// Assistant commands and the button: a request while another sequence runs
// is refused with ErrBusy, never queued, because a queued "sleep" that
// runs after a "wake" would surprise the person who asked; the caller asks
// again on its next decision, and Abort cancels the running sequence (which
// then rolls back).
//
// The back-ends are the low-level contracts of docs/ARCHITECTURE.md:
// usbdisk.Transport for CDBs, Mounter, Units and Halter. On a Pi they are
// SG_IO and systemd/logind over D-Bus (mounts too: systemd's mount units);
// in the demo and the tests, the simulated world and a private
// dbus-daemon.
package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/clock"
)

// Mounter mounts and unmounts filesystems, in the system's mount
// namespace, never forced or lazy; a busy filesystem is an error (matching
// syscall.EBUSY). Real: systemd's mount units over D-Bus (systemd.Mounts,
// which the agent chooses when systemd answers: veille.service has a mount
// namespace of its own), or SystemMounter (mount(2)/umount2(2), never
// MNT_FORCE or MNT_DETACH) without systemd. Sim: edits
// <root>/proc/self/mountinfo; EBUSY while a file is open.
//
// source is a device node under the Root (Root+"/dev/sda1"), or for a bind
// mount the directory to bind; target is the mount point as mountinfo shows
// it; options are mount(8)-style ("rw,noatime,errors=remount-ro", "bind").
type Mounter interface {
	Mount(source, target, fstype, options string) error
	Unmount(target string) error
}

// Units controls services. Real: systemd over D-Bus (package systemd).
type Units interface {
	StopUnit(ctx context.Context, name string) error // waits for the job; error unless result "done"
	StartUnit(ctx context.Context, name string) error
	UnitsForMount(ctx context.Context, path string) ([]string, error) // active units whose RequiresMountsFor covers path
}

// Halter powers the whole system off. Real: logind over D-Bus.
type Halter interface {
	PowerOff(ctx context.Context) error // honours block inhibitors; a refusal is an error naming them
	Reboot(ctx context.Context) error
}

// WakeAlarm is the RTC wake alarm (drivers/rtc.WakeAlarm): Set clears any
// armed alarm first and reads the new one back.
type WakeAlarm interface {
	Set(t time.Time) error
	Clear() error
	Read() (t time.Time, ok bool, err error)
}

// PowerMeter reads the power drawn on a measured channel (an INA channel
// feeding a disk or a hub), in watts, from a sample taken after the call.
type PowerMeter interface {
	Power(ctx context.Context, channel string) (watts float64, err error)
}

// Disk is a disk the sequences manage.
type Disk struct {
	Name  string // what people call it, in events and messages: "media"
	UUID  string // filesystem UUID, or
	Label string // filesystem label

	// Units are stopped before the disk sleeps and started after it wakes,
	// besides (unless NoAutoUnits) the active units whose
	// RequiresMountsFor covers its mount point.
	Units       []string
	NoAutoUnits bool

	SpinDown     usbdisk.Mode // "" is auto
	SkipSpinDown bool         // an SSD: unmount (and cut) only
	CutPower     bool         // switch its USB port off after spin-down

	// PowerChannel, when set with a PowerMeter, confirms that spin-down or
	// the port cut lowered the draw by at least MinSaving watts.
	PowerChannel string
	MinSaving    float64

	// Where the filesystem belongs, for waking a disk no sleep record
	// knows about (the agent restarted while it slept). Optional.
	MountPoint, FSType, MountOptions string
}

func (d Disk) id() string {
	if d.UUID != "" {
		return "UUID " + d.UUID
	}
	return fmt.Sprintf("label %q", d.Label)
}

// Notice tells the agent the system is going away or came back, to publish
// availability and the next wake time before the network goes.
type Notice struct {
	Online   bool
	Kind     string    // "sleep", "shutdown", "reboot"
	NextWake time.Time // zero: no wake alarm
}

// Options configures a Controller.
type Options struct {
	Root     string // "/" on a Pi
	StateDir string // sleep records: /var/lib/veille
	Disks    []Disk

	// Layout says which USB ports switch together; nil detects it from
	// Root with GangedHubs.
	Layout     *usbdisk.Layout
	GangedHubs []string

	Transport usbdisk.Transport
	Mounter   Mounter
	Units     Units
	Halter    Halter
	Alarm     WakeAlarm  // nil: the system cannot wake itself (a Pi 4 without RTC)
	Meter     PowerMeter // nil: no measured confirmation

	// Check is the filesystem check run before mounting a disk that slept,
	// with the device node appended, e.g. {"fsck", "-a"}; nil skips it.
	Check []string

	Clock   clock.Clock
	Log     *slog.Logger
	OnEvent func(Event)  // every step, for MQTT and Home Assistant
	Notify  func(Notice) // before power-off, and back online after a refusal

	// DryRun logs and emits every step that would run, with the exact
	// files, CDBs and units, and touches nothing.
	DryRun bool

	WaitTimeout    time.Duration // for a disk to come back after power-on; default 60 s
	PollEvery      time.Duration // while waiting for it; default 1 s
	Settle         time.Duration // before reading the meter after a change; default 5 s
	QuietTimeout   time.Duration // for a disk's I/O (the unmount's last writes) to stop before spin-down; default 15 s
	CommandTimeout time.Duration // per CDB; default usbdisk.DefaultTimeout
	UnitTimeout    time.Duration // per unit stop or start; default 3 min
	CheckTimeout   time.Duration // per filesystem check; default 30 min
}

// ErrBusy is returned when a sequence is asked for while another runs.
var ErrBusy = errors.New("another power sequence is running")

func (o *Options) setDefaults() error {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 60 * time.Second
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.QuietTimeout <= 0 {
		o.QuietTimeout = 15 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = usbdisk.DefaultTimeout
	}
	if o.UnitTimeout <= 0 {
		o.UnitTimeout = 3 * time.Minute
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 30 * time.Minute
	}
	if o.StateDir == "" {
		return errors.New("power: no state directory")
	}
	names := map[string]bool{}
	for i, d := range o.Disks {
		if d.Name == "" {
			return fmt.Errorf("power: disk %d has no name", i+1)
		}
		if names[d.Name] {
			return fmt.Errorf("power: disk %q listed twice", d.Name)
		}
		names[d.Name] = true
		if (d.UUID == "") == (d.Label == "") {
			return fmt.Errorf("power: disk %q: give exactly one of UUID and label", d.Name)
		}
		if _, err := usbdisk.ParseMode(string(d.SpinDown)); err != nil {
			return fmt.Errorf("power: disk %q: %w", d.Name, err)
		}
		if d.MinSaving < 0 {
			return fmt.Errorf("power: disk %q: negative minimum saving", d.Name)
		}
		if d.MountPoint != "" && d.FSType == "" {
			return fmt.Errorf("power: disk %q: a mount point needs a filesystem type", d.Name)
		}
		if d.MinSaving == 0 {
			o.Disks[i].MinSaving = 0.5
		}
	}
	if len(o.Disks) > 0 && (o.Transport == nil || o.Mounter == nil || o.Units == nil) {
		return errors.New("power: disks configured without a SCSI transport, mounter and unit control")
	}
	return nil
}
