package activity

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC)

// tree builds a fake root in a temporary directory.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T) *tree { return &tree{t, t.TempDir()} }

func (tr *tree) file(rel, content string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) fixture(rel, name string) {
	tr.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.file(rel, string(b))
}

func (tr *tree) link(rel, target string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		tr.t.Fatal(err)
	}
}

// check runs c and fails the test unless it gives want and a detail
// containing every one of the "|"-separated parts of detail.
func check(t *testing.T, c Checker, now time.Time, want bool, detail string) string {
	t.Helper()
	active, d, err := c.Check(context.Background(), now)
	if err != nil {
		t.Fatalf("%s: %v", c.Name(), err)
	}
	if active != want {
		t.Fatalf("%s: active %v, want %v (detail %q)", c.Name(), active, want, d)
	}
	if !want && d != "" {
		t.Errorf("%s: inactive with detail %q", c.Name(), d)
	}
	for _, part := range strings.Split(detail, "|") {
		if !strings.Contains(d, part) {
			t.Errorf("%s: detail %q does not say %q", c.Name(), d, part)
		}
	}
	return d
}

func TestParseTCP(t *testing.T) {
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		socks, err := ParseTCP(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]Socket{
			"tcp": {
				{netip.MustParseAddrPort("0.0.0.0:22"), netip.MustParseAddrPort("0.0.0.0:0"), 0x0a},
				{netip.MustParseAddrPort("0.0.0.0:445"), netip.MustParseAddrPort("0.0.0.0:0"), 0x0a},
				{netip.MustParseAddrPort("127.0.0.1:3000"), netip.MustParseAddrPort("0.0.0.0:0"), 0x0a},
				{netip.MustParseAddrPort("192.0.2.10:22"), netip.MustParseAddrPort("192.0.2.4:54258"), 1},
				{netip.MustParseAddrPort("192.0.2.10:445"), netip.MustParseAddrPort("192.0.2.9:49568"), 1},
				{netip.MustParseAddrPort("127.0.0.1:3000"), netip.MustParseAddrPort("127.0.0.1:40000"), 1},
				{netip.MustParseAddrPort("192.0.2.10:22"), netip.MustParseAddrPort("192.0.2.5:54272"), 6},
				{netip.MustParseAddrPort("192.0.2.10:36174"), netip.MustParseAddrPort("93.184.216.34:443"), 1},
			},
			"tcp6": {
				{netip.MustParseAddrPort("[::]:22"), netip.MustParseAddrPort("[::]:0"), 0x0a},
				{netip.MustParseAddrPort("[::ffff:192.0.2.10]:32400"), netip.MustParseAddrPort("[::ffff:192.0.2.7]:58033"), 1},
				{netip.MustParseAddrPort("[2001:db8::1]:22"), netip.MustParseAddrPort("[2001:db8::2]:50010"), 1},
			},
		}[name]
		if len(socks) != len(want) {
			t.Fatalf("%s: %d sockets, want %d: %v", name, len(socks), len(want), socks)
		}
		if isBigEndian() {
			continue // the fixtures were printed by a little-endian kernel
		}
		for i := range want {
			if socks[i] != want[i] {
				t.Errorf("%s line %d: %v, want %v", name, i+1, socks[i], want[i])
			}
		}
	}
	for _, bad := range []string{
		"  sl  local\n   0: 0100007F:0BB8\n",
		"   0: 0100007G:0BB8 00000000:0000 0A\n",
		"   0: 0100007F:0BB 00000000:0000 0A\n",
		"   0: 0100007F:0BB8 00000000:0000 0X\n",
		"   0: 0100007F:0BB8 00000000:0000 1FF\n",
	} {
		if socks, err := ParseTCP(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseTCP(%q) = %v, want an error", bad, socks)
		}
	}
}

func isBigEndian() bool {
	switch runtime.GOARCH {
	case "s390x", "ppc64", "mips", "mips64":
		return true
	}
	return false
}

