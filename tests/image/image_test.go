// Package image_test checks the SD-card image `make image` builds: its
// layout and contents without booting it, then whole boots of it under QEMU
// (arm64 virt, TCG) with its real kernel, systemd, udev, logind and
// mosquitto, and veille with simulated sensors.
//
// Every test skips unless VEILLE_IMAGE names the raw image (dist/*.img);
// `make image-test` sets it. The release image is never modified: each boot
// runs on a copy carrying a test overlay (units, a guest script, a test
// veille.toml), with -snapshot on top.
//
// Networking stays on this machine: the guest is on a restricted slirp
// network; the host reaches the guest's MQTT broker through a port forward
// bound to 127.0.0.1, and the guest reaches a local apt repository through a
// guestfwd relay to 127.0.0.1.
package image_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

func TestMain(m *testing.M) {
	// QEMU's guestfwd runs this binary per guest connection to the local
	// apt repository: stdin/stdout are the guest's socket.
	if addr := os.Getenv("VEILLE_TEST_RELAY"); addr != "" {
		os.Exit(relay(addr))
	}
	os.Exit(m.Run())
}

func relay(addr string) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 1
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(os.Stdout, conn)
	conn.Close()
	return 0
}

// imageUnderTest is VEILLE_IMAGE, or a skip: the only reason these tests
// skip.
func imageUnderTest(t *testing.T) string {
	t.Helper()
	img := os.Getenv("VEILLE_IMAGE")
	if img == "" {
		t.Skip("VEILLE_IMAGE is not set (make image, then make image-test)")
	}
	if !filepath.IsAbs(img) {
		// make image-test runs `go test` here, two levels below the top
		// where a relative path was meant.
		img = filepath.Join(repoRoot(t), img)
	}
	if _, err := os.Stat(img); err != nil {
		t.Fatalf("VEILLE_IMAGE: %v", err)
	}
	for _, tool := range []string{"qemu-system-aarch64", "mcopy", "mdir", "debugfs", "sfdisk", "mkfs.ext4", "dpkg-deb", "apt-ftparchive", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install qemu-system-arm mtools e2fsprogs fdisk dpkg apt-utils gpg): %v", tool, err)
		}
	}
	return img
}

// repoRoot is the top of the source tree (for image/ext4put.sh, cmd/veille).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no go.mod above %s", dir)
	return ""
}

type partition struct {
	Start, Size int64 // bytes
	Type        string
	Bootable    bool
}

func partitions(t *testing.T, img string) []partition {
	t.Helper()
	var pt struct {
		PartitionTable struct {
			Label      string
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct {
				Start, Size int64
				Type        string
				Bootable    bool
			}
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "-J", img)), &pt); err != nil {
		t.Fatalf("sfdisk -J %s: %v", img, err)
	}
	if pt.PartitionTable.Label != "dos" {
		t.Fatalf("%s: partition table %q, want dos (the Pi firmware reads MBR)", img, pt.PartitionTable.Label)
	}
	ss := pt.PartitionTable.SectorSize
	if ss == 0 {
		ss = 512
	}
	var ps []partition
	for _, p := range pt.PartitionTable.Partitions {
		ps = append(ps, partition{Start: p.Start * ss, Size: p.Size * ss, Type: p.Type, Bootable: p.Bootable})
	}
	return ps
}

// image is a copy of the release image being prepared for one boot.
type image struct {
	Path       string
	Boot, Root partition
}

func (im image) fat() string  { return fmt.Sprintf("%s@@%d", im.Path, im.Boot.Start) }
func (im image) ext4() string { return fmt.Sprintf("%s?offset=%d", im.Path, im.Root.Start) }

func openImage(t *testing.T, path string) image {
	t.Helper()
	ps := partitions(t, path)
	if len(ps) != 2 {
		t.Fatalf("%s: %d partitions, want 2 (boot, root)", path, len(ps))
	}
	return image{Path: path, Boot: ps[0], Root: ps[1]}
}

// copyImage copies the release image (sparse) and grows the copy to size,
// so the first boot has something to grow the root partition into.
func copyImage(t *testing.T, src, dst string, size int64) image {
	t.Helper()
	run(t, "cp", "--sparse=always", src, dst)
	if size > 0 {
		if err := os.Truncate(dst, size); err != nil {
			t.Fatal(err)
		}
	}
	return openImage(t, dst)
}

