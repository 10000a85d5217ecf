package sim

import (
	"fmt"
	"os"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"
)

// sensor is a chip the world put on its bus.
type sensor struct {
	o   SensorOpts
	dev Device
}

// initialUptime: the server has been up a while when the world starts.
const initialUptime = 26 * time.Hour

func (w *World) build(o Opts) error {
	w.board = &board{o: o.Board, state: BoardRunning, since: w.origin, bootStart: w.origin.Add(-initialUptime)}
	b := w.board
	b.temp = lag{tau: socTau}
	b.load1, b.load5, b.load15 = lag{tau: 60}, lag{tau: 300}, lag{tau: 900}
	if b.o.Model == "" {
		b.o.Model = "Raspberry Pi 5 Model B Rev 1.0"
	}
	w.net = netCounters{at: w.origin, rx: 3.1e9, tx: 8.4e9, lo: 2.2e7}

	if err := w.buildHubs(o.Hubs); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	for i, do := range o.Disks {
		if do.Name == "" || strings.ContainsAny(do.Name, "/ ") {
			return fmt.Errorf("sim: disk %d: bad name %q", i, do.Name)
		}
		if _, dup := w.diskBy[do.Name]; dup {
			return fmt.Errorf("sim: disk %s declared twice", do.Name)
		}
		p, err := w.portAt(do.Location)
		if err != nil {
			return fmt.Errorf("sim: disk %s: %w", do.Name, err)
		}
		if do.Size <= 0 {
			do.Size = 1 << 40
		}
		if do.Power == (DiskPower{}) {
			do.Power = StandardDisk
		}
		d := &disk{o: do, idx: i, port: p, host: i}
		for n, po := range do.Partitions {
			d.parts = append(d.parts, &partition{d: d, n: n + 1, name: fmt.Sprintf("%s%d", do.Name, n+1), o: po, minor: 16*i + n + 1})
		}
		w.disks = append(w.disks, d)
		w.diskBy[do.Name] = d
	}
	w.scsiHosts = len(w.disks)

	for _, ro := range o.Rails {
		if _, dup := w.railBy[ro.Name]; dup {
			return fmt.Errorf("sim: rail %s declared twice", ro.Name)
		}
		if ro.Supply <= 0 {
			return fmt.Errorf("sim: rail %s: supply %s", ro.Name, ro.Supply)
		}
		r := &rail{o: ro, vs: volts(ro.Supply), rs: ohms(ro.Source), trace: &Trace{origin: w.origin, at: []int64{0}, v: []float64{0}, i: []float64{0}}}
		if ro.Port != "" {
			p, err := w.portByKey(ro.Port)
			if err != nil {
				return fmt.Errorf("sim: rail %s: %w", ro.Name, err)
			}
			r.port = p
		}
		w.rails = append(w.rails, r)
		w.railBy[ro.Name] = r
	}
	if b.o.Rail != "" {
		r, ok := w.railBy[b.o.Rail]
		if !ok {
			return fmt.Errorf("sim: board: no rail %q", b.o.Rail)
		}
		r.board = true
	}
	for _, d := range w.disks {
		if d.o.Rail == "" {
			continue
		}
		r, ok := w.railBy[d.o.Rail]
		if !ok {
			return fmt.Errorf("sim: disk %s: no rail %q", d.o.Name, d.o.Rail)
		}
		r.disks = append(r.disks, d)
	}

	name := o.I2CBus
	if name == "" {
		name = "I2C1"
	}
	w.bus = &Bus{
		name:  name,
		devs:  map[uint16]*slot{},
		speed: 100 * physic.KiloHertz,
		acquire: func() (time.Time, error) {
			t := w.lock()
			if w.board.state == BoardHalted {
				return t, fmt.Errorf("the board is halted: %w", errIO)
			}
			return t, nil
		},
		release: w.unlock,
		powered: w.sensorPowered,
	}
	for _, so := range o.Sensors {
		dev, err := w.chip(so)
		if err != nil {
			return fmt.Errorf("sim: sensor 0x%02x: %w", so.Addr, err)
		}
		if err := w.bus.attachLocked(w.origin, so.Addr, dev); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		s := &sensor{o: so, dev: dev}
		w.sensors = append(w.sensors, s)
		if c, ok := dev.(*INA228); ok {
			c.DieTemp = w.dieTemp
		}
		if so.Kernel {
			s.probe(w.origin)
		}
	}

	for _, uo := range o.Units {
		if uo.Name == "" {
			return fmt.Errorf("sim: a unit has no name")
		}
		w.units = append(w.units, &unit{o: uo})
	}
	w.listen = append([]uint16(nil), o.Listen...)
	for range w.listen {
		w.listenInode = append(w.listenInode, w.inode())
	}
	if o.Button != nil {
		w.button = newButton(w, *o.Button)
	}

	// The system's own mounts, then the fstab disks.
	w.pids = 1000
	w.mounts = []*mount{
		{id: 22, parent: 1, devNo: "179:2", target: "/", opts: "rw,noatime", optional: "shared:1", fstype: "ext4", source: "/dev/mmcblk0p2", super: "rw"},
		{id: 23, parent: 22, devNo: "0:5", target: "/dev", opts: "rw,nosuid,relatime", optional: "shared:2", fstype: "devtmpfs", source: "udev", super: "rw,size=4012336k,nr_inodes=1003084,mode=755"},
		{id: 24, parent: 22, devNo: "0:22", target: "/proc", opts: "rw,nosuid,nodev,noexec,relatime", optional: "shared:12", fstype: "proc", source: "proc", super: "rw"},
		{id: 25, parent: 22, devNo: "0:21", target: "/sys", opts: "rw,nosuid,nodev,noexec,relatime", optional: "shared:7", fstype: "sysfs", source: "sysfs", super: "rw"},
		{id: 26, parent: 22, devNo: "0:25", target: "/run", opts: "rw,nosuid,nodev,noexec,relatime", optional: "shared:5", fstype: "tmpfs", source: "tmpfs", super: "rw,size=1611816k,mode=755"},
		{id: 27, parent: 22, devNo: "179:1", target: "/boot/firmware", opts: "rw,relatime", optional: "shared:3", fstype: "vfat", source: "/dev/mmcblk0p1", super: "rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro"},
	}
	w.mountID = 27
	for _, d := range w.disks {
		for _, p := range d.parts {
			if p.o.MountPoint != "" {
				if err := os.MkdirAll(w.Path(p.o.MountPoint), 0o755); err != nil {
					return fmt.Errorf("sim: mount point %s: %w", p.o.MountPoint, err)
				}
			}
		}
	}

	// The world starts in steady state: hubs and disks powered, spinning and
	// enumerated, filesystems mounted, units running.
	at := w.origin
	for _, h := range w.hubs {
		h.link = !h.root() && w.linkUp(h.o.Name)
	}
	for _, d := range w.disks {
		if d.o.SelfPowered || w.vbus(d.port.group) {
			d.powered = true
			d.state = DiskIdle
			d.st = diskStats{at: at, rios: 48211, rsect: 9.1e6, rticks: 61000, wios: 7313, wsect: 1.4e6, wticks: 22000, ioticks: 70500, queue: 83000}
		}
		d.link = d.powered && w.linkUp(d.o.Location)
		d.present = d.link
		w.armStandby(at, d)
	}
	w.mountFstab(at)
	for _, d := range w.disks {
		d.ev.cancel() // the fstab mounts' reads are history
		d.ev = nil
		d.state = DiskIdle
		if !d.powered {
			d.state = DiskOff
		}
		d.busyUntil = time.Time{}
		w.armStandby(at, d)
	}
	for _, u := range w.units {
		if u.o.Active {
			if err := w.activate(at, u); err != nil {
				return fmt.Errorf("sim: unit %s: %w", u.o.Name, err)
			}
		}
	}
	for _, d := range w.disks {
		d := d
		w.startPattern("disk "+d.o.Name, d.o.IO, func(t time.Time) {
			if w.board.state == BoardRunning && d.present && w.mountedOn(d) {
				w.diskIO(t, d, d.o.IO.Duration, d.o.IO.Write)
			}
		})
	}
	for _, u := range w.units {
		u := u
		w.startPattern("unit "+u.o.Name, u.o.IO, func(t time.Time) { w.unitIO(t, u) })
	}
	b.temp.reset(at, b.o.AmbientC+socKPerWatt*b.power())
	for _, l := range []*lag{&b.load1, &b.load5, &b.load15} {
		l.reset(at, 0.15)
	}
	w.scheduleBurst(at)
	w.changed(at)
	return nil
}

