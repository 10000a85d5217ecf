package sim_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// TestConcurrentUse drives the world from several goroutines at once on a
// fast clock, as the demo does (the agent's sampler, its power sequence, the
// world's Run, a button waiter); run with -race.
func TestConcurrentUse(t *testing.T) {
	clk := clock.NewScaled(t0, 600)
	o := sim.DefaultOpts(clk.Now)
	o.After = clk.After
	w, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				f()
			}
		}()
	}
	go w.Run(ctx, 5*time.Millisecond)
	buf := make([]byte, 5)
	run(func() { _ = w.Bus().Tx(0x40, []byte{0x09}, buf) })
	run(func() {
		_ = w.Command("/dev/sdb", []byte{0x1b, 0, 0, 0, 0, 0}, time.Second)
		_ = w.IO("sdb", 10*time.Millisecond, true)
	})
	run(func() {
		p := w.Path("/sys/bus/usb/devices/1-1:1.0/1-1-port4/disable")
		_ = os.WriteFile(p, []byte("1"), 0o644)
		_ = os.WriteFile(p, []byte("0"), 0o644)
	})
	run(func() {
		_, _ = os.ReadFile(w.Path("/proc/diskstats"))
		_, _ = w.ExactEnergy("pi", t0, w.Now())
	})
	b := w.Button()
	_ = b.In(2, 3)
	b.Press(clk.Now().Add(time.Minute), time.Second)
	run(func() { b.WaitForEdge(10 * time.Millisecond) })
	<-ctx.Done()
	_ = b.Halt()
	wg.Wait()
	if v := w.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	if now := w.Now(); now.Sub(t0) < time.Minute {
		t.Errorf("the world reached only %s in 300 ms at 600×", now.Sub(t0))
	}
}