func hostTree(t *testing.T) *tree {
	tr := newTree(t)
	tr.fixture("proc/net/tcp", "tcp")
	tr.fixture("proc/net/tcp6", "tcp6")
	return tr
}

func TestConnections(t *testing.T) {
	if isBigEndian() {
		t.Skip("fixtures printed by a little-endian kernel")
	}
	tr := hostTree(t)
	c := &Connections{Root: tr.root, Ports: []Port{{Number: 22}, {Number: 445}, {Number: 32400}, {Number: 3000}}}
	check(t, c, t0, true, "ssh connection from 192.0.2.4, smb connection from 192.0.2.9, gitea connection from 127.0.0.1 and 2 more")

	c.Ports = []Port{{Number: 3000, Service: "forge"}}
	check(t, c, t0, true, "forge connection from 127.0.0.1")
	c.IgnoreLoopback = true
	check(t, c, t0, false, "")

	c.Ports = []Port{{Number: 32400}}
	check(t, c, t0, true, "plex connection from 192.0.2.7") // IPv4-mapped, shown unmapped
	c.Ports = []Port{{Number: 22}}
	d := check(t, c, t0, true, "ssh connection from 192.0.2.4, ssh connection from 2001:db8::2")
	if strings.Contains(d, "192.0.2.5") {
		t.Errorf("a TIME_WAIT connection counted: %q", d)
	}
	c.Ports = []Port{{Number: 443}, {Number: 8080}}
	check(t, c, t0, false, "") // an outgoing connection to 443 is not a local port

	c.Ports = nil
	check(t, c, t0, false, "")
}

func TestConnectionsContainers(t *testing.T) {
	tr := newTree(t)
	tr.file("proc/net/tcp", "  sl  local_address rem_address   st\n")
	// tcp6 missing: IPv6 disabled on the host.
	tr.link("proc/self/ns/net", "net:[4026531840]")
	tr.link("proc/1/ns/net", "net:[4026531840]")
	tr.file("proc/1/net/tcp", "garbage that must not be read, it is the host's namespace\n")
	// A Jellyfin container: its table shows the container side, port 8096.
	tr.link("proc/812/ns/net", "net:[4026532500]")
	tr.file("proc/812/comm", "jellyfin\n")
	tr.file("proc/812/net/tcp", "  sl  local_address rem_address   st\n   0: 020011AC:1FA0 090200C0:C1A0 01 00000000:00000000\n")
	tr.file("proc/812/net/tcp6", "")
	// Another process in the same namespace: not read again.
	tr.link("proc/813/ns/net", "net:[4026532500]")
	tr.file("proc/813/net/tcp", "  sl  local_address rem_address   st\n   0: 020011AC:1FA0 0A0200C0:C1A0 01 00000000:00000000\n")
	// A process that exited between the listing and the read.
	tr.link("proc/900/ns/net", "net:[4026532600]")

	c := &Connections{Root: tr.root, Ports: []Port{{Number: 8096}}}
	check(t, c, t0, false, "")
	c.Containers = true
	if isBigEndian() {
		t.Skip("fixtures printed by a little-endian kernel")
	}
	d := check(t, c, t0, true, "jellyfin connection from 192.0.2.9 (netns 4026532500 of pid 812 jellyfin)")
	if strings.Contains(d, "192.0.2.10") {
		t.Errorf("a namespace was scanned twice: %q", d)
	}

	tr.link("proc/901/ns/net", "mnt:[4026531841]")
	if _, _, err := c.Check(context.Background(), t0); err == nil || !strings.Contains(err.Error(), "is not a network namespace") {
		t.Errorf("a bad namespace link: %v", err)
	}
}

func TestConnectionsPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	tr := newTree(t)
	tr.file("proc/net/tcp", "")
	tr.link("proc/self/ns/net", "net:[1]")
	tr.link("proc/5/ns/net", "net:[2]")
	if err := os.Chmod(filepath.Join(tr.root, "proc/5/ns"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(tr.root, "proc/5/ns"), 0o755) })
	c := &Connections{Root: tr.root, Ports: []Port{{Number: 22}}, Containers: true}
	if _, _, err := c.Check(context.Background(), t0); err == nil || !strings.Contains(err.Error(), "CAP_SYS_PTRACE") {
		t.Errorf("permission denied: %v", err)
	}
}

func TestConnectionsErrors(t *testing.T) {
	tr := newTree(t)
	c := &Connections{Root: tr.root, Ports: []Port{{Number: 22}}}
	if _, _, err := c.Check(context.Background(), t0); err == nil {
		t.Error("no /proc/net/tcp, no error")
	}
	tr.file("proc/net/tcp", "   0: nonsense\n")
	if _, _, err := c.Check(context.Background(), t0); err == nil || !strings.Contains(err.Error(), "proc/net/tcp") {
		t.Errorf("a bad table: %v", err)
	}
}

func netTree(t *testing.T) *tree {
	tr := newTree(t)
	tr.file("sys/class/net/bonding_masters", "\n") // a file, not an interface
	for _, ifc := range []string{"lo", "eth0", "wlan0", "docker0", "veth1a2b"} {
		tr.file("sys/class/net/"+ifc+"/statistics/rx_bytes", "1000\n")
		tr.file("sys/class/net/"+ifc+"/statistics/tx_bytes", "1000\n")
	}
	return tr
}

func TestThroughput(t *testing.T) {
	tr := netTree(t)
	c := &Throughput{Root: tr.root, Exclude: []string{"docker0", "veth*"}, Threshold: 100_000}
	check(t, c, t0, false, "") // first reading only records

	tr.file("sys/class/net/eth0/statistics/rx_bytes", "1501000\n") // 1.5 MB in 10 s
	tr.file("sys/class/net/lo/statistics/rx_bytes", "900000000\n")
	tr.file("sys/class/net/docker0/statistics/tx_bytes", "900000000\n")
	tr.file("sys/class/net/veth1a2b/statistics/tx_bytes", "900000000\n")
	check(t, c, t0.Add(10*time.Second), true, "network 150.0 kB/s (eth0 150.0 kB/s)")

	tr.file("sys/class/net/wlan0/statistics/tx_bytes", "201000\n") // 200 kB in 10 s
	check(t, c, t0.Add(20*time.Second), false, "")                 // 20 kB/s < 100 kB/s

	// A re-created interface (counters back to 0) is left out once.
	tr.file("sys/class/net/eth0/statistics/rx_bytes", "0\n")
	check(t, c, t0.Add(30*time.Second), false, "")
	tr.file("sys/class/net/eth0/statistics/rx_bytes", "5000000\n")
	check(t, c, t0.Add(40*time.Second), true, "(eth0 500.0 kB/s)")

	// A clock step back: this reading only records.
	tr.file("sys/class/net/eth0/statistics/rx_bytes", "9000000\n")
	check(t, c, t0, false, "")

	tr.file("sys/class/net/eth0/statistics/tx_bytes", "forty\n")
	if _, _, err := c.Check(context.Background(), t0.Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "eth0/statistics/tx_bytes") {
		t.Errorf("a bad counter: %v", err)
	}
}

func diskTree(t *testing.T) *tree {
	tr := newTree(t)
	tr.fixture("proc/diskstats", "diskstats")
	tr.link("sys/class/block/sdb/holders/dm-0", "../../dm-0")
	return tr
}