// readFAT returns a file of the image's boot partition.
func readFAT(t *testing.T, im image, name string) []byte {
	t.Helper()
	cmd := exec.Command("mcopy", "-n", "-i", im.fat(), "::"+name, "-")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcopy ::%s from %s: %v", name, im.Path, err)
	}
	return out
}

func fatNames(t *testing.T, im image) []string {
	t.Helper()
	cmd := exec.Command("mdir", "-b", "-i", im.fat(), "::/")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdir %s: %v", im.Path, err)
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		names = append(names, strings.TrimPrefix(l, "::/"))
	}
	return names
}

func writeFAT(t *testing.T, im image, local, name string) {
	t.Helper()
	cmd := exec.Command("mcopy", "-o", "-i", im.fat(), local, "::"+name)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy %s to ::%s: %v\n%s", local, name, err, out)
	}
}

// readExt4 returns a file of the root filesystem, and whether it exists.
func readExt4(t *testing.T, im image, path string) ([]byte, bool) {
	t.Helper()
	stat, _ := exec.Command("debugfs", "-R", "stat "+path, im.ext4()).Output()
	if !bytes.Contains(stat, []byte("Inode:")) {
		return nil, false
	}
	out, err := exec.Command("debugfs", "-R", "cat "+path, im.ext4()).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return out, true
}

