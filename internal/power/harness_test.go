package power

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/drivers/usbdisk/usbdisktest"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

// The world of these tests: a Raspberry Pi 4 booting from its SD card, an
// external hub with per-port power switching on USB 3 port 3, and on it
//
//	media   sda1 (UUID) on port 2-3.1, /srv/media; jellyfin.service needs it
//	        (RequiresMountsFor), smbd.service is configured for it
//	backup  sdb1 (label) on port 2-3.2, /srv/backup; restic.timer
//	        configured; its port is cut when it sleeps
//
// systemd and logind are the fakes of systemd/dbustest on a private
// dbus-daemon, reached through package systemd: the real D-Bus path.
// The SCSI transport, the mounter, the RTC's kernel side and the power
// meter are fakes at the lowest layer, over the same temporary root.

const (
	mediaUUID   = "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f"
	backupLabel = "backup"
)

var t0 = time.Date(2026, 1, 15, 23, 0, 0, 0, time.UTC)

type world struct {
	t      *testing.T
	tree   *usbdisktest.Tree
	env    *dbustest.Env
	clk    *clock.Fake
	bridge *bridge
	mnt    *treeMounter
	rtc    *kernelRTC
	alarm  *rtc.WakeAlarm
	meter  *meter
	opts   Options

	onAdvance func() // the kernel's side of time passing, if a test needs one

	mu      sync.Mutex
	events  []Event
	notices []Notice
}

func newWorld(t *testing.T) *world {
	t.Helper()
	tr := usbdisktest.New(t)
	tr.Pi4()
	tr.SDRoot()
	tr.Hub("2-3", 4, "0bda")
	tr.Disk("2-3.1", "sda", 0, usbdisktest.Part{Name: "sda1", UUID: mediaUUID})
	tr.Disk("2-3.2", "sdb", 16, usbdisktest.Part{Name: "sdb1", Label: backupLabel})
	tr.MountOpts("sda1", "/srv/media", "ext4", "rw,noatime")
	tr.Mount("sdb1", "/srv/backup", "ext4")
	tr.Write("/proc/sys/kernel/random/boot_id", "boot-1\n")
	tr.Write("/sys/class/rtc/rtc0/wakealarm", "")

	env := dbustest.New(t)
	for _, u := range []dbustest.Unit{
		{Name: "jellyfin.service", RequiresMountsFor: []string{"/srv/media"}},
		{Name: "smbd.service"},
		{Name: "restic.timer"},
		{Name: "ssh.service"},
	} {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	units, err := systemd.DialManager(ctx, systemd.Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { units.Close() })
	login, err := systemd.DialLogind(ctx, systemd.Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { login.Close() })

	w := &world{t: t, tree: tr, env: env, clk: clock.NewFake(t0)}
	w.bridge = &bridge{root: tr.Root, spinning: map[string]bool{"sda": true, "sdb": true}, fail: map[string]error{}}
	w.mnt = &treeMounter{tree: tr, failUnmount: map[string]error{}}
	w.rtc = &kernelRTC{path: tr.Path("/sys/class/rtc/rtc0/wakealarm"), now: w.clk.Now}
	w.alarm = &rtc.WakeAlarm{Root: tr.Root, WriteFile: w.rtc.write}
	w.meter = &meter{w: w, channels: map[string]string{"media": "sda", "backup": "sdb"}}
	w.opts = Options{
		Root:     tr.Root,
		StateDir: filepath.Join(t.TempDir(), "state"),
		Disks: []Disk{
			{Name: "media", UUID: mediaUUID, Units: []string{"smbd.service"}, PowerChannel: "media", MinSaving: 2},
			{Name: "backup", Label: backupLabel, Units: []string{"restic.timer"}, CutPower: true, PowerChannel: "backup", MinSaving: 2},
		},
		Transport:   w.bridge,
		Mounter:     w.mnt,
		Units:       units,
		Halter:      login,
		Alarm:       w.alarm,
		Meter:       w.meter,
		Check:       []string{"/bin/sh", "-c", `test -e "$0"`},
		Clock:       w.clk,
		WaitTimeout: time.Minute,
		PollEvery:   time.Second,
		Settle:      5 * time.Second,
		OnEvent: func(e Event) {
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
		},
		Notify: func(n Notice) {
			w.mu.Lock()
			w.notices = append(w.notices, n)
			w.mu.Unlock()
		},
	}
	return w
}

func (w *world) controller() *Controller {
	w.t.Helper()
	c, err := New(w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// pump runs f and moves the fake clock on whenever f waits on it, so
// timeouts expire in fake time, at once.
func (w *world) pump(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if w.clk.Waiters() > 0 {
			// The kernel's files move first, then the waiter wakes.
			if w.onAdvance != nil {
				w.onAdvance()
			}
			w.clk.Advance(time.Second)
		} else {
			runtime.Gosched()
		}
	}
}

// steps lists the events as "disk step outcome", in order.
func (w *world) steps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s []string
	for _, e := range w.events {
		d := e.Disk
		if d == "" {
			d = "-"
		}
		s = append(s, d+" "+string(e.Step)+" "+string(e.Outcome))
	}
	return s
}

func (w *world) eventsWith(step Step, out Outcome) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var es []Event
	for _, e := range w.events {
		if e.Step == step && e.Outcome == out {
			es = append(es, e)
		}
	}
	return es
}

func (w *world) resetEvents() {
	w.mu.Lock()
	w.events = nil
	w.mu.Unlock()
}

func (w *world) unitState(name string) string {
	u, ok := w.env.Systemd.Unit(name)
	if !ok {
		w.t.Fatalf("no unit %s", name)
	}
	if u.ActiveState == "" {
		return "active"
	}
	return u.ActiveState
}