func (w *World) chip(so SensorOpts) (Device, error) {
	one := func() (Signal, error) { return w.railSignal(so.Rail) }
	switch so.Chip {
	case ChipINA219, ChipINA226, ChipINA228:
		if so.Shunt <= 0 {
			return nil, fmt.Errorf("%s needs a shunt resistance", so.Chip)
		}
		s, err := one()
		if err != nil {
			return nil, err
		}
		switch so.Chip {
		case ChipINA219:
			return NewINA219(s, so.Shunt), nil
		case ChipINA226:
			return NewINA226(s, so.Shunt), nil
		}
		return NewINA228(s, so.Shunt), nil
	case ChipINA260:
		s, err := one()
		if err != nil {
			return nil, err
		}
		return NewINA260(s), nil
	case ChipINA3221:
		var sigs [3]Signal
		var shunts [3]physic.ElectricResistance
		for n, c := range so.Channels {
			if c.Rail == "" {
				continue
			}
			s, err := w.railSignal(c.Rail)
			if err != nil {
				return nil, fmt.Errorf("channel %d: %w", n+1, err)
			}
			if c.Shunt <= 0 {
				return nil, fmt.Errorf("channel %d needs a shunt resistance", n+1)
			}
			sigs[n], shunts[n] = s, c.Shunt
		}
		return NewINA3221(sigs, shunts), nil
	}
	return nil, fmt.Errorf("unknown chip %q", so.Chip)
}

// sensorPowered: chips fed from the Pi's 3.3 V are off while it is halted.
func (w *World) sensorPowered(addr uint16) bool {
	for _, s := range w.sensors {
		if s.o.Addr == addr {
			return s.o.ExternalSupply || w.board.state != BoardHalted
		}
	}
	return true
}

// dieTemp is a sensor die's temperature: near the room's, warmed a little by
// the board next to it.
func (w *World) dieTemp(t time.Time) float64 {
	a := w.board.o.AmbientC
	return a + 0.25*(w.board.temp.value(t)-a)
}
