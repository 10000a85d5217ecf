package sim_test

// The world read and driven by the real packages that consume it:
// drivers/usbdisk (sysfs, udev links, mountinfo, diskstats, CDBs, port power),
// drivers/rtc (the wake alarm) and internal/activity's parsers.

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/veille/veille/drivers/hwmon"
	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/activity"
)

// transport is what the agent's sim wiring does: the world's CDB
// interpreter, its CHECK CONDITIONs turned into usbdisk's SenseError.
type transport struct{ w *sim.World }

func (t transport) Command(dev string, cdb []byte, timeout time.Duration) error {
	err := t.w.Command(dev, cdb, timeout)
	var se *sim.SenseError
	if errors.As(err, &se) {
		if d, ok := usbdisk.DecodeSense(se.Dev, se.Opcode, se.Raw); ok {
			return d
		}
	}
	return err
}

func TestUsbdiskFindsTheWorldsDisks(t *testing.T) {
	w, _ := newWorld(t, nil)
	f := usbdisk.Finder{Root: w.Root()}
	d, err := f.ByUUID("3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "sda" || d.Partition != "sda1" || d.DevNo != "8:1" || d.USB == nil ||
		d.USB.Device != "2-1.1" || d.USB.Port.Hub != "2-1" || d.USB.Port.Number != 1 {
		t.Errorf("ByUUID: %+v (USB %+v)", d, d.USB)
	}
	if d, err := f.ByLabel("cloud"); err != nil || d.Name != "sdb" {
		t.Errorf("ByLabel(cloud): %+v %v", d, err)
	}
	l, err := usbdisk.DetectLayout(w.Root(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Board != "Raspberry Pi 5 Model B Rev 1.0" || !slices.Equal(l.OnboardHubs, []string{"usb1", "usb2", "usb3", "usb4"}) {
		t.Errorf("layout %+v", l)
	}
	stats, err := usbdisk.ReadDiskstats(w.Root())
	if err != nil || !slices.ContainsFunc(stats, func(s usbdisk.DiskStat) bool { return s.Name == "sdb1" }) {
		t.Errorf("diskstats: %v %v", stats, err)
	}
	mounts, err := usbdisk.ReadMounts(w.Root())
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := usbdisk.MountOf(mounts, "8:17"); !ok || m.MountPoint != "/srv/cloud" {
		t.Errorf("mount of 8:17: %+v %v", m, ok)
	}
	// The onboard ports feed the hub with both disks: cutting them is refused.
	onboard, err := usbdisk.PortFromLocation(w.Root(), "2-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := usbdisk.CheckPortCut(l, onboard, []string{"sda"}); err == nil {
		t.Error("cutting the Pi's ganged ports was allowed")
	}
}

// TestSleepSequenceWithUsbdisk runs the disk half of a sleep sequence with
// the real usbdisk code on the world, and the wake half.
func TestSleepSequenceWithUsbdisk(t *testing.T) {
	w, fc := newWorld(t, func(o *sim.Opts) { o.Disks[0].NoStartStop = true; noBursts(o) })
	ctx := context.Background()
	d, err := usbdisk.Finder{Root: w.Root()}.ByUUID("3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f")
	if err != nil {
		t.Fatal(err)
	}
	units, err := w.UnitsForMount(ctx, "/srv/media")
	must(t, err)
	for _, u := range units {
		must(t, w.StopUnit(ctx, u))
	}
	must(t, w.Unmount("/srv/media"))
	cmd, err := usbdisk.SpinDown(transport{w}, d.Dev, usbdisk.ModeAuto, 0)
	if err != nil || cmd.CDB[0] != 0x85 {
		t.Fatalf("spin-down: %v %v, want the ATA fallback after START STOP UNIT is refused", cmd, err)
	}
	if s, _ := w.DiskState("sda"); s != sim.DiskStandby {
		t.Fatalf("after spin-down: %s", s)
	}
	l, err := usbdisk.DetectLayout(w.Root(), nil)
	must(t, err)
	cut, err := usbdisk.CheckPortCut(l, d.USB.Port, []string{"sda"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Ports) != 2 {
		t.Errorf("cut ports %v, want 2-1 port 1 and its USB 2 twin", cut.Ports)
	}
	must(t, cut.Apply())
	if p, _ := w.RailPower("sda"); p != 0 {
		t.Errorf("sda rail after the cut: %s", p)
	}
	if v := w.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	// Wake: power, wait for the disk, mount, start the units.
	must(t, cut.Restore())
	syncWorld(t, w) // plain writes take effect when the world is next called
	fc.Advance(2 * time.Second)
	syncWorld(t, w) // files show the world as of its last call
	d, err = usbdisk.Finder{Root: w.Root()}.Refresh(d)
	if err != nil {
		t.Fatalf("disk back after power: %v", err)
	}
	must(t, w.Mount(d.PartDev, w.Path("/srv/media"), "ext4", "rw,noatime"))
	for _, u := range units {
		must(t, w.StartUnit(ctx, u))
	}
	if s, _ := w.DiskState("sda"); s != sim.DiskIdle {
		t.Errorf("after wake: %s", s)
	}
}

func TestRTCWakeAlarmOnTheWorld(t *testing.T) {
	w, fc := newWorld(t, nil)
	wa := &rtc.WakeAlarm{Root: w.Root(), WriteFile: w.WriteFile}
	if ok, err := wa.Capable(); !ok || err != nil {
		t.Fatalf("capable: %v %v", ok, err)
	}
	first := fc.Now().Add(6 * time.Hour)
	must(t, wa.Set(first))
	second := fc.Now().Add(7 * time.Hour)
	must(t, wa.Set(second)) // clears, re-arms, reads back
	if at, ok := w.WakeAt(); !ok || at.Unix() != second.Unix() {
		t.Errorf("WakeAt %v %v, want %v", at, ok, second)
	}
	if err := wa.Set(fc.Now().Add(-time.Minute)); err == nil {
		t.Error("an alarm in the past read back as armed")
	}
	must(t, wa.Set(second))
	must(t, wa.Clear())
	if _, ok, err := wa.Read(); ok || err != nil {
		t.Errorf("after Clear: armed=%v %v", ok, err)
	}
	// A Pi 4 without an RTC HAT has no wake alarm at all.
	w4, _ := newWorld(t, func(o *sim.Opts) { o.Board.NoRTC = true })
	if ok, err := (&rtc.WakeAlarm{Root: w4.Root()}).Capable(); ok || err != nil {
		t.Errorf("no RTC: capable=%v %v", ok, err)
	}
}

// TestActivityParsersReadTheWorld: internal/activity's parsers of the
// kernel's files read the world's.
func TestActivityParsersReadTheWorld(t *testing.T) {
	w, fc := newWorld(t, nil)
	c, err := w.Connect(22, "192.168.1.23:51234", 100, 100)
	must(t, err)
	defer c.Close()
	fc.Advance(time.Minute)
	syncWorld(t, w)
	open := func(p string) *os.File {
		f, err := os.Open(w.Path(p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	socks, err := activity.ParseTCP(open("/proc/net/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort("192.168.1.23:51234")
	if !slices.ContainsFunc(socks, func(s activity.Socket) bool {
		return s.State == activity.TCPEstablished && s.Remote == want && s.Local.Port() == 22
	}) {
		t.Errorf("no SSH session in %v", socks)
	}
	if _, err := activity.ParseTCP(open("/proc/net/tcp6")); err != nil {
		t.Error(err)
	}
	if la, err := activity.ParseLoadavg(open("/proc/loadavg")); err != nil || la[0] <= 0 {
		t.Errorf("loadavg %v %v", la, err)
	}
	if ds, err := activity.ParseDiskstats(open("/proc/diskstats")); err != nil || len(ds) < 4 {
		t.Errorf("diskstats %v %v", ds, err)
	}
	if n, err := activity.ParseCounter(open("/sys/class/net/eth0/statistics/rx_bytes")); err != nil || n == 0 {
		t.Errorf("rx_bytes %v %v", n, err)
	}
}

// TestHwmonReadsKernelBoundSensors: with Kernel set, the chips show under
// /sys/class/hwmon as their drivers show them, and drivers/hwmon reads the
// rails through them.
func TestHwmonReadsKernelBoundSensors(t *testing.T) {
	w, fc := newWorld(t, func(o *sim.Opts) {
		noBursts(o)
		for k := range o.Sensors {
			o.Sensors[k].Kernel = true
		}
	})
	fc.Advance(time.Second)
	syncWorld(t, w)
	fs := hwmon.FS{Root: w.Root()}
	sensors, err := fs.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) != 5 {
		t.Fatalf("hwmon sensors: %v, want the 5 INA chips", sensors)
	}
	if err := fs.CheckUnbound(1, 0x41); err == nil {
		t.Error("0x41 is bound to ina2xx, CheckUnbound said free")
	}
	rails := map[uint16][]string{0x40: {"pi"}, 0x41: {"sda"}, 0x42: {"pi", "sda", "sdb"}, 0x44: {"sdb"}, 0x45: {"pi"}}
	for _, s := range sensors {
		chs, err := s.Read()
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		for k, ch := range chs {
			v, i := railTruth(t, w, rails[s.Addr][k], fc.Now())
			gv, gi := float64(ch.Bus)/1e9, float64(ch.Current)/1e9
			// hwmon rounds to mV and mA (the INA3221's bus LSB is 8 mV).
			if math.Abs(gv-v) > 0.009 || math.Abs(gi-i) > 0.0011 {
				t.Errorf("%s channel %d on %s: %.3f V %.4f A, truth %.4f V %.4f A", s, ch.Index, rails[s.Addr][k], gv, gi, v, i)
			}
		}
	}
}
