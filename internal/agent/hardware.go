package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/veille/veille/drivers/button"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/power"
	"github.com/veille/veille/systemd"
	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/host/v3/sysfs"
)

// fillHardware sets the real back-ends where the caller gave none.
func (a *Agent) fillHardware() {
	h := &a.hw
	if h.OpenBus == nil {
		h.OpenBus = func(bus int) (i2c.Bus, error) {
			b, err := sysfs.NewI2C(bus)
			if err != nil {
				return nil, fmt.Errorf("open /dev/i2c-%d: %w", bus, err)
			}
			return namedBus{b, fmt.Sprintf("/dev/i2c-%d", bus)}, nil
		}
	}
	if h.Button == nil {
		c := a.cfg.Button
		h.Button = func() (gpio.PinIn, error) { return button.Open(c.Chip, c.Line) }
	}
	if h.Transport == nil {
		h.Transport = usbdisk.SGIO{}
	}
	if h.Notify == nil {
		h.Notify = func(state string) error {
			_, err := daemon.SdNotify(false, state)
			return err
		}
	}
	if h.ClockSynced == nil {
		root := a.cfg.Root
		h.ClockSynced = func() bool { return clockSynced(root) }
	}
	if h.SinceBoot == nil {
		h.SinceBoot = sinceBoot
	}
}

// clockSynced tells whether the wall clock can be trusted: the kernel says
// it is disciplined (NTP), systemd-timesyncd has synchronised it, or it was
// set from an RTC at boot.
func clockSynced(root string) bool {
	var tx unix.Timex
	if state, err := unix.Adjtimex(&tx); err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0 {
		return true
	}
	if _, err := os.Stat(root + "/run/systemd/timesync/synchronized"); err == nil {
		return true
	}
	if b, err := os.ReadFile(root + "/sys/class/rtc/rtc0/hctosys"); err == nil && strings.TrimSpace(string(b)) == "1" {
		return time.Now().Year() >= 2024
	}
	return false
}

// sinceBoot is CLOCK_BOOTTIME: it counts time suspended and never steps.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// readSecret reads a password file (first line, trimmed).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// namedBus names a bus by its device path in messages ("ina226 0x40 on
// /dev/i2c-1"), where periph says "I2C1".
type namedBus struct {
	i2c.Bus
	name string
}

func (b namedBus) String() string { return b.name }

// mountTimeout bounds one mount or unmount job through systemd, as
// TimeoutStopSec= bounds veille's stop: a disk's wake (spin-up, fsck,
// mount) must end or roll back within it.
const mountTimeout = 3 * time.Minute

// defaultMounter mounts through systemd's mount units when systemd
// answers: veille.service has a mount namespace of its own
// (ProtectSystem=, PrivateTmp=...), where a mount(2) would be veille's
// alone, and it has no CAP_SYS_ADMIN. Without systemd (a container, another
// init), mount(2) and umount2(2) directly.
func (a *Agent) defaultMounter(disks []power.Disk) Mounter {
	m, ok := a.hw.Units.(*systemd.Manager)
	if !ok {
		if len(disks) > 0 {
			a.log.Warn("systemd unreachable: disks are mounted with mount(2), which needs CAP_SYS_ADMIN and the system's mount namespace")
		}
		return power.SystemMounter{}
	}
	ms := &systemd.Mounts{Manager: m}
	if len(disks) > 0 {
		a.log.Info("disks are unmounted and mounted by systemd (their mount units)")
		if os.Geteuid() != 0 { // root needs no polkit rule
			a.checkMountUnits(ms, disks)
		}
	}
	return unitMounter{ms: ms, timeout: mountTimeout}
}

// checkMountUnits warns about a disk whose mount point has no unit file
// (no fstab entry) when polkit cannot let veille make a transient mount
// unit for it: it could be unmounted but not mounted again.
func (a *Agent) checkMountUnits(ms *systemd.Mounts, disks []power.Disk) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	named, err := ms.Manager.TransientUnitsNamed(ctx)
	if err != nil {
		a.log.Warn("cannot tell whether veille may make transient mount units", "err", err)
		return
	}
	if named {
		return
	}
	for _, d := range disks {
		if d.MountPoint == "" {
			continue
		}
		file, err := ms.UnitFile(ctx, d.MountPoint)
		if err != nil {
			a.log.Warn("cannot check the disk's mount unit", "disk", d.Name, "mount", d.MountPoint, "err", err)
			continue
		}
		if file == "" {
			a.log.Warn("no fstab entry or mount unit for this disk: veille could unmount it but not mount it again "+
				"(this systemd does not name transient units to polkit, so veille may not make one); add an fstab entry with nofail",
				"disk", d.Name, "mount", d.MountPoint)
		}
	}
}

// unitMounter is systemd.Mounts as the power sequences' Mounter, each
// call bounded by timeout.
type unitMounter struct {
	ms      *systemd.Mounts
	timeout time.Duration
}

func (u unitMounter) Mount(source, target, fstype, options string) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	return u.ms.Mount(ctx, source, target, fstype, options)
}

func (u unitMounter) Unmount(target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	return u.ms.Unmount(ctx, target)
}
