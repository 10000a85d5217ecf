package systemd_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

// A backup holds a block lock on shutdown: veille's power-off is refused and
// the error says who holds it. (Against the fake logind of dbustest; on a Pi,
// Options{} is the system bus.)
func ExampleLogind_PowerOff() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	bus, err := dbustest.StartBus(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	fake, err := dbustest.ServeLogin(bus.Address())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fake.Close()
	fake.HoldInhibitor(dbustest.Inhibitor{What: "shutdown", Who: "Nextcloud backup", Why: "copying photos", Mode: "block", UID: 33, PID: 4242})

	ctx := context.Background()
	logind, err := systemd.DialLogind(ctx, systemd.Options{Address: bus.Address()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer logind.Close()
	err = logind.PowerOff(ctx)
	var inhibited *systemd.InhibitedError
	if errors.As(err, &inhibited) {
		fmt.Println(err)
	}
	// Output:
	// power off refused: blocked by "Nextcloud backup" (pid 4242, uid 33): "copying photos"
}

// Before spinning a disk down: stop what uses it, and start it again after.
func ExampleManager_UnitsForMount() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	bus, err := dbustest.StartBus(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	fake, err := dbustest.ServeSystemd(bus.Address())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fake.Close()
	for _, u := range []dbustest.Unit{
		{Name: "srv-media.mount", Where: "/srv/media"},
		{Name: "jellyfin.service", RequiresMountsFor: []string{"/srv/media/films"}},
		{Name: "smbd.service", Requires: []string{"srv-media.mount"}, StopResult: "timeout"},
	} {
		_ = fake.AddUnit(u)
	}

	ctx := context.Background()
	m, err := systemd.DialManager(ctx, systemd.Options{Address: bus.Address()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	units, err := m.UnitsForMount(ctx, "/srv/media")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range units {
		if err := m.StopUnit(ctx, u); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("stopped", u)
	}
	// Output:
	// stopped jellyfin.service
	// stop smbd.service: job ended with result "timeout"
}

// A disk is unmounted by stopping its mount unit and mounted again through
// its fstab entry's unit (or a transient one), so the mount is the
// system's even though veille.service has a mount namespace of its own.
// (Against the fake systemd of dbustest.)
func ExampleMounts() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	bus, err := dbustest.StartBus(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	fake, err := dbustest.ServeSystemd(bus.Address())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fake.Close()
	for _, u := range []dbustest.Unit{
		{Name: "srv-media.mount", Where: "/srv/media", What: "/dev/sda1"},
		{Name: "plex.service", Requires: []string{"srv-media.mount"}},
	} {
		_ = fake.AddUnit(u)
	}

	ctx := context.Background()
	m, err := systemd.DialManager(ctx, systemd.Options{Address: bus.Address()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	mounts := &systemd.Mounts{Manager: m}
	name, _ := systemd.MountUnitName("/srv/media")
	fmt.Println(name)
	// plex.service requires the mount: stopping the mount would stop it.
	fmt.Println(mounts.Unmount(ctx, "/srv/media"))
	_ = m.StopUnit(ctx, "plex.service")
	fmt.Println(mounts.Unmount(ctx, "/srv/media"))
	fmt.Println(mounts.Mount(ctx, "/dev/sda1", "/srv/media", "ext4", "noatime"))
	// Output:
	// srv-media.mount
	// unmount /srv/media: stopping srv-media.mount would also stop plex.service, which require, bind to or are part of it; veille stops only the units it is given (the disk's units, and those that need the mount point)
	// <nil>
	// <nil>
}