// readlinkExt4 returns the target of a symlink in the root filesystem.
func readlinkExt4(t *testing.T, im image, path string) (string, bool) {
	t.Helper()
	stat, _ := exec.Command("debugfs", "-R", "stat "+path, im.ext4()).Output()
	m := regexp.MustCompile(`(?m)^Fast link dest: "(.*)"`).FindSubmatch(stat)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// bootFiles extracts the kernel and initrd from the boot partition, where
// raspi-firmware put them for the Pi's firmware.
func bootFiles(t *testing.T, im image, dir string) (kernel, initrd string) {
	t.Helper()
	for _, n := range fatNames(t, im) {
		switch {
		case strings.HasPrefix(n, "vmlinuz-"):
			kernel = filepath.Join(dir, n)
		case strings.HasPrefix(n, "initrd.img-"):
			initrd = filepath.Join(dir, n)
		}
	}
	if kernel == "" || initrd == "" {
		t.Fatalf("no vmlinuz-* and initrd.img-* on the boot partition of %s", im.Path)
	}
	for _, f := range []string{kernel, initrd} {
		if err := os.WriteFile(f, readFAT(t, im, filepath.Base(f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return kernel, initrd
}

// putTree writes a directory tree into the image's root filesystem with the
// same tool make image-inject uses.
func putTree(t *testing.T, im image, tree string) {
	t.Helper()
	run(t, filepath.Join(repoRoot(t), "image", "ext4put.sh"), im.ext4(), tree)
}

// overlayTree is the test overlay plus the guest script for one test.
func overlayTree(t *testing.T, guestScript string) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "overlay")
	run(t, "cp", "-a", filepath.Join("testdata", "overlay"), tree)
	run(t, "install", "-m", "0755", filepath.Join("testdata", guestScript),
		filepath.Join(tree, "usr/local/lib/veille-test/guest.sh"))
	return tree
}

type testConfig struct {
	Node        string
	Sleep, Wake string // HH:MM, UTC
}

// writeConfig renders testdata/veille.toml.tmpl and checks it with the
// host's veille, as the guest's import will.
func writeConfig(t *testing.T, veille, path string, c testConfig) []byte {
	t.Helper()
	tmpl := template.Must(template.ParseFiles(filepath.Join("testdata", "veille.toml.tmpl")))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, veille, "check", "--config", path, "-q")
	return b.Bytes()
}

// hostVeille returns a veille the host can run for `veille check` and
// `veille listen`: the very binary of the image (arm64) when this machine
// runs arm64 programs (binfmt, as make image sets up), else one built from
// this tree.
func hostVeille(t *testing.T, im image, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "veille-from-image")
	if out, err := exec.Command("debugfs", "-R", "dump /usr/bin/veille "+bin, im.ext4()).CombinedOutput(); err != nil {
		t.Fatalf("debugfs dump /usr/bin/veille: %v\n%s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(bin, "check", "--example").Run(); err == nil {
		return bin
	}
	t.Logf("cannot run the image's arm64 veille here (no binfmt); building one")
	return buildVeille(t, dir)
}

// buildVeille builds veille for this machine from this tree.
func buildVeille(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "veille")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/veille")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/veille: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// field returns the value of key=value in a console line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// vtLine matches a guest report. Not anchored: a getty prompt may share the line.
var vtLine = func(s string) *regexp.Regexp { return regexp.MustCompile(`VT: ` + s) }

// TestImageContents checks the release image without booting it: the
// partition layout the Pi firmware needs, the boot files, veille installed
// and enabled, nothing per-machine or test-only shipped, and the published
// checksum and block map.
func TestImageContents(t *testing.T) {
	img := imageUnderTest(t)
	im := openImage(t, img)

	if im.Boot.Start != 4<<20 || im.Boot.Type != "c" || !im.Boot.Bootable {
		t.Errorf("boot partition: %+v, want FAT32 LBA (type c) at 4 MiB, bootable", im.Boot)
	}
	if im.Root.Type != "83" || im.Root.Start != im.Boot.Start+im.Boot.Size {
		t.Errorf("root partition: %+v, want Linux (83) right after the boot partition", im.Root)
	}
	if label := strings.TrimSpace(run(t, "e2label", im.ext4())); label != "RASPIROOT" {
		t.Errorf("root label %q, want RASPIROOT", label)
	}
	run(t, "e2fsck", "-fn", im.ext4())

	names := strings.Join(fatNames(t, im), " ")
	for _, want := range []string{"config.txt", "cmdline.txt", "vmlinuz-", "initrd.img-", "bcm2837-rpi-3-b.dtb", "bcm2711-rpi-4-b.dtb", "bootcode.bin", "start4.elf"} {
		if !strings.Contains(names, want) {
			t.Errorf("boot partition lacks %s (has: %s)", want, names)
		}
	}
	config := string(readFAT(t, im, "config.txt"))
	for _, want := range []string{"arm_64bit=1", "dtparam=i2c_arm=on", "kernel=vmlinuz-", "initramfs initrd.img-"} {
		if !strings.Contains(config, want) {
			t.Errorf("config.txt lacks %q:\n%s", want, config)
		}
	}
	cmdline := string(readFAT(t, im, "cmdline.txt"))
	if !strings.Contains(cmdline, "root=LABEL=RASPIROOT") || strings.Contains(cmdline, "cma=64M") {
		t.Errorf("cmdline.txt = %q, want root=LABEL=RASPIROOT and no cma=64M (Pi 4)", cmdline)
	}

	if link, ok := readlinkExt4(t, im, "/etc/systemd/system/multi-user.target.wants/veille.service"); !ok {
		t.Error("veille.service is not enabled")
	} else if !strings.HasSuffix(link, "/systemd/system/veille.service") {
		t.Errorf("veille.service enable link points to %q", link)
	}
	bin, ok := readExt4(t, im, "/usr/bin/veille")
	if !ok || len(bin) < 20 || !bytes.Equal(bin[:4], []byte("\x7fELF")) || bin[18] != 0xb7 { // EM_AARCH64
		t.Error("/usr/bin/veille is not an arm64 ELF program")
	}
	for _, p := range []string{"/etc/veille/veille.toml", "/usr/share/doc/veille/copyright", "/usr/share/doc/veille/examples/strict.conf", "/usr/share/doc/veille/examples/less-strict.conf"} {
		if _, ok := readExt4(t, im, p); !ok {
			t.Errorf("no %s in the image", p)
		}
	}
	for _, p := range []string{"/etc/systemd/system/sysinit.target.wants/veille-firstboot.service", "/etc/systemd/system/multi-user.target.wants/veille-import-config.service"} {
		if _, ok := readlinkExt4(t, im, p); !ok {
			t.Errorf("%s missing: first-boot unit not enabled", p)
		}
	}
	for _, p := range []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key", "/etc/systemd/system/veille-test.service", "/usr/local/lib/veille-test/guest.sh"} {
		if _, ok := readExt4(t, im, p); ok {
			t.Errorf("%s is in the release image (per-machine or test-only)", p)
		}
	}
	if id, _ := readExt4(t, im, "/etc/machine-id"); len(bytes.TrimSpace(id)) != 0 {
		t.Errorf("/etc/machine-id = %q, want empty (made at first boot)", id)
	}

	// Published files next to the raw image.
	if _, err := os.Stat(img + ".bmap"); err != nil {
		t.Errorf("block map: %v", err)
	}
	sum := img + ".xz.sha256"
	if _, err := os.Stat(sum); err != nil {
		t.Errorf("checksum: %v", err)
	} else {
		cmd := exec.Command("sha256sum", "--check", "--quiet", filepath.Base(sum))
		cmd.Dir = filepath.Dir(sum)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check %s: %v\n%s", sum, err, out)
		}
	}
}

