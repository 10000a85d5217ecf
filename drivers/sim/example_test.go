package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// A night in the world: a disk spun down and its port cut, the Pi halted
// with a wake alarm, the clock jumped to the alarm.
func Example() {
	clk := clock.NewFake(time.Date(2025, 1, 15, 23, 0, 0, 0, time.UTC))
	opts := sim.DefaultOpts(clk.Now)
	opts.After = clk.After
	w, err := sim.New(opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	watts := func(rail string) string {
		p, _ := w.RailPower(rail)
		return fmt.Sprintf("%.2f W", float64(p)/1e9)
	}
	ctx := context.Background()
	fmt.Println("sdb spinning:", watts("sdb"))

	// The sleep sequence for sdb, in the order that loses nothing.
	_ = w.StopUnit(ctx, "nextcloud-cron.timer")
	_ = w.Unmount(w.Path("/srv/cloud"))
	_ = w.Command(w.Path("/dev/sdb"), []byte{0x1b, 0, 0, 0, 0, 0}, 30*time.Second) // START STOP UNIT: stop
	fmt.Println("sdb in standby:", watts("sdb"))
	for _, port := range []string{"/sys/bus/usb/devices/2-1:1.0/2-1-port2/disable", "/sys/bus/usb/devices/1-1:1.0/1-1-port2/disable"} {
		_ = w.WriteFile(w.Path(port), []byte("1"), 0o644)
	}
	fmt.Println("sdb port off:", watts("sdb"))

	// Arm the RTC for 06:30 and halt.
	wake := time.Date(2025, 1, 16, 6, 30, 0, 0, time.UTC)
	_ = w.WriteFile(w.Path("/sys/class/rtc/rtc0/wakealarm"), []byte(fmt.Sprint(wake.Unix())), 0o644)
	w.OnHalt(func(at time.Time) { fmt.Println("halted at", at.Format("15:04:05")) })
	w.OnBoot(func(at time.Time) { fmt.Println("up again at", at.Format("15:04:05")) })
	_ = w.PowerOff(ctx)
	clk.Advance(10 * time.Second)
	_ = w.Sync()
	fmt.Println("Pi halted:", watts("pi"))

	// The night passes at once: jump to the alarm, let the Pi boot.
	at, _ := w.WakeAt()
	clk.Set(at.Add(time.Minute))
	_ = w.Sync()
	fmt.Println("board:", w.BoardState(), "violations:", len(w.Violations()))
	// Output:
	// sdb spinning: 3.97 W
	// sdb in standby: 0.60 W
	// sdb port off: 0.00 W
	// halted at 23:00:05
	// Pi halted: 0.01 W
	// up again at 06:30:20
	// board: running violations: 0
}