// bump adds sectors to a diskstats line's sectors-read field.
func bump(t *testing.T, tr *tree, name string, sectors uint64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.root, "proc/diskstats"))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := ParseDiskstats(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, s := range stats {
		if s.Name == name {
			s.SectorsRead += sectors
		}
		// Rewrite in the 20-field (Linux 5.5+) layout.
		out.WriteString(strings.Join([]string{u(s.Major), u(s.Minor), s.Name, "1", "0", u(s.SectorsRead), "0", "1", "0", u(s.SectorsWritten), "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"}, " ") + "\n")
	}
	tr.file("proc/diskstats", out.String())
}

func u[T uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

func TestDiskIO(t *testing.T) {
	tr := diskTree(t)
	c := &DiskIO{Root: tr.root, Threshold: 100_000}
	check(t, c, t0, false, "")

	// Whole-disk counters move (smartctl asking the disk): not activity.
	bump(t, tr, "sda", 100_000)
	bump(t, tr, "nvme0n1", 100_000)
	check(t, c, t0.Add(10*time.Second), false, "")

	// A partition reads 4000 sectors in 10 s: 204.8 kB/s.
	bump(t, tr, "sda1", 4000)
	check(t, c, t0.Add(20*time.Second), true, "disk I/O 204.8 kB/s (sda 204.8 kB/s)")

	// sdb has no partitions: its LUKS holder dm-0 counts.
	bump(t, tr, "sdb", 1_000_000)
	check(t, c, t0.Add(30*time.Second), false, "")
	bump(t, tr, "dm-0", 10_000)
	check(t, c, t0.Add(40*time.Second), true, "(sdb 512.0 kB/s)")

	// The SD card is not watched unless named; named, it counts its partitions.
	bump(t, tr, "mmcblk0p2", 10_000)
	check(t, c, t0.Add(50*time.Second), false, "")
	named := &DiskIO{Root: tr.root, Disks: []string{"/dev/mmcblk0"}, Threshold: 1}
	check(t, named, t0, false, "")
	bump(t, tr, "mmcblk0p2", 20)
	check(t, named, t0.Add(time.Second), true, "mmcblk0 10.2 kB/s")
}

func TestParseDiskstats(t *testing.T) {
	f, err := os.Open("testdata/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats, err := ParseDiskstats(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 11 {
		t.Fatalf("%d disks", len(stats))
	}
	if s := stats[5]; s != (DiskStat{8, 0, "sda", 1000000, 2000000}) {
		t.Errorf("sda: %+v", s)
	}
	// The 14-field layout of kernels before 4.18.
	old := "   8       0 sda 5120 210 1000000 12011 1200 800 2000000 30112 0 24011 42123\n"
	if stats, err := ParseDiskstats(strings.NewReader(old)); err != nil || stats[0].SectorsWritten != 2000000 {
		t.Errorf("14 fields: %v %v", stats, err)
	}
	for _, bad := range []string{"8 0 sda 1 2 3\n", "8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n", "8 0 sda 1 2 -3 4 5 6 7 8 9 10 11\n", "99999999999 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"} {
		if _, err := ParseDiskstats(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseDiskstats(%q) accepted", bad)
		}
	}
}

func TestDiskNames(t *testing.T) {
	for name, want := range map[string]bool{"sda": true, "sdab": true, "sda1": false, "sd": false, "nvme0n1": true, "nvme0n1p1": false, "nvme0": false, "mmcblk0": false, "dm-0": false, "loop0": false} {
		if wholeDisk(name) != want {
			t.Errorf("wholeDisk(%q) = %v", name, !want)
		}
	}
	for _, c := range []struct {
		disk, name string
		want       bool
	}{{"sda", "sda1", true}, {"sda", "sda12", true}, {"sda", "sdab", false}, {"sda", "sda", false}, {"nvme0n1", "nvme0n1p2", true}, {"nvme0n1", "nvme0n12", false}, {"mmcblk0", "mmcblk0p1", true}, {"mmcblk0", "mmcblk0boot0", false}} {
		if isPartition(c.disk, c.name) != c.want {
			t.Errorf("isPartition(%q, %q) = %v", c.disk, c.name, !c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	tr := newTree(t)
	tr.fixture("proc/loadavg", "loadavg")
	c := &Load{Root: tr.root, Threshold: 0.55}
	check(t, c, t0, true, "load 0.58 over 5 min (threshold 0.55)")
	c.Minutes = 1
	check(t, c, t0, false, "")
	c.Minutes = 15
	check(t, c, t0, true, "load 0.59 over 15 min")
	c.Minutes = 10
	if _, _, err := c.Check(context.Background(), t0); err == nil {
		t.Error("a 10-minute load average was accepted")
	}
	for _, bad := range []string{"", "0.5 0.5", "0.5 x 0.5 1/2 3", "-1 0 0 1/1 1", "NaN 0 0 1/1 1"} {
		if _, err := ParseLoadavg(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseLoadavg(%q) accepted", bad)
		}
	}
}

func TestProcesses(t *testing.T) {
	tr := newTree(t)
	proc := func(pid, comm, cmdline string) {
		tr.file("proc/"+pid+"/comm", comm+"\n")
		tr.file("proc/"+pid+"/cmdline", cmdline)
	}
	proc("1", "systemd", "/sbin/init\x00splash\x00")
	proc("2", "kthreadd", "") // kernel thread
	proc("812", "rsync", "rsync\x00-a\x00/srv/\x00backup:/srv/\x00")
	proc("900", "python3", "/usr/bin/borg\x00create\x00") // a script: argv[0] names it
	proc("901", "unattended-upgr", "/usr/bin/python3\x00/usr/bin/unattended-upgrade\x00")
	tr.file("proc/self/comm", "veille\n") // not a pid
	tr.file("proc/loadavg", "0 0 0 1/1 1\n")

	c := &Processes{Root: tr.root, Names: []string{"borg", "rsync"}}
	check(t, c, t0, true, "rsync running (pid 812), borg running (pid 900)")
	c.Names = []string{"unattended-upgrade"} // longer than comm's 15 bytes
	check(t, c, t0, true, "unattended-upgrade running (pid 901)")
	c.Names = []string{"restic", "init"}
	check(t, c, t0, true, "init running (pid 1)")
	c.Names = []string{"restic", "kthread"}
	check(t, c, t0, false, "")
	c.Names = nil
	check(t, c, t0, false, "")
}

// fakeLogind is a plain-value Logind for the check logic; logind_test.go
// runs the same checks through package systemd's client on a private bus.
type fakeLogind struct {
	sessions   []Session
	inhibitors []Inhibitor
	err        error
}

func (f *fakeLogind) ListSessions(context.Context) ([]Session, error)     { return f.sessions, f.err }
func (f *fakeLogind) ListInhibitors(context.Context) ([]Inhibitor, error) { return f.inhibitors, f.err }

func TestSessions(t *testing.T) {
	l := &fakeLogind{sessions: []Session{
		{ID: "c1", User: "lightdm", Class: "greeter", State: "online"},
		{ID: "2", User: "root", Class: "background", State: "active"}, // cron
		{ID: "3", User: "alice", Class: "user", State: "closing", Service: "sshd", Remote: true, RemoteHost: "192.0.2.8"},
	}}
	c := &Sessions{Logind: l}
	check(t, c, t0, false, "")
	l.sessions = append(l.sessions,
		Session{ID: "4", User: "alice", Class: "user", State: "active", Service: "sshd", Remote: true, RemoteHost: "192.0.2.4"},
		Session{ID: "5", User: "bob", Class: "user", State: "online", Service: "login", TTY: "tty1", Idle: true})
	check(t, c, t0, true, "ssh session 4 of alice from 192.0.2.4, session 5 of bob on tty1")
	c.IgnoreIdle = true
	c.IgnoreUsers = []string{"alice"}
	check(t, c, t0, false, "")
	l.err = errors.New("bus gone")
	if _, _, err := c.Check(context.Background(), t0); err == nil {
		t.Error("error lost")
	}
}

func TestInhibitors(t *testing.T) {
	l := &fakeLogind{inhibitors: []Inhibitor{
		{What: "shutdown:sleep", Who: "veille", Why: "sleeping the disks", Mode: "delay", PID: 10},
		{What: "handle-power-key", Who: "veille", Why: "button", Mode: "block", PID: 10},
		{What: "sleep", Who: "NetworkManager", Why: "NetworkManager needs to turn off networks", Mode: "delay", PID: 700},
		{What: "shutdown", Who: "veille", Why: "own lock", Mode: "block", PID: 10},
	}}
	c := &Inhibitors{Logind: l, SelfPID: 10}
	check(t, c, t0, false, "")
	l.inhibitors = append(l.inhibitors, Inhibitor{What: "shutdown:sleep:idle", Who: "Nextcloud backup", Why: "Backing up", Mode: "block", PID: 812})
	check(t, c, t0, true, `"Nextcloud backup" (pid 812) blocks shutdown, sleep, idle: Backing up`)
	c.What = []string{"handle-lid-switch"}
	check(t, c, t0, false, "")
	c.What = nil
	c.SelfPID = 0 // this process: pid 10 is someone else now
	check(t, c, t0, true, `"veille" (pid 10) blocks shutdown: own lock`)
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelfTest(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to fake smartctl with")
	}
	out := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "smartctl", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := t.TempDir()
	for _, n := range []string{"ata-running", "ata-idle", "nvme-running", "standby"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(out(n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The fake answers per device, with smartctl's exit statuses, and logs
	// its arguments.
	fake := script(t, `echo "$@" >> `+dir+`/args
case "$6" in
/dev/sda) cat `+dir+`/ata-running ;;
/dev/sdb) cat `+dir+`/standby; exit 2 ;;
/dev/sdc) cat `+dir+`/ata-idle; exit 64 ;;
/dev/nvme0) cat `+dir+`/nvme-running ;;
*) echo "Smartctl open device: $6 failed: No such device"; exit 2 ;;
esac
`)
	c := &SelfTest{Smartctl: fake, Devices: []string{"/dev/sdb", "/dev/sdc"}}
	check(t, c, t0, false, "") // asleep (not woken) and idle with a health warning bit
	c.Devices = []string{"/dev/sdb", "/dev/sda", "/dev/nvme0"}
	check(t, c, t0, true, "self-test in progress on /dev/sda (90% remaining), self-test in progress on /dev/nvme0 (77% remaining)")
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.Split(string(args), "\n")[0]; first != "-c -l selftest -n standby /dev/sdb" {
		t.Errorf("smartctl called with %q", first)
	}
	c.Devices = []string{"/dev/sdz"}
	if _, _, err := c.Check(context.Background(), t0); err == nil || !strings.Contains(err.Error(), "No such device") {
		t.Errorf("a missing device: %v", err)
	}

	c.Smartctl = filepath.Join(t.TempDir(), "smartctl")
	_, _, err = c.Check(context.Background(), t0)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("no smartctl: %v, want ErrUnavailable", err)
	}
}

func TestParseSelfTest(t *testing.T) {
	for name, want := range map[string]SelfTestStatus{
		"ata-running":  {Running: true, Remaining: "90%"},
		"ata-idle":     {},
		"nvme-running": {Running: true, Remaining: "77%"},
		"nvme-idle":    {},
		"scsi-running": {Running: true},
		"standby":      {Standby: true},
	} {
		f, err := os.Open(filepath.Join("testdata", "smartctl", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSelfTest(f)
		f.Close()
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, line := range []string{"Device is in STANDBY_Y mode, exit(3)", "Device is in STANDBY (OS) mode, exit(2)", "Device is in SLEEP mode, exit(2)"} {
		if st, _ := ParseSelfTest(strings.NewReader(line)); !st.Standby {
			t.Errorf("%q not standby", line)
		}
	}
}

func TestCommand(t *testing.T) {
	c := &Command{Argv: []string{"/bin/sh", "-c", "echo; echo 'nightly export running'; echo more; exit 0"}}
	if c.Name() != "command" {
		t.Error(c.Name())
	}
	check(t, c, t0, true, "nightly export running")
	c.Argv = []string{"/bin/sh", "-c", "echo busy; exit 1"}
	check(t, c, t0, false, "")
	c.Label, c.Argv = "export", []string{"/bin/true"}
	if c.Name() != "export" {
		t.Error(c.Name())
	}
	check(t, c, t0, true, "true reports activity")

	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{filepath.Join(t.TempDir(), "missing")}, "run "},
		{nil, "no program"},
		{[]string{"/bin/sh", "-c", "kill -TERM $$"}, "signal: terminated"},
	} {
		c := &Command{Argv: tc.argv}
		if _, _, err := c.Check(context.Background(), t0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.argv, err, tc.want)
		}
	}
}

func TestCommandTimeout(t *testing.T) {
	// A program that outlives its timeout, and whose child holds stdout
	// open: the whole group is killed and Check returns promptly.
	c := &Command{Argv: []string{"/bin/sh", "-c", "sleep 60 & sleep 60"}, Timeout: 50 * time.Millisecond}
	_, _, err := c.Check(context.Background(), t0)
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Errorf("timeout: %v", err)
	}
}

// stubCheck is a Checker with fixed answers, for Set.
type stubCheck struct {
	name   string
	active bool
	detail string
	err    error
}

func (s *stubCheck) Name() string { return s.name }
func (s *stubCheck) Check(context.Context, time.Time) (bool, string, error) {
	return s.active, s.detail, s.err
}

func TestSet(t *testing.T) {
	var logs bytes.Buffer
	smart := &stubCheck{name: "smart", err: ErrUnavailable}
	broken := &stubCheck{name: "load", err: errors.New("/proc/loadavg: permission denied")}
	s := &Set{
		Checks: []Checker{
			&stubCheck{name: "connections", active: true, detail: "ssh connection from 192.0.2.4"},
			&stubCheck{name: "network"},
			smart,
			broken,
			&stubCheck{name: "processes", active: true, detail: "rsync running (pid 812)"},
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	got, err := s.Run(context.Background(), t0)
	want := []string{"connections: ssh connection from 192.0.2.4", "load: check failed: /proc/loadavg: permission denied", "processes: rsync running (pid 812)"}
	if len(got) != len(want) {
		t.Fatalf("Run = %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("activity %d: %q, want %q", i, got[i], want[i])
		}
	}
	if got[1].Err == nil || got[0].Err != nil {
		t.Error("Err not set on the failing check only")
	}
	if err == nil || !strings.Contains(err.Error(), "activity check smart: check unavailable") || !strings.Contains(err.Error(), "activity check load: /proc/loadavg") {
		t.Errorf("errors: %v", err)
	}
	if !strings.Contains(logs.String(), "check=smart") {
		t.Errorf("unavailable check not logged: %s", logs.String())
	}

	// Said once: the next run reports only the broken check.
	broken.err = nil
	logs.Reset()
	if got, err := s.Run(context.Background(), t0); err != nil || len(got) != 2 || logs.Len() != 0 {
		t.Errorf("second run: %v, %v, logs %q", got, err, logs.String())
	}
	// It works, then fails again: said again.
	smart.err = nil
	s.Run(context.Background(), t0)
	smart.err = ErrUnavailable
	if _, err := s.Run(context.Background(), t0); err == nil {
		t.Error("unavailable again, not said")
	}
	if got, err := (&Set{}).Run(context.Background(), t0); got != nil || err != nil {
		t.Errorf("empty set: %v %v", got, err)
	}
}
