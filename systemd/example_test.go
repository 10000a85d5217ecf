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