// TestImageBoot boots the image and follows veille through it: first boot
// (root grown, config imported from the boot partition), veille READY under
// systemd, telemetry read from the host, a USB disk put to sleep and woken
// by MQTT commands, then a scheduled system sleep that arms the RTC wake
// alarm and powers off through logind.
func TestImageBoot(t *testing.T) {
	img := imageUnderTest(t)
	dir := t.TempDir()
	im := copyImage(t, img, filepath.Join(dir, "boot-test.img"), 3<<30)
	veille := hostVeille(t, im, dir)
	putTree(t, im, overlayTree(t, "guest-main.sh"))
	// The schedule window is open from 10 minutes ago to 3 hours from now
	// (UTC, the guest's clock comes from QEMU's RTC): veille may sleep the
	// system as soon as the guest releases its inhibitor lock.
	now := time.Now().UTC()
	wake := now.Add(3 * time.Hour).Truncate(time.Minute)
	cfg := writeConfig(t, veille, filepath.Join(dir, "veille.toml"), testConfig{
		Node: "vmtest", Sleep: now.Add(-10 * time.Minute).Format("15:04"), Wake: wake.Format("15:04"),
	})
	writeFAT(t, im, filepath.Join(dir, "veille.toml"), "veille.toml")
	kernel, initrd := bootFiles(t, im, dir)

	usb := filepath.Join(dir, "usbdisk.img")
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(media, "hello.txt"), []byte("hello-from-usb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-L", "MEDIA", "-d", media, usb, "64M")

	port := freePort(t)
	v := startVM(t, vmOptions{Disk: im.Path, Kernel: kernel, Initrd: initrd, Dir: dir, MQTT: port})
	start := time.Now()

	// First boot and veille under systemd.
	m := v.Expect(vtLine(`veille (.*)`), 10*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	if !strings.Contains(m[1], "ActiveState=active") || !strings.Contains(m[1], "SubState=running") {
		t.Errorf("veille.service: %s, want active (running): READY=1 was sent", m[1])
	}
	if !strings.Contains(m[1], "StatusText=") || strings.HasSuffix(m[1], "StatusText=") {
		t.Errorf("veille.service has no status text: %s", m[1])
	}
	m = v.Expect(vtLine(`units (.*)`), time.Minute)
	if want := "firstboot=success bootconfig=success import=success"; m[1] != want {
		t.Errorf("first-boot units: %s, want %s", m[1], want)
	}
	m = v.Expect(vtLine(`facts (.*)`), time.Minute)
	t.Logf("%s", m[0])
	if got := field(m[1], "config_sha256"); got != sha256hex(cfg) {
		t.Errorf("/etc/veille/veille.toml is not the veille.toml put on the boot partition (sha256 %s)", got)
	}
	if got := field(m[1], "config_mode"); got != "root:veille:640" {
		t.Errorf("/etc/veille/veille.toml owner and mode %s, want root:veille:640", got)
	}
	if field(m[1], "imported") != "yes" {
		t.Error("veille.toml on the boot partition was not renamed veille.toml.imported")
	}
	var rootMiB int64
	fmt.Sscan(field(m[1], "root_mib"), &rootMiB)
	if rootMiB*1<<20 <= im.Root.Size+512<<20 {
		t.Errorf("root filesystem %d MiB: not grown (partition was %d MiB in a %d MiB disk)", rootMiB, im.Root.Size>>20, int64(3<<30)>>20)
	}
	if field(m[1], "host_keys") == "0" || !strings.HasPrefix(field(m[1], "hostname"), "veille-") || len(field(m[1], "machine_id")) != 32 {
		t.Errorf("first boot did not make this machine's identity: %s", m[1])
	}
	m = v.Expect(vtLine(`exposure (.*)`), time.Minute)
	t.Logf("systemd-analyze security in the guest: %s", m[1])
	if e := regexp.MustCompile(`(\d+\.\d+) OK`).FindStringSubmatch(m[1]); e == nil {
		t.Errorf("systemd-analyze security veille.service in the guest: %q, want OK", m[1])
	} else if x, _ := strconv.ParseFloat(e[1], 64); x > 2.5 {
		t.Errorf("veille.service exposure %s in the guest, want at most 2.5 (docs/image.md says 2.1)", e[1])
	}
	m = v.Expect(vtLine(`wakealarm_perm (.*)`), time.Minute)
	if m[1] != "veille:664" {
		t.Errorf("wakealarm group and mode %s, want veille:664 (udev rule)", m[1])
	}
	m = v.Expect(vtLine(`usbport_perm (.*)`), time.Minute)
	if strings.TrimSpace(m[1]) != "veille:664" {
		t.Errorf("USB port power files (portN/disable): %q, want all veille:664 (udev rule)", m[1])
	}
	m = v.Expect(vtLine(`unit_warnings (.*)`), time.Minute)
	if strings.TrimSpace(m[1]) != "" {
		t.Errorf("systemd warned about veille.service: %s", m[1])
	}
	// veille's sandbox: a mount namespace of its own (so it cannot mount
	// for the system: systemd does), CAP_SYS_RAWIO only, the system
	// read-only but for its state directory and sysfs device attributes.
	m = v.Expect(vtLine(`sandbox (.*)`), time.Minute)
	t.Logf("%s", m[0])
	for k, want := range map[string]string{
		"mntns": "own", "capeff": "0000000000020000", "root": "ro", "state": "rw",
		"sys": "ro", "sys_devices": "rw", "proc_sys": "ro",
	} {
		if got := field(m[1], k); got != want {
			t.Errorf("veille's %s = %q, want %q (%s)", k, got, want, m[1])
		}
	}
	// polkit lets veille stop and start units, not make transient ones
	// (systemd 252 does not name them) nor start targets.
	m = v.Expect(vtLine(`polkit (.*)`), time.Minute)
	t.Logf("%s", m[0])
	for _, k := range []string{"transient", "target"} {
		if got := field(m[1], k); !strings.Contains(got, "Interactive_authentication_required") && !strings.Contains(got, "Access_denied") {
			t.Errorf("polkit let veille %s: %s", map[string]string{"transient": "start a transient unit", "target": "start a target"}[k], got)
		}
	}
	m = v.Expect(vtLine(`mount_warning (\d+) mounter=(\d+)`), time.Minute)
	t.Logf("%s", m[0])
	if m[1] == "0" || m[2] == "0" {
		t.Errorf("veille's journal at start: %s warnings about a disk without an fstab entry, %s lines saying systemd mounts; want both", m[1], m[2])
	}

	// Telemetry: veille listen (built for the host) decodes the CBOR frames
	// the guest publishes to its mosquitto, through the port forward.
	listen := startListen(t, veille, port)

	// The USB disk.
	v.Expect(vtLine(`hotplug-ready`), time.Minute)
	q, err := dialQMP(v.QMPPath, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Execute("blockdev-add", map[string]any{
		"node-name": "usbdisk", "driver": "raw",
		"file": map[string]any{"driver": "file", "filename": usb},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute("device_add", map[string]any{
		"driver": "usb-storage", "bus": "xhci.0", "drive": "usbdisk", "id": "usbdisk0", "removable": true,
	}); err != nil {
		t.Fatal(err)
	}
	m = v.Expect(vtLine(`disk-mounted (.*)`), 3*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	if field(m[1], "tran") != "usb" || field(m[1], "media_user") != "active" || field(m[1], "unit_file") != "/run/systemd/generator/srv-media.mount" {
		t.Errorf("USB disk: %s, want tran=usb, media-user active, srv-media.mount from the fstab entry", m[1])
	}

	pub := dialMQTT(t, port)
	stops0 := startStopUnits(t, v.Trace)
	pub.Command(t, "vmtest", "sleep_disks")
	m = v.Expect(vtLine(`disks-asleep (.*)`), 5*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	// Unmounted by systemd: the mount unit stopped (veille cannot unmount
	// for the system from its own mount namespace).
	if field(m[1], "mounted") != "no" || field(m[1], "mount_unit") != "inactive" || field(m[1], "unmounted") != "1" {
		t.Errorf("after sleep_disks: %s, want /srv/media unmounted by stopping srv-media.mount", m[1])
	}
	// The guest sees the unmount before veille's next step, the spin-down:
	// give the command (and QEMU's trace file) a moment to arrive.
	stops1 := startStopUnits(t, v.Trace)
	for deadline := time.Now().Add(time.Minute); stops1 <= stops0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		stops1 = startStopUnits(t, v.Trace)
	}
	if stops1 <= stops0 {
		t.Errorf("no START STOP UNIT reached the USB disk during sleep_disks (QEMU trace: %d before, %d a minute after)", stops0, stops1)
	}

	pub.Command(t, "vmtest", "wake_disks")
	m = v.Expect(vtLine(`disks-awake (.*)`), 5*time.Minute)
	t.Logf("%6.1fs %s (START STOP UNIT commands so far: %d)", time.Since(start).Seconds(), m[0], startStopUnits(t, v.Trace))
	if field(m[1], "file") != "hello-from-usb" {
		t.Errorf("after wake_disks the disk's file reads %q", field(m[1], "file"))
	}
	// Mounted again by systemd (the second "Mounted" of srv-media.mount),
	// read-write, with the fstab entry's options.
	if field(m[1], "mount_unit") != "active" || field(m[1], "mounts") != "2" ||
		!strings.HasPrefix(field(m[1], "options"), "rw,") || !strings.Contains(field(m[1], "options"), "noatime") {
		t.Errorf("after wake_disks: %s, want srv-media.mount started again, mounted rw,noatime", m[1])
	}

	// The scheduled system sleep: the guest releases its inhibitor; veille
	// arms the RTC (QEMU's PL031) for the window's end and powers off.
	v.Expect(vtLine(`inhibitor-released`), time.Minute)
	m = v.Expect(vtLine(`poweroff wakealarm=(\d*) now=(\d+)`), 10*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	t.Logf("veille's journal at power-off:\n%s", v.Reports())
	var alarm, guestNow int64
	fmt.Sscan(m[1], &alarm)
	fmt.Sscan(m[2], &guestNow)
	if alarm == 0 {
		t.Errorf("no wake alarm armed at power-off")
	} else if got := time.Unix(alarm, 0).UTC(); got.After(wake) || got.Before(wake.Add(-15*time.Minute)) || alarm <= guestNow {
		t.Errorf("wake alarm at %s, want the window's end %s (at most 15 minutes early) and in the future (guest clock %s)",
			got, wake, time.Unix(guestNow, 0).UTC())
	}
	if err := v.WaitExit(3 * time.Minute); err != nil {
		t.Fatalf("QEMU after the guest's power-off: %v, want exit status 0", err)
	}
	t.Logf("%6.1fs QEMU exited 0 after logind's power-off", time.Since(start).Seconds())

	frames := listen.Frames(t)
	if len(frames) == 0 {
		t.Fatalf("veille listen decoded no telemetry frame; its output:\n%s", listen.Output())
	}
	f := frames[len(frames)-1]
	if f.Node != "vmtest" || len(f.Channels) == 0 || len(f.Channels[0].V) == 0 || f.Channels[0].V[0] == nil || *f.Channels[0].V[0] <= 0 {
		t.Errorf("last telemetry frame %+v: want node vmtest and a channel with a bus voltage", f)
	}
	t.Logf("telemetry: %d frames decoded on the host, last seq %d with %d channels", len(frames), f.Seq, len(f.Channels))
}

// startStopUnits counts START STOP UNIT commands (opcode 0x1b) in QEMU's
// SCSI trace so far.
func startStopUnits(t *testing.T, trace string) int {
	t.Helper()
	b, err := os.ReadFile(trace)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(regexp.MustCompile(`scsi_req_parsed .*command 27 `).FindAll(b, -1))
}
