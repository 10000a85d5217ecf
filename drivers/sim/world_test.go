package sim_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// newWorld builds DefaultOpts on a fake clock, changed by mod.
func newWorld(t *testing.T, mod func(*sim.Opts)) (*sim.World, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(t0)
	o := sim.DefaultOpts(fc.Now)
	o.After = fc.After
	if mod != nil {
		mod(&o)
	}
	w, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, fc
}

func noBursts(o *sim.Opts) { o.Board.Bursts = sim.Bursts{} }

func read(t *testing.T, w *sim.World, p string) string {
	t.Helper()
	b, err := os.ReadFile(w.Path(p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(w *sim.World, p string) bool {
	_, err := os.Lstat(w.Path(p))
	return err == nil
}

func syncWorld(t *testing.T, w *sim.World) {
	t.Helper()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

// railPower is V·I of a rail supplied at vs through rs feeding p watts.
func railPower(p, vs, rs float64) float64 {
	i := p / vs
	return (vs - rs*i) * i
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }

func TestExactEnergyIdleBoard(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	fc.Advance(10 * time.Second)
	e, err := w.ExactEnergy("pi", t0, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 * railPower(2.7, 5.1, 0.020); !near(e, want, 1e-12) {
		t.Errorf("idle board over 10 s = %.9f J, want %.9f J", e, want)
	}
	if _, err := w.ExactEnergy("pi", t0, t0.Add(11*time.Second)); err == nil {
		t.Error("energy into the future: no error")
	}
	if _, err := w.ExactEnergy("nope", t0, t0); err == nil {
		t.Error("unknown rail: no error")
	}
}

// TestBurstsAreExactAndDeterministic: one 200 ms burst of +3 W per 10 s
// slot, at a seeded offset; the exact energy counts each one whole.
func TestBurstsAreExactAndDeterministic(t *testing.T) {
	energy := func() float64 {
		w, fc := newWorld(t, nil)
		fc.Advance(time.Minute)
		e, err := w.ExactEnergy("pi", t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1, e2 := energy(), energy()
	if e1 != e2 {
		t.Fatalf("same seed, different energy: %v vs %v", e1, e2)
	}
	idle, burst := railPower(2.7, 5.1, 0.02), railPower(5.7, 5.1, 0.02)
	want := 60*idle + 6*0.2*(burst-idle)
	if !near(e1, want, 1e-12) {
		t.Errorf("a minute with 6 bursts = %.9f J, want %.9f J", e1, want)
	}
}

// TestDiskSpinDownDropsChannelPower: the closed loop from a CDB to what the
// INA226 on the disk's rail converts.
func TestDiskSpinDownDropsChannelPower(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	b := w.Bus()
	wr16(t, b, 0x41, 0x05, 5120) // 100 µA LSB with 10 mΩ
	fc.Advance(2200 * time.Microsecond)
	cur := func() float64 { return float64(int16(rd16(t, b, 0x41, 0x04))) * 100e-6 }
	if got, want := cur(), 4.0/5; math.Abs(got-want) > 200e-6 {
		t.Fatalf("spinning idle: %.4f A, want %.4f A", got, want)
	}
	if err := w.Command(w.Path("/dev/sda"), []byte{0x1b, 0, 0, 0, 0, 0}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s, _ := w.DiskState("sda"); s != sim.DiskStandby {
		t.Fatalf("after STOP: %s", s)
	}
	fc.Advance(2200 * time.Microsecond)
	if got, want := cur(), 0.6/5; math.Abs(got-want) > 200e-6 {
		t.Errorf("standby: %.4f A, want %.4f A", got, want)
	}
	p, _ := w.RailPower("sda")
	if want := railPower(0.6, 5, 0.05); !near(float64(p)/1e9, want, 1e-6) {
		t.Errorf("rail power %s, want %.4f W", p, want)
	}
	// START: 1 s at 10 W, then idle.
	if err := w.Command("/dev/sda", []byte{0x1b, 0, 0, 0, 1, 0}, time.Second); err != nil {
		t.Fatal(err)
	}
	start := fc.Now()
	fc.Advance(3 * time.Second)
	e, err := w.ExactEnergy("sda", start, fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := railPower(10, 5, 0.05) + 2*railPower(4, 5, 0.05); !near(e, want, 1e-12) {
		t.Errorf("spin-up + 2 s idle = %.6f J, want %.6f J", e, want)
	}
}

func TestTransportCDBs(t *testing.T) {
	w, _ := newWorld(t, func(o *sim.Opts) { o.Disks[1].NoSAT = true })
	ata16 := func(cmd byte, ck bool) []byte {
		c := []byte{0x85, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, cmd, 0}
		if ck {
			c[2] = 0x20
		}
		return c
	}
	sense := func(err error) *sim.SenseError {
		t.Helper()
		var se *sim.SenseError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want a SenseError", err)
		}
		return se
	}
	state := func() sim.DiskState { s, _ := w.DiskState("sda"); return s }
	must(t, w.Command("/dev/sda", []byte{0, 0, 0, 0, 0, 0}, time.Second))
	must(t, w.Command("/dev/sda", ata16(0xe0, false), time.Second))
	if state() != sim.DiskStandby {
		t.Fatalf("after STANDBY IMMEDIATE: %s", state())
	}
	se := sense(w.Command("/dev/sda", ata16(0xe5, true), time.Second))
	if se.Key != 0x1 || se.ASCQ != 0x1d || len(se.Raw) < 22 || se.Raw[8] != 0x09 || se.Raw[8+5] != 0x00 {
		t.Errorf("CHECK POWER MODE in standby: %+v", se)
	}
	must(t, w.Command("/dev/sda", ata16(0xe1, false), time.Second))
	if state() != sim.DiskSpinningUp {
		t.Fatalf("after IDLE IMMEDIATE: %s", state())
	}
	if se := sense(w.Command("/dev/sda", ata16(0xe5, true), time.Second)); se.Raw[8+5] != 0xff {
		t.Errorf("CHECK POWER MODE spinning: count %02x, want ff", se.Raw[8+5])
	}
	if se := sense(w.Command("/dev/sda", ata16(0xef, false), time.Second)); se.Key != 0xb {
		t.Errorf("SET FEATURES: key %x, want ABORTED COMMAND", se.Key)
	}
	if se := sense(w.Command("/dev/sda", []byte{0x12, 0, 0, 0, 36, 0}, time.Second)); se.Key != 0x5 || se.ASC != 0x20 {
		t.Errorf("INQUIRY: %+v, want ILLEGAL REQUEST / invalid opcode", se)
	}
	if se := sense(w.Command("/dev/sdb", ata16(0xe0, false), time.Second)); se.Key != 0x5 || se.ASC != 0x20 {
		t.Errorf("ATA PASS-THROUGH on a bridge without SAT: %+v", se)
	}
	must(t, w.Command("/dev/sdb", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second))
	if se := sense(w.Command("/dev/sdb", []byte{0, 0, 0, 0, 0, 0}, time.Second)); se.Key != 0x2 || se.ASC != 0x04 {
		t.Errorf("TEST UNIT READY after STOP: %+v, want NOT READY", se)
	}
	if err := w.Command("/dev/sda1", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second); !errors.Is(err, syscall.ENOTTY) {
		t.Errorf("SG_IO on a partition: %v, want ENOTTY", err)
	}
	if err := w.Command("/dev/sdz", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing disk: %v, want ENOENT", err)
	}
}

func TestPortDisableCutsPowerAndDisk(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	ctx := context.Background()
	// The safe order: stop the units, unmount, spin down, cut.
	units, err := w.UnitsForMount(ctx, w.Path("/srv/media"))
	if err != nil || len(units) != 1 || units[0] != "jellyfin.service" {
		t.Fatalf("units on /srv/media: %v, %v", units, err)
	}
	if err := w.Unmount("/srv/media"); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("unmount with jellyfin's file open: %v, want EBUSY", err)
	}
	must(t, w.StopUnit(ctx, "jellyfin.service"))
	must(t, w.Unmount(w.Path("/srv/media")))
	if strings.Contains(read(t, w, "/proc/self/mountinfo"), "/srv/media") {
		t.Fatal("mountinfo still lists /srv/media")
	}
	must(t, w.Command("/dev/sda", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second))
	// A USB 3 port and its USB 2 twin share VBUS: both must be off.
	disable := "/sys/bus/usb/devices/2-1:1.0/2-1-port1/disable"
	twin := "/sys/bus/usb/devices/1-1:1.0/1-1-port1/disable"
	if got := read(t, w, disable); got != "0\n" {
		t.Fatalf("disable = %q", got)
	}
	must(t, os.WriteFile(w.Path(disable), []byte("1"), 0o644)) // as usbdisk.Port.SetPower does
	if p, _ := w.RailPower("sda"); p == 0 {
		t.Fatal("VBUS off with the USB 2 twin port still on")
	}
	if ok, _ := w.DiskPresent("sda"); ok {
		t.Error("disk still present on a disabled port")
	}
	must(t, os.WriteFile(w.Path(twin), []byte("1"), 0o644))
	p, _ := w.RailPower("sda")
	if p != 0 {
		t.Errorf("rail sda after the cut: %s, want 0", p)
	}
	v, i, err := w.RailAt("sda", fc.Now())
	if err != nil || v != 0 || i != 0 {
		t.Errorf("rail sda: %s %s %v, want 0 V 0 A", v, i, err)
	}
	syncWorld(t, w)
	for _, gone := range []string{"/sys/class/block/sda", "/sys/block/sda", "/dev/sda1", "/dev/disk/by-uuid/3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", "/sys/bus/usb/devices/2-1.1"} {
		if exists(w, gone) {
			t.Errorf("%s still there after the port was cut", gone)
		}
	}
	if strings.Contains(read(t, w, "/proc/diskstats"), " sda ") {
		t.Error("diskstats still lists sda")
	}
	if s, _ := w.DiskState("sda"); s != sim.DiskOff {
		t.Errorf("disk state %s, want off", s)
	}
	if v := w.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	// Power back: the disk spins up at once, shows up 1.5 s later.
	// A plain write is applied when the world is next called.
	must(t, os.WriteFile(w.Path(disable), []byte("0\n"), 0o644))
	syncWorld(t, w)
	fc.Advance(500 * time.Millisecond)
	if p, _ := w.RailPower("sda"); !near(float64(p)/1e9, railPower(10, 5, 0.05), 1e-6) {
		t.Errorf("spinning up after power-on: %s", p)
	}
	if ok, _ := w.DiskPresent("sda"); ok {
		t.Error("disk present before enumeration")
	}
	fc.Advance(time.Second)
	syncWorld(t, w)
	if !exists(w, "/dev/disk/by-uuid/3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f") {
		t.Error("by-uuid link not back after power-on")
	}
	if got := fields(t, w, "/proc/diskstats", "sda"); got[3] != "1" || got[5] != "256" {
		// A fresh device: only the partition-table read of the enumeration.
		t.Errorf("sda after re-enumeration: %v, want one 256-sector read", got)
	}
}

func TestCuttingAMountedDiskIsAViolation(t *testing.T) {
	w, _ := newWorld(t, noBursts)
	must(t, w.WriteFile(w.Path("/sys/bus/usb/devices/2-1:1.0/2-1-port2/disable"), []byte("1\n"), 0o644))
	v := w.Violations()
	if len(v) == 0 || v[0].Disk != "sdb" || !strings.Contains(v[0].What, "mounted") {
		t.Fatalf("violations: %v, want sdb cut while mounted", v)
	}
}

func TestUnmountFlushSpinsUpASleepingDisk(t *testing.T) {
	w, _ := newWorld(t, noBursts)
	must(t, w.StopUnit(context.Background(), "nextcloud-cron.timer"))
	must(t, w.Command("/dev/sdb", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second))
	must(t, w.Unmount("/srv/cloud"))
	if s, _ := w.DiskState("sdb"); s != sim.DiskSpinningUp {
		t.Errorf("sdb after unmounting it asleep: %s, want spinning up (the flush wakes it)", s)
	}
}

func TestMountSemantics(t *testing.T) {
	w, _ := newWorld(t, nil)
	ctx := context.Background()
	must(t, w.StopUnit(ctx, "jellyfin.service"))
	must(t, w.Unmount("/srv/media"))
	if err := w.Unmount("/srv/media"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("unmount of a non-mount: %v, want EINVAL", err)
	}
	if err := w.Unmount("/"); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("unmount /: %v, want EBUSY", err)
	}
	if err := w.Mount("/dev/sda1", "/srv/media", "vfat", ""); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("wrong fstype: %v, want EINVAL", err)
	}
	if err := w.Mount("/dev/sda1", "/srv/cloud", "ext4", ""); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("mount on a mount point: %v, want EBUSY", err)
	}
	if err := w.Mount("/dev/sda1", "/srv/nothere", "ext4", ""); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing target: %v, want ENOENT", err)
	}
	must(t, w.Mount("UUID=3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", w.Path("/srv/media"), "ext4", "rw,noatime"))
	mi := read(t, w, "/proc/self/mountinfo")
	if !strings.Contains(mi, " 8:1 / /srv/media rw,noatime ") || !strings.Contains(mi, " - ext4 /dev/sda1 rw") {
		t.Errorf("mountinfo after mount:\n%s", mi)
	}
	f := w.Open("/srv/media/film.mkv", "smbd")
	if err := w.Unmount("/srv/media"); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("unmount with a file open: %v, want EBUSY", err)
	}
	if got, err := os.Readlink(w.Path("/proc/" + pidOf(t, w, "smbd") + "/fd/3")); err != nil || got != "/srv/media/film.mkv" {
		t.Errorf("fd link: %q %v", got, err)
	}
	f.Close()
	must(t, w.Unmount("/srv/media"))
	// StartUnit mounts what the unit needs, like systemd's RequiresMountsFor.
	must(t, w.StartUnit(ctx, "jellyfin.service"))
	if !w.Mounted("/srv/media") {
		t.Error("starting jellyfin did not mount /srv/media")
	}
}

func pidOf(t *testing.T, w *sim.World, comm string) string {
	t.Helper()
	ents, err := os.ReadDir(w.Path("/proc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if strings.TrimSpace(read(t, w, "/proc/"+e.Name()+"/comm")) == comm {
			return e.Name()
		}
	}
	t.Fatalf("no process %s", comm)
	return ""
}

func TestUnits(t *testing.T) {
	w, _ := newWorld(t, func(o *sim.Opts) { o.Units[0].RefuseStop = true })
	ctx := context.Background()
	if err := w.StopUnit(ctx, "ssh.service"); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Errorf("stop of a refusing unit: %v", err)
	}
	if ok, _ := w.UnitActive("ssh.service"); !ok {
		t.Error("refusing unit stopped anyway")
	}
	if err := w.StopUnit(ctx, "nope.service"); err == nil {
		t.Error("stop of an unknown unit: no error")
	}
	got, _ := w.UnitsForMount(ctx, "/srv/cloud")
	if len(got) != 1 || got[0] != "nextcloud-cron.timer" {
		t.Errorf("units for /srv/cloud: %v", got)
	}
	pidOf(t, w, "sshd")
	must(t, w.StopUnit(ctx, "nextcloud-cron.timer"))
	must(t, w.StopUnit(ctx, "nextcloud-cron.timer")) // already inactive: done
	if got, _ := w.UnitsForMount(ctx, "/srv/cloud"); len(got) != 0 {
		t.Errorf("units for /srv/cloud after stop: %v", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.StartUnit(cctx, "nextcloud-cron.timer"); !errors.Is(err, context.Canceled) {
		t.Errorf("start with a cancelled context: %v", err)
	}
}

func TestWakeAlarmHaltAndBoot(t *testing.T) {
	w, fc := newWorld(t, nil)
	wake := "/sys/class/rtc/rtc0/wakealarm"
	alarm := fc.Now().Add(8 * time.Hour).Unix()
	must(t, w.WriteFile(w.Path(wake), []byte("0"), 0o644))
	must(t, w.WriteFile(w.Path(wake), []byte(strconv.FormatInt(alarm, 10)), 0o644))
	if got := read(t, w, wake); got != strconv.FormatInt(alarm, 10)+"\n" {
		t.Fatalf("wakealarm reads %q", got)
	}
	err := w.WriteFile(w.Path(wake), []byte(strconv.FormatInt(alarm+60, 10)), 0o644)
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("re-arming over an armed alarm: %v, want EBUSY", err)
	}
	bootID := read(t, w, "/proc/sys/kernel/random/boot_id")
	if len(bootID) != 37 {
		t.Fatalf("boot_id %q is not a UUID line", bootID)
	}
	var halted, booted []time.Time
	defer func() {
		if t.Failed() {
			return
		}
		syncWorld(t, w)
		if again := read(t, w, "/proc/sys/kernel/random/boot_id"); again == bootID {
			t.Errorf("boot_id %q did not change across a boot", again)
		}
	}()
	w.OnHalt(func(at time.Time) { halted = append(halted, at) })
	w.OnBoot(func(at time.Time) { booted = append(booted, at) })
	off := fc.Now()
	must(t, w.PowerOff(context.Background()))
	if s := w.BoardState(); s != sim.BoardShuttingDown {
		t.Fatalf("after PowerOff: %s", s)
	}
	fc.Advance(5 * time.Second)
	syncWorld(t, w)
	if w.BoardState() != sim.BoardHalted || len(halted) != 1 || !halted[0].Equal(off.Add(5*time.Second)) {
		t.Fatalf("board %s, halted at %v", w.BoardState(), halted)
	}
	if p, _ := w.RailPower("pi"); !near(float64(p)/1e9, railPower(0.015, 5.1, 0.02), 1e-6) {
		t.Errorf("halted board draws %s", p)
	}
	if err := w.Bus().Tx(0x40, []byte{0}, make([]byte, 2)); err == nil {
		t.Error("I2C works on a halted board")
	}
	at, ok := w.WakeAt()
	if !ok || at.Unix() != alarm {
		t.Fatalf("WakeAt = %v %v, want %d", at, ok, alarm)
	}
	// The demo jumps its clock to the alarm: the boot happens at the alarm,
	// exactly, whenever the world notices.
	fc.Set(at.Add(3 * time.Second))
	syncWorld(t, w)
	if w.BoardState() != sim.BoardBooting {
		t.Fatalf("after the alarm: %s", w.BoardState())
	}
	if _, ok := w.WakeAt(); ok || read(t, w, wake) != "" {
		t.Error("the alarm is still armed after firing")
	}
	fc.Set(at.Add(20 * time.Second))
	syncWorld(t, w)
	if w.BoardState() != sim.BoardRunning || len(booted) != 1 || !booted[0].Equal(at.Add(20*time.Second)) {
		t.Fatalf("board %s, booted %v", w.BoardState(), booted)
	}
	if !w.Mounted("/srv/media") || !w.Mounted("/srv/cloud") {
		t.Error("fstab not mounted after boot")
	}
	if ok, _ := w.UnitActive("jellyfin.service"); !ok {
		t.Error("jellyfin not running after boot")
	}
	if up := strings.Fields(read(t, w, "/proc/uptime"))[0]; up != "20.00" {
		t.Errorf("uptime after boot = %s", up)
	}
	// The night: 5 s shutting down, halted until the alarm, 20 s booting.
	e, err := w.ExactEnergy("pi", off.Add(5*time.Second), at)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Sub(off.Add(5*time.Second)).Seconds() * railPower(0.015, 5.1, 0.02); !near(e, want, 1e-9) {
		t.Errorf("halted energy %.6f J, want %.6f J", e, want)
	}
	// The INA228 was powered from the Pi: it is back at its reset values.
	if got := rd16(t, w.Bus(), 0x40, 0x02); got != 0x1000 {
		t.Errorf("INA228 SHUNT_CAL after boot = %04x, want the reset 1000", got)
	}
}

func TestRebootComesBackWithItsDisks(t *testing.T) {
	w, fc := newWorld(t, nil)
	must(t, w.Reboot(context.Background()))
	fc.Advance(time.Minute)
	syncWorld(t, w)
	if s := w.BoardState(); s != sim.BoardRunning {
		t.Fatalf("after reboot: %s", s)
	}
	for _, d := range []string{"sda", "sdb"} {
		if ok, _ := w.DiskPresent(d); !ok {
			t.Errorf("%s not present after a reboot", d)
		}
	}
	if !w.Mounted("/srv/media") || !exists(w, "/dev/disk/by-label/cloud") {
		t.Error("filesystems not back after a reboot")
	}
}

func TestWakeAlarmPolledWrites(t *testing.T) {
	w, fc := newWorld(t, nil)
	wake := w.Path("/sys/class/rtc/rtc0/wakealarm")
	must(t, os.WriteFile(wake, []byte("+600\n"), 0o644))
	at, ok := w.WakeAt()
	if !ok || !at.Equal(fc.Now().Add(600*time.Second)) {
		t.Fatalf("after +600: %v %v", at, ok)
	}
	if got := read(t, w, "/sys/class/rtc/rtc0/wakealarm"); got != strconv.FormatInt(at.Unix(), 10)+"\n" {
		t.Errorf("reads back %q, want the epoch", got)
	}
	must(t, os.WriteFile(wake, []byte("0"), 0o644))
	syncWorld(t, w)
	if _, ok := w.WakeAt(); ok || read(t, w, "/sys/class/rtc/rtc0/wakealarm") != "" {
		t.Error("writing 0 did not disable the alarm")
	}
}

// TestAlarmDuringShutdownIsLost: an alarm that fires before the halt is
// spent; the board then stays off (the one-shot trap).
func TestAlarmDuringShutdownIsLost(t *testing.T) {
	w, fc := newWorld(t, nil)
	must(t, w.WriteFile(w.Path("/sys/class/rtc/rtc0/wakealarm"), []byte("+3"), 0o644))
	must(t, w.PowerOff(context.Background()))
	fc.Advance(time.Hour)
	syncWorld(t, w)
	if w.BoardState() != sim.BoardHalted {
		t.Errorf("board %s, want halted for good", w.BoardState())
	}
	if _, ok := w.WakeAt(); ok {
		t.Error("alarm still armed")
	}
}

func TestInhibitorBlocksPowerOff(t *testing.T) {
	w, _ := newWorld(t, nil)
	in := w.Inhibit("backup", "nightly rsync")
	err := w.PowerOff(context.Background())
	if err == nil || !strings.Contains(err.Error(), "backup (nightly rsync)") {
		t.Fatalf("PowerOff with an inhibitor: %v", err)
	}
	in.Release()
	must(t, w.PowerOff(context.Background()))
}

func TestButtonEdgesOnTheWorldClock(t *testing.T) {
	w, fc := newWorld(t, nil)
	btn := w.Button()
	must(t, btn.In(2 /* gpio.PullUp */, 3 /* gpio.BothEdges */))
	press := fc.Now().Add(time.Second)
	btn.Press(press, 300*time.Millisecond)
	got := make(chan time.Time)
	go func() {
		for k := 0; k < 2; k++ {
			if !btn.WaitForEdge(-1) {
				close(got)
				return
			}
			got <- btn.LastEdge()
		}
	}()
	waitWaiters(t, fc)
	fc.Advance(time.Second)
	if at := <-got; !at.Equal(press) {
		t.Fatalf("press edge at %v, want %v", at, press)
	}
	if l := btn.Read(); l {
		t.Error("pin reads High while pressed")
	}
	waitWaiters(t, fc)
	fc.Advance(300 * time.Millisecond)
	if at := <-got; !at.Equal(press.Add(300 * time.Millisecond)) {
		t.Fatalf("release edge at %v", at)
	}
	if l := btn.Read(); !l {
		t.Error("pin reads Low after release")
	}
	// Halt interrupts a wait.
	done := make(chan bool)
	go func() { done <- btn.WaitForEdge(-1) }()
	for {
		select {
		case ok := <-done:
			if ok {
				t.Fatal("WaitForEdge after Halt reported an edge")
			}
			return
		default:
			must(t, btn.Halt())
			time.Sleep(0) // let the waiter reach its select
		}
	}
}

// waitWaiters blocks until a goroutine waits on the fake clock.
func waitWaiters(t *testing.T, fc *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fc.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nobody waits on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestButtonWakesHaltedBoard(t *testing.T) {
	w, fc := newWorld(t, nil)
	must(t, w.PowerOff(context.Background()))
	fc.Advance(time.Minute)
	w.Button().Press(fc.Now().Add(time.Second), 100*time.Millisecond)
	fc.Advance(2 * time.Second)
	if s := w.BoardState(); s != sim.BoardBooting {
		t.Errorf("after a press while halted: %s, want booting", s)
	}
}

func TestDiskstatsGrowWhileBusy(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	before := fields(t, w, "/proc/diskstats", "sda")
	must(t, w.IO("sda", 2*time.Second, false))
	fc.Advance(time.Second)
	syncWorld(t, w)
	mid := fields(t, w, "/proc/diskstats", "sda")
	fc.Advance(5 * time.Second)
	syncWorld(t, w)
	after := fields(t, w, "/proc/diskstats", "sda")
	n := func(f []string, k int) int { v, _ := strconv.Atoi(f[k]); return v }
	if d := n(mid, 5) - n(before, 5); d != 40960 {
		t.Errorf("sectors read after 1 s busy: +%d, want +40960", d)
	}
	if d := n(after, 5) - n(before, 5); d != 81920 {
		t.Errorf("sectors read after the 2 s request: +%d, want +81920", d)
	}
	if len(after) != 20 {
		t.Errorf("diskstats line has %d fields, want 20", len(after))
	}
	if got := strings.Fields(read(t, w, "/sys/block/sda/stat")); len(got) != 17 || got[2] != after[5] {
		t.Errorf("/sys/block/sda/stat = %v", got)
	}
	// A standby timer spins the disk down after its last I/O.
	w2, fc2 := newWorld(t, func(o *sim.Opts) { o.Disks[0].StandbyAfter = time.Minute })
	must(t, w2.IO("sda", time.Second, true))
	fc2.Advance(time.Minute + 999*time.Millisecond)
	if s, _ := w2.DiskState("sda"); s != sim.DiskIdle {
		t.Errorf("before the standby timer: %s", s)
	}
	fc2.Advance(time.Millisecond)
	if s, _ := w2.DiskState("sda"); s != sim.DiskStandby {
		t.Errorf("after the standby timer: %s", s)
	}
	// I/O on a sleeping disk spins it up first.
	must(t, w2.IO("sda", time.Second, false))
	if s, _ := w2.DiskState("sda"); s != sim.DiskSpinningUp {
		t.Errorf("I/O in standby: %s, want spinning up", s)
	}
}

func fields(t *testing.T, w *sim.World, file, name string) []string {
	t.Helper()
	for _, l := range strings.Split(read(t, w, file), "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[2] == name {
			return f
		}
	}
	t.Fatalf("%s: no line for %s", file, name)
	return nil
}

func TestConnections(t *testing.T) {
	w, fc := newWorld(t, nil)
	rx0, _ := strconv.Atoi(strings.TrimSpace(read(t, w, "/sys/class/net/eth0/statistics/tx_bytes")))
	c, err := w.Connect(8096, "192.168.1.23:51234", 2000, 1_000_000)
	must(t, err)
	c6, err := w.Connect(22, "[2001:db8::23]:40000", 500, 500)
	must(t, err)
	tcp := read(t, w, "/proc/net/tcp")
	lines := strings.Split(strings.TrimSuffix(tcp, "\n"), "\n")
	if len(lines[0]) != 149 {
		t.Errorf("tcp header is %d wide, want 149", len(lines[0]))
	}
	found := false
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if f[1] == "3201A8C0:1FA0" && f[2] == "1701A8C0:C822" && f[3] == "01" {
			found = true
		}
	}
	if !found {
		t.Errorf("no ESTABLISHED 192.168.1.50:8096 ← 192.168.1.23:51234 in\n%s", tcp)
	}
	if !strings.Contains(read(t, w, "/proc/net/tcp6"), "B80D0120000000000000000023000000:9C40 01") {
		t.Errorf("tcp6:\n%s", read(t, w, "/proc/net/tcp6"))
	}
	fc.Advance(10 * time.Second)
	syncWorld(t, w)
	tx1, _ := strconv.Atoi(strings.TrimSpace(read(t, w, "/sys/class/net/eth0/statistics/tx_bytes")))
	if d := tx1 - rx0; d != 10*(1_000_000+500+900) {
		t.Errorf("tx bytes over 10 s: +%d", d)
	}
	must(t, c.Close())
	must(t, c6.Close())
	if strings.Contains(read(t, w, "/proc/net/tcp"), " 01 ") {
		t.Error("closed connection still listed")
	}
}

func TestThermalAndLoadFollowTheBoard(t *testing.T) {
	w, fc := newWorld(t, noBursts)
	temp := func() float64 {
		v, _ := strconv.Atoi(strings.TrimSpace(read(t, w, "/sys/class/thermal/thermal_zone0/temp")))
		return float64(v) / 1000
	}
	base := temp()
	if !near(base, 22+8*2.7, 1e-3) {
		t.Errorf("idle SoC temperature %.3f °C", base)
	}
	w.SetBoardLoad(4*physic.Watt, 4)
	fc.Advance(5 * time.Minute)
	syncWorld(t, w)
	if got, want := temp(), 22+8*6.7-8*4*math.Exp(-5); math.Abs(got-want) > 0.002 {
		t.Errorf("after 5 min at +4 W: %.3f °C, want %.3f °C", got, want)
	}
	la := strings.Fields(read(t, w, "/proc/loadavg"))
	l1, _ := strconv.ParseFloat(la[0], 64)
	if l1 < 3.9 || len(la) != 5 || !strings.Contains(la[3], "/") {
		t.Errorf("loadavg %v", la)
	}
}

func TestFilesAreKernelShaped(t *testing.T) {
	w, fc := newWorld(t, nil)
	fc.Advance(90 * time.Second)
	syncWorld(t, w)
	if got := read(t, w, "/sys/class/rtc/rtc0/since_epoch"); got != strconv.FormatInt(fc.Now().Unix(), 10)+"\n" {
		t.Errorf("since_epoch %q", got)
	}
	if got := read(t, w, "/proc/device-tree/model"); got != "Raspberry Pi 5 Model B Rev 1.0\x00" {
		t.Errorf("model %q", got)
	}
	for _, l := range strings.Split(strings.TrimSpace(read(t, w, "/proc/self/mountinfo")), "\n") {
		f := strings.Fields(l)
		sep := -1
		for k, x := range f {
			if x == "-" {
				sep = k
			}
		}
		if sep < 6 || len(f)-sep != 4 {
			t.Errorf("mountinfo line %q", l)
		}
	}
	if n := len(strings.Fields(read(t, w, "/proc/uptime"))); n != 2 {
		t.Errorf("uptime has %d fields", n)
	}
	target, err := os.Readlink(w.Path("/sys/class/block/sdb"))
	if err != nil || filepath.IsAbs(target) || !strings.HasSuffix(target, "/2-1/2-1.2/2-1.2:1.0/host1/target1:0:0/1:0:0:0/block/sdb") {
		t.Errorf("/sys/class/block/sdb → %q %v", target, err)
	}
	if got := read(t, w, "/sys/class/block/sdb/device/model"); got != "Expansion HDD   \n" {
		t.Errorf("model %q", got)
	}
	if got, err := os.Readlink(w.Path("/sys/bus/usb/devices/2-1:1.0/2-1-port1/peer")); err != nil || !strings.HasSuffix(got, "1-1:1.0/1-1-port1") {
		t.Errorf("peer link %q %v", got, err)
	}
}
