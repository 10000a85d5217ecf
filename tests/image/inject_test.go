package image_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestImageInject treats the release image as a base (as Raspberry Pi OS
// Lite would be), adds veille to it with image/inject.sh (debugfs and
// mtools, no mount) together with the OpenMediaVault first-boot layer, and
// boots it. The OMV repository is a local signed apt repository with a
// stand-in openmediavault package, served on 127.0.0.1 and reached from the
// guest through a guestfwd relay.
func TestImageInject(t *testing.T) {
	img := imageUnderTest(t)
	dir := t.TempDir()
	top := repoRoot(t)
	veille := hostVeille(t, openImage(t, img), dir)

	// The package to inject: the image's own, under a version of its own so
	// the test can tell it is the injected one that dpkg registered.
	deb := rebuildDeb(t, releaseDeb(t, top), dir, "+injecttest")
	version := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version"))

	repo, keyring := omvRepository(t, dir)
	srv := &http.Server{Handler: http.FileServer(http.Dir(repo)), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	relayCmd := fmt.Sprintf("env VEILLE_TEST_RELAY=%s %s", ln.Addr(), self)

	now := time.Now().UTC()
	// A window that opened long ago and is over: this boot must not sleep.
	cfg := writeConfig(t, veille, filepath.Join(dir, "veille.toml"), testConfig{
		Node: "vminject", Sleep: now.Add(-3 * time.Hour).Format("15:04"), Wake: now.Add(-2 * time.Hour).Format("15:04"),
	})
	base := filepath.Join(dir, "base.img")
	run(t, "cp", "--sparse=always", img, base)
	out := filepath.Join(dir, "injected.img")
	run(t, filepath.Join(top, "image", "inject.sh"),
		"--config", filepath.Join(dir, "veille.toml"),
		"--omv-repo", "http://10.0.2.100/", "--omv-keyring", keyring,
		"--tree", overlayTree(t, "guest-inject.sh"),
		base, deb, out)
	if sha256hex(readFile(t, base)) != sha256hex(readFile(t, img)) {
		t.Error("inject.sh modified its base image")
	}
	im := openImage(t, out)
	// A later version for the upgrade, remove and purge steps in the guest.
	upgrade := filepath.Join(dir, "upgrade-tree", "root")
	if err := os.MkdirAll(upgrade, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", rebuildDeb(t, deb, dir, "2"), filepath.Join(upgrade, "veille-upgrade.deb"))
	putTree(t, im, filepath.Dir(upgrade))
	if got := readFAT(t, im, "veille.toml"); sha256hex(got) != sha256hex(cfg) {
		t.Error("the boot partition's veille.toml is not the one given with --config")
	}
	run(t, "e2fsck", "-fn", im.ext4())
	kernel, initrd := bootFiles(t, im, dir)

	v := startVM(t, vmOptions{Disk: out, Kernel: kernel, Initrd: initrd, Dir: dir, MQTT: freePort(t), RepoCmd: relayCmd})
	start := time.Now()
	m := v.Expect(vtLine(`inject veille_version=(\S+) setup=(\S+) deb_left=(\S+)`), 12*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	if m[1] != version+":ii" || m[2] != "success" || m[3] != "no" {
		t.Errorf("dpkg knows veille as %s (setup %s, package left behind: %s), want %s:ii registered at first boot", m[1], m[2], m[3], version)
	}
	m = v.Expect(vtLine(`inject config_sha256=(\S+) config_mode=(\S+) imported=(\S+)`), time.Minute)
	if m[1] != sha256hex(cfg) || m[2] != "root:veille:640" || m[3] != "yes" {
		t.Errorf("config after first boot: %s; want the injected veille.toml imported, root:veille:640", m[0])
	}
	m = v.Expect(vtLine(`inject omv=(\S+) populated=(\S+) veille=(\S+)`), time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	if m[1] != "7.0.0-1~veilletest:ii" || m[2] != "populate" || m[3] != "active" {
		t.Errorf("OpenMediaVault layer: %s; want the stand-in installed from the local repository, populated, veille active", m[0])
	}
	for _, want := range []struct{ name, user string }{{"strict", "veille"}, {"less-strict", "root"}} {
		m = v.Expect(vtLine(`dropin `+want.name+` active=(\S+) user=(\S+) exposure=(\S+)`), 3*time.Minute)
		t.Logf("%s", m[0])
		if m[1] != "active" || m[2] != want.user || !strings.HasSuffix(m[3], "_OK") {
			t.Errorf("with examples/%s.conf veille is %s as %s, exposure %s; want active as %s, OK", want.name, m[1], m[2], m[3], want.user)
		}
	}
	m = v.Expect(vtLine(`upgrade (.*)`), 5*time.Minute)
	t.Logf("%6.1fs %s", time.Since(start).Seconds(), m[0])
	if want := fmt.Sprintf("version=%s2 restarted=yes conffile_kept=yes enabled=enabled", version); m[1] != want {
		t.Errorf("upgrade: %s, want %s", m[1], want)
	}
	m = v.Expect(vtLine(`remove (.*)`), 2*time.Minute)
	if want := "active=inactive enabled=masked config=kept state=kept"; m[1] != want {
		t.Errorf("dpkg -r: %s, want %s", m[1], want)
	}
	m = v.Expect(vtLine(`purge (.*)`), 2*time.Minute)
	if want := "config=gone state=gone links=0 statoverride=gone"; m[1] != want {
		t.Errorf("dpkg -P: %s, want %s", m[1], want)
	}
	v.Expect(vtLine(`inject-done`), time.Minute)
	if err := v.WaitExit(3 * time.Minute); err != nil {
		t.Fatalf("QEMU after the guest's power-off: %v", err)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// releaseDeb is the arm64 package make image put next to the image
// (VEILLE_DEB overrides).
func releaseDeb(t *testing.T, top string) string {
	t.Helper()
	if d := os.Getenv("VEILLE_DEB"); d != "" {
		return d
	}
	img := imageUnderTest(t)
	imgDir, name := filepath.Dir(img), filepath.Base(img)
	re := regexp.MustCompile(`^veille-(.+)-rpi-arm64\.img$`)
	if m := re.FindStringSubmatch(name); m != nil {
		deb := filepath.Join(imgDir, "veille_"+m[1]+"_arm64.deb")
		if _, err := os.Stat(deb); err == nil {
			return deb
		}
	}
	t.Fatalf("no arm64 package next to %s (set VEILLE_DEB)", img)
	return ""
}

// rebuildDeb repacks deb with its version suffixed.
func rebuildDeb(t *testing.T, deb, dir, suffix string) string {
	t.Helper()
	raw := filepath.Join(dir, "deb-raw"+suffix)
	run(t, "dpkg-deb", "-R", deb, raw)
	control := filepath.Join(raw, "DEBIAN", "control")
	b := readFile(t, control)
	re := regexp.MustCompile(`(?m)^Version: (.+)$`)
	if !re.Match(b) {
		t.Fatalf("%s has no Version", deb)
	}
	b = re.ReplaceAll(b, []byte("Version: ${1}"+suffix))
	if err := os.WriteFile(control, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "veille"+suffix+".deb")
	run(t, "dpkg-deb", "--root-owner-group", "-b", raw, out)
	return out
}

// omvRepository builds a signed apt repository (suite sandworm, like OMV 7)
// with a stand-in openmediavault package whose omv-confdbadm records its
// arguments, and returns its directory and the binary keyring to trust.
func omvRepository(t *testing.T, dir string) (repo, keyring string) {
	t.Helper()
	pkg := filepath.Join(dir, "omv-pkg")
	for _, d := range []string{"DEBIAN", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(pkg, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFileMode(t, filepath.Join(pkg, "DEBIAN", "control"), 0o644, `Package: openmediavault
Version: 7.0.0-1~veilletest
Architecture: all
Maintainer: veille image test <test@localhost>
Description: stand-in for OpenMediaVault in veille's image test
 Installed by the OpenMediaVault first-boot layer of make image-inject.
`)
	writeFileMode(t, filepath.Join(pkg, "usr", "sbin", "omv-confdbadm"), 0o755,
		"#!/bin/sh\nmkdir -p /var/lib/omv-dummy\necho \"$*\" >/var/lib/omv-dummy/populated\n")

	repo = filepath.Join(dir, "omv-repo")
	pool := filepath.Join(repo, "pool", "main")
	if err := os.MkdirAll(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg-deb", "--root-owner-group", "-b", pkg, filepath.Join(pool, "openmediavault_7.0.0-1~veilletest_all.deb"))
	bin := filepath.Join(repo, "dists", "sandworm", "main", "binary-arm64")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("apt-ftparchive", "packages", "pool")
	cmd.Dir = repo
	packages, err := cmd.Output()
	if err != nil {
		t.Fatalf("apt-ftparchive packages: %v", err)
	}
	writeFileMode(t, filepath.Join(bin, "Packages"), 0o644, string(packages))
	cmd = exec.Command("apt-ftparchive",
		"-o", "APT::FTPArchive::Release::Origin=veille-image-test",
		"-o", "APT::FTPArchive::Release::Suite=sandworm",
		"-o", "APT::FTPArchive::Release::Codename=sandworm",
		"-o", "APT::FTPArchive::Release::Architectures=arm64",
		"-o", "APT::FTPArchive::Release::Components=main",
		"release", "dists/sandworm")
	cmd.Dir = repo
	release, err := cmd.Output()
	if err != nil {
		t.Fatalf("apt-ftparchive release: %v", err)
	}
	writeFileMode(t, filepath.Join(repo, "dists", "sandworm", "Release"), 0o644, string(release))

	// A throwaway signing key in a GnuPG home of the test's own.
	home := filepath.Join(dir, "gnupg")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--batch", "--quiet", "--homedir", home}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	gpg("--passphrase", "", "--quick-gen-key", "veille image test repository <test@localhost>", "ed25519", "sign", "never")
	keyring = filepath.Join(dir, "omv-test.gpg")
	gpg("--output", keyring, "--export")
	gpg("--output", filepath.Join(repo, "dists", "sandworm", "InRelease"), "--clearsign", filepath.Join(repo, "dists", "sandworm", "Release"))
	return repo, keyring
}

func writeFileMode(t *testing.T, name string, mode os.FileMode, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}