func (w *world) mounted(target string) bool {
	mounts, err := usbdisk.ReadMounts(w.tree.Root)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range mounts {
		if m.MountPoint == target {
			return true
		}
	}
	return false
}

// assertAwake checks the state every failure must leave: every unit
// active, both filesystems mounted, both disks spinning, every port on.
func (w *world) assertAwake() {
	w.t.Helper()
	for _, u := range []string{"jellyfin.service", "smbd.service", "restic.timer", "ssh.service"} {
		if s := w.unitState(u); s != "active" {
			w.t.Errorf("%s is %s, want active", u, s)
		}
	}
	for _, m := range []string{"/srv/media", "/srv/backup"} {
		if !w.mounted(m) {
			w.t.Errorf("%s is not mounted", m)
		}
	}
	for _, d := range []string{"sda", "sdb"} {
		if !w.bridge.isSpinning(d) {
			w.t.Errorf("%s is not spinning", d)
		}
	}
	for _, p := range []string{"2-3:1.0/2-3-port1", "2-3:1.0/2-3-port2"} {
		if v := w.tree.Read("/sys/bus/usb/devices/" + p + "/disable"); v != "0" {
			w.t.Errorf("port %s disable = %s", p, v)
		}
	}
}

// bridge is the USB-SATA bridges of the disks, at the CDB level.
type bridge struct {
	root     string
	mu       sync.Mutex
	spinning map[string]bool
	fail     map[string]error // per disk name: the CDB's outcome
	sent     []string
}

func (b *bridge) Command(dev string, cdb []byte, timeout time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := filepath.Base(dev)
	b.sent = append(b.sent, fmt.Sprintf("%s % x", name, cdb))
	if _, err := os.Stat(dev); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	if err := b.fail[name]; err != nil {
		return err
	}
	if cdb[0] != 0x1B {
		return &usbdisk.SenseError{Dev: dev, Opcode: cdb[0], Key: usbdisk.SenseIllegalRequest, ASC: 0x20}
	}
	b.spinning[name] = cdb[4]&1 == 1
	return nil
}

func (b *bridge) isSpinning(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spinning[name]
}

func (b *bridge) commands() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sent...)
}

// treeMounter is mount(2) over the tree's mountinfo: EBUSY while a process
// holds a file under the mount, EINVAL when not mounted, ENOENT when the
// device node is gone.
type treeMounter struct {
	tree        *usbdisktest.Tree
	mu          sync.Mutex
	failUnmount map[string]error
	mounts      []string
}

func (m *treeMounter) Mount(source, target, fstype, options string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Stat(source); err != nil {
		return fmt.Errorf("mount %s: %w", source, syscall.ENOENT)
	}
	if mounted(m.tree.Root, target) {
		return fmt.Errorf("mount %s: %w", target, syscall.EBUSY)
	}
	m.mounts = append(m.mounts, fmt.Sprintf("%s %s %s %s", strings.TrimPrefix(source, m.tree.Root), target, fstype, options))
	m.tree.MountOpts(filepath.Base(source), target, fstype, options)
	return nil
}

func (m *treeMounter) Unmount(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failUnmount[target]; err != nil {
		return fmt.Errorf("umount %s: %w", target, err)
	}
	if !mounted(m.tree.Root, target) {
		return fmt.Errorf("umount %s: %w", target, syscall.EINVAL)
	}
	if hs, _ := Holders(m.tree.Root, target); len(hs) > 0 {
		return fmt.Errorf("umount %s: %w", target, syscall.EBUSY)
	}
	m.tree.Unmount(target)
	return nil
}

func mounted(root, target string) bool {
	mounts, _ := usbdisk.ReadMounts(root)
	for _, m := range mounts {
		if m.MountPoint == target {
			return true
		}
	}
	return false
}

// kernelRTC is the kernel side of the wakealarm attribute
// (drivers/rtc/sysfs.c): a time not in the future disables the alarm (the
// file then reads empty), a future time while one is armed is EBUSY.
type kernelRTC struct {
	path      string
	now       func() time.Time
	forceBusy bool // something re-arms the alarm behind our back
	writes    []string
}

func (k *kernelRTC) write(name string, data []byte, _ fs.FileMode) error {
	k.writes = append(k.writes, string(data))
	sec, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return syscall.EINVAL
	}
	if sec <= k.now().Unix() {
		return os.WriteFile(name, nil, 0o644)
	}
	cur, _ := os.ReadFile(name)
	if len(strings.TrimSpace(string(cur))) > 0 || k.forceBusy {
		return &fs.PathError{Op: "write", Path: name, Err: syscall.EBUSY}
	}
	return os.WriteFile(name, []byte(strconv.FormatInt(sec, 10)+"\n"), 0o644)
}

// meter reads a disk's rail: 4 W spinning, 0.6 W in standby, 0 with its
// port off.
type meter struct {
	w        *world
	channels map[string]string
	stuck    bool // the disk ignores spin-down: the draw stays up
}

func (m *meter) Power(_ context.Context, channel string) (float64, error) {
	disk, ok := m.channels[channel]
	if !ok {
		return 0, errors.New("no channel " + channel)
	}
	port := map[string]string{"sda": "2-3-port1", "sdb": "2-3-port2"}[disk]
	if m.w.tree.Read("/sys/bus/usb/devices/2-3:1.0/"+port+"/disable") == "1" {
		return 0, nil
	}
	if m.stuck || m.w.bridge.isSpinning(disk) {
		return 4, nil
	}
	return 0.6, nil
}

func usbdisktestPart(name, label string) usbdisktest.Part {
	return usbdisktest.Part{Name: name, Label: label}
}

func runtimeGosched() { runtime.Gosched() }
