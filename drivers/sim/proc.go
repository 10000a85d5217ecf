package sim

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// renderProc: /proc files that describe processes, mounts, disks, sockets.
func (w *World) renderProc(t tree) {
	t.file("/proc/self/mountinfo", w.mountinfo())
	t.file("/proc/1/comm", "systemd\n")
	t.file("/proc/1/cmdline", "/sbin/init\x00")
	for _, u := range w.units {
		if !u.active {
			continue
		}
		dir := fmt.Sprintf("/proc/%d", u.pid)
		t.file(dir+"/comm", u.process()+"\n")
		t.file(dir+"/cmdline", "/usr/bin/"+u.process()+"\x00")
		for i, h := range u.o.Holds {
			t.abslink(fmt.Sprintf("%s/fd/%d", dir, i+3), w.rel(h))
		}
	}
	for _, f := range w.files {
		dir := fmt.Sprintf("/proc/%d", f.pid)
		t.file(dir+"/comm", f.Process+"\n")
		t.file(dir+"/cmdline", "/usr/bin/"+f.Process+"\x00")
		t.abslink(dir+"/fd/3", f.Path)
	}
}

// renderDynamic: the files that follow time.
func (w *World) renderDynamic(t tree) {
	at := w.t
	t.file("/proc/diskstats", w.diskstats(at))
	for _, d := range w.disks {
		if d.present {
			t.file(d.blockDir()+"/stat", blockStat(d.st))
			for _, p := range d.parts {
				st := diskStats{}
				if p.n == 1 {
					st = d.st // a disk's I/O all goes to its first partition
				}
				t.file(d.blockDir()+"/"+p.name+"/stat", blockStat(st))
			}
		}
	}
	t.file("/proc/loadavg", w.loadavg(at))
	t.file("/proc/uptime", w.uptime(at))
	t.file("/proc/sys/kernel/random/boot_id", w.bootID())
	t.file("/proc/net/tcp", w.procTCP(false))
	t.file("/proc/net/tcp6", w.procTCP(true))
	rx, tx := w.netBytes(at)
	lo := w.loBytes(at)
	t.file("/proc/net/dev", procNetDev(lo, rx, tx))
	t.file("/sys/devices/platform/axi/1000120000.pcie/1f00100000.ethernet/net/eth0/statistics/rx_bytes", fmt.Sprintf("%d\n", rx))
	t.file("/sys/devices/platform/axi/1000120000.pcie/1f00100000.ethernet/net/eth0/statistics/tx_bytes", fmt.Sprintf("%d\n", tx))
	t.file("/sys/devices/virtual/net/lo/statistics/rx_bytes", fmt.Sprintf("%d\n", lo))
	t.file("/sys/devices/virtual/net/lo/statistics/tx_bytes", fmt.Sprintf("%d\n", lo))
	t.file("/sys/devices/virtual/thermal/thermal_zone0/temp",
		fmt.Sprintf("%d\n", int64(math.Round(w.board.temp.value(at)*1000))))
	w.renderHwmon(t, at)
	if !w.board.o.NoRTC {
		rtc := rtcDir
		u := at.UTC()
		t.file(rtc+"/since_epoch", fmt.Sprintf("%d\n", u.Unix()))
		t.file(rtc+"/date", u.Format("2006-01-02")+"\n")
		t.file(rtc+"/time", u.Format("15:04:05")+"\n")
	}
}

// mountinfo renders /proc/self/mountinfo (proc(5)): mount ID, parent ID,
// major:minor, root, mount point, options, optional fields, "-", type,
// source, super options; spaces and the like escaped as \040.
func (w *World) mountinfo() string {
	var b strings.Builder
	esc := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	for _, m := range w.mounts {
		opt := ""
		if m.optional != "" {
			opt = " " + m.optional
		}
		fmt.Fprintf(&b, "%d %d %s / %s %s%s - %s %s %s\n",
			m.id, m.parent, m.devNo, esc.Replace(m.target), m.opts, opt, m.fstype, esc.Replace(m.source), m.super)
	}
	return b.String()
}

// diskstats renders /proc/diskstats in the 20-field form of Linux 5.5+.
func (w *World) diskstats(at time.Time) string {
	var b strings.Builder
	line := func(major, minor int, name string, s diskStats) {
		inflight := 0
		fmt.Fprintf(&b, "%4d %7d %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n",
			major, minor, name,
			uint64(s.rios), 0, uint64(s.rsect), uint64(s.rticks),
			uint64(s.wios), 0, uint64(s.wsect), uint64(s.wticks),
			inflight, uint64(s.ioticks), uint64(s.queue),
			0, 0, 0, 0, 0, 0)
	}
	// The SD card: the system's own small writes (journal, logs).
	up := w.upSeconds(at)
	sd := diskStats{rios: 2100 + up/600, rsect: 180000 + up/4, rticks: 4200, wios: up / 5, wsect: up * 8 / 5, wticks: up / 3, ioticks: up / 2, queue: up / 2}
	line(179, 0, "mmcblk0", sd)
	line(179, 1, "mmcblk0p1", diskStats{rios: 310, rsect: 14000, rticks: 300})
	line(179, 2, "mmcblk0p2", sd)
	for _, d := range w.disks {
		if !d.present {
			continue
		}
		d.account(at)
		line(d.major(), d.minor(), d.o.Name, d.st)
		for _, p := range d.parts {
			st := diskStats{}
			if p.n == 1 {
				st = d.st
			}
			line(d.major(), p.minor, p.name, st)
		}
	}
	return b.String()
}

