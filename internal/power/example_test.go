package power_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/veille/veille/drivers/rtc"
	"github.com/veille/veille/drivers/usbdisk"
	"github.com/veille/veille/internal/clock"
	"github.com/veille/veille/internal/power"
	"github.com/veille/veille/systemd"
)

// How the agent wires the controller on a Pi: SG_IO, mount(2), systemd and
// logind over the system bus, the Pi 5's RTC.
func Example() {
	ctx := context.Background()
	units, err := systemd.DialManager(ctx, systemd.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer units.Close()
	logind, err := systemd.DialLogind(ctx, systemd.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logind.Close()

	c, err := power.New(power.Options{
		Root:     "/",
		StateDir: "/var/lib/veille",
		Disks: []power.Disk{
			{Name: "media", UUID: "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f", Units: []string{"smbd.service"}},
			{Name: "backup", Label: "backup", CutPower: true},
		},
		Transport: usbdisk.SGIO{},
		Mounter:   power.SystemMounter{},
		Units:     units,
		Halter:    logind,
		Alarm:     &rtc.WakeAlarm{Root: "/"},
		Check:     []string{"fsck", "-a"},
		Clock:     clock.Real{},
		Log:       slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnEvent:   func(e power.Event) { fmt.Println(e) }, // the agent publishes these
	})
	if err != nil {
		log.Fatal(err)
	}

	// On start-up, once the clock is trustworthy: why are we up?
	if rep, err := power.TakeWakeReport("/", "/var/lib/veille", time.Now()); err == nil && rep != nil {
		fmt.Println(rep)
	}

	// Off-peak: the disks sleep, the Pi stays up.
	if err := c.DisksAsleep(ctx); err != nil {
		fmt.Println("the disks stay awake:", err)
	}
	// Later: the whole system until 07:00.
	wake := time.Now().Add(7 * time.Hour)
	if err := c.Sleep(ctx, wake); err != nil {
		fmt.Println("staying up:", err)
	}
}
