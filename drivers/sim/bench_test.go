package sim_test

import (
	"testing"
	"time"

	"github.com/veille/veille/drivers/sim"
)

// BenchmarkSync: one Sync after a second of world time (every file
// rewritten that changed).
func BenchmarkSync(b *testing.B) {
	c := &clk{t: t0}
	w, err := sim.New(sim.DefaultOpts(c.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Advance(time.Second)
		if err := w.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTx: one register read through the world, a millisecond apart
// (the world brought to the present every time).
func BenchmarkTx(b *testing.B) {
	c := &clk{t: t0}
	w, err := sim.New(sim.DefaultOpts(c.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	buf := make([]byte, 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Advance(time.Millisecond)
		if err := w.Bus().Tx(0x40, []byte{1}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExactEnergyDay: the exact energy of a day of bursty load.
func BenchmarkExactEnergyDay(b *testing.B) {
	c := &clk{t: t0}
	w, err := sim.New(sim.BurstyOpts(c.Now))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	c.Advance(24 * time.Hour)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.ExactEnergy("pi", t0, c.t); err != nil {
			b.Fatal(err)
		}
	}
}