// blockStat is /sys/block/<dev>/stat: 17 fields, each %8.
func blockStat(s diskStats) string {
	return fmt.Sprintf("%8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d %8d\n",
		uint64(s.rios), 0, uint64(s.rsect), uint64(s.rticks),
		uint64(s.wios), 0, uint64(s.wsect), uint64(s.wticks),
		0, uint64(s.ioticks), uint64(s.queue), 0, 0, 0, 0, 0, 0)
}

func (w *World) upSeconds(at time.Time) float64 {
	if w.board.state == BoardHalted {
		return 0
	}
	return at.Sub(w.board.bootStart).Seconds()
}

// loadavg renders /proc/loadavg: three load averages, running/total tasks,
// last PID.
func (w *World) loadavg(at time.Time) string {
	b := w.board
	l1, l5, l15 := b.load1.value(at), b.load5.value(at), b.load15.value(at)
	running := 1 + int(math.Floor(b.runnable()))
	total := 180 + 3*len(w.units)
	return fmt.Sprintf("%.2f %.2f %.2f %d/%d %d\n", l1, l5, l15, running, total, 1000+w.pids)
}

// uptime renders /proc/uptime: seconds since boot and idle core-seconds.
func (w *World) uptime(at time.Time) string {
	up := w.upSeconds(at)
	return fmt.Sprintf("%.2f %.2f\n", up, up*4*0.97)
}

// Network: the LAN address the Pi serves from.
var (
	lanV4 = netip.MustParseAddr("192.168.1.50")
	lanV6 = netip.MustParseAddr("2001:db8::50")
)

// procTCP renders /proc/net/tcp or tcp6: listening sockets for Listen, then
// the ESTABLISHED connections.
func (w *World) procTCP(v6 bool) string {
	var b strings.Builder
	if v6 {
		b.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	} else {
		fmt.Fprintf(&b, "%-149s\n", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode")
	}
	if w.board.state == BoardHalted {
		return b.String()
	}
	i := 0
	row := func(local, remote netip.AddrPort, state byte, timer string, inode uint64, tail string) {
		var s string
		if v6 {
			s = fmt.Sprintf("%4d: %s:%04X %s:%04X %02X %08X:%08X %s %08X %5d %8d %d %s",
				i, hex6(local.Addr()), local.Port(), hex6(remote.Addr()), remote.Port(), state, 0, 0, timer, 0, 0, 0, inode, tail)
			b.WriteString(s + "\n")
		} else {
			s = fmt.Sprintf("%4d: %s:%04X %s:%04X %02X %08X:%08X %s %08X %5d %8d %d %s",
				i, hex4(local.Addr()), local.Port(), hex4(remote.Addr()), remote.Port(), state, 0, 0, timer, 0, 0, 0, inode, tail)
			fmt.Fprintf(&b, "%-149s\n", s)
		}
		i++
	}
	any := netip.IPv4Unspecified()
	if v6 {
		any = netip.IPv6Unspecified()
	}
	for k, p := range w.listen {
		row(netip.AddrPortFrom(any, p), netip.AddrPortFrom(any, 0), 0x0a, "00:00000000",
			w.listenInode[k], "1 0000000000000000 100 0 0 10 0")
	}
	for _, c := range w.conns {
		if c.Remote.Addr().Is4() == v6 {
			continue
		}
		local := lanV4
		if v6 {
			local = lanV6
		}
		row(netip.AddrPortFrom(local, c.Local), c.Remote, 0x01, "02:0009F6A4", c.inode, "2 0000000000000000 20 4 30 10 -1")
	}
	return b.String()
}

// hex4 is an IPv4 address as the kernel prints a __be32 with %08X on a
// little-endian machine.
func hex4(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%02X%02X%02X%02X", b[3], b[2], b[1], b[0])
}

// hex6 is an IPv6 address as four host-order 32-bit words.
func hex6(a netip.Addr) string {
	b := a.As16()
	var s strings.Builder
	for k := 0; k < 16; k += 4 {
		fmt.Fprintf(&s, "%02X%02X%02X%02X", b[k+3], b[k+2], b[k+1], b[k])
	}
	return s.String()
}

func procNetDev(lo, rx, tx uint64) string {
	var b strings.Builder
	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	for _, r := range []struct {
		name   string
		rx, tx uint64
	}{{"lo", lo, lo}, {"eth0", rx, tx}} {
		fmt.Fprintf(&b, "%6s:%8d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			r.name, r.rx, r.rx/1400+1, 0, 0, 0, 0, 0, 0, r.tx, r.tx/1400+1, 0, 0, 0, 0, 0, 0)
	}
	return b.String()
}

// bootID renders /proc/sys/kernel/random/boot_id: a UUID that changes at
// every boot, derived from the seed so worlds stay reproducible.
func (w *World) bootID() string {
	x := w.seed*0x9e3779b97f4a7c15 + uint64(w.board.boots+1)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	y := x*0x94d049bb133111eb + 1
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x\n", uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, uint16(y>>48)&0xfff, y&0xffffffffffff)
}
