package usbdisk_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/veille/veille/drivers/usbdisk"
)

// Spin a disk down by the UUID of its filesystem, then switch its port off
// if that cannot hurt anything else.
func Example() {
	f := usbdisk.Finder{Root: "/"}
	d, err := f.ByUUID("77e2d1c0-1111-4a4a-9c9c-0123456789ab")
	if err != nil {
		log.Fatal(err)
	}
	cmd, err := usbdisk.SpinDown(usbdisk.SGIO{}, d.Dev, usbdisk.ModeAuto, usbdisk.DefaultTimeout)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("spun down with", cmd)

	if d.USB == nil {
		return
	}
	layout, err := usbdisk.DetectLayout("/", nil)
	if err != nil {
		log.Fatal(err)
	}
	cut, err := usbdisk.CheckPortCut(layout, d.USB.Port, []string{d.Name})
	var refused *usbdisk.CutRefusedError
	if errors.As(err, &refused) {
		fmt.Println("leaving the port on:", refused)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := cut.Apply(); err != nil {
		log.Fatal(err)
	}
}

// Decide from /proc/diskstats when a disk has been idle for 20 minutes.
func ExampleIdleMonitor() {
	m, err := usbdisk.NewIdleMonitor(usbdisk.IdleOpts{
		Disks:        []usbdisk.IdleDisk{{Name: "sda", Partitions: []string{"sda1"}, IdleAfter: 20 * time.Minute}},
		PollInterval: 2 * time.Minute,
		MinInterval:  time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)
	stats := []usbdisk.DiskStat{{Name: "sda1", Reads: 42}}
	for now := start; now.Before(start.Add(time.Hour)); now = now.Add(2 * time.Minute) {
		for _, r := range m.Observe(now, stats).SpinDown {
			fmt.Printf("%s idle for %v at %s\n", r.Disk, r.IdleFor, now.Format("15:04"))
			m.Done(r.Disk, now, nil) // after usbdisk.SpinDown succeeded
		}
	}
	// Output: sda idle for 20m0s at 01:20
}
