package telemetry

import (
	"math/rand/v2"
	"time"

	"periph.io/x/conn/v3/physic"
)

// rail is a synthetic power rail: a load with noise, as an INA226 with a
// 1.1 ms conversion and 16 averages reports it.
type rail struct {
	volts, amps       float64 // nominal
	noiseV, noiseA    float64 // standard deviation
	droopOhms         float64 // supply resistance: V falls as I rises
	energyMilliWh     float64
	spikeEvery, spike float64 // a disk seek or CPU burst now and then
}

func defaultRails(n int) []rail {
	all := []rail{
		{volts: 5.12, amps: 0.70, noiseV: 0.002, noiseA: 0.030, droopOhms: 0.05, spikeEvery: 20, spike: 0.4, energyMilliWh: 1234567},
		{volts: 5.05, amps: 0.45, noiseV: 0.002, noiseA: 0.012, droopOhms: 0.08, spikeEvery: 15, spike: 0.2, energyMilliWh: 734000},
		{volts: 5.08, amps: 0.04, noiseV: 0.001, noiseA: 0.002, droopOhms: 0.08, energyMilliWh: 91000},
	}
	out := make([]rail, n)
	for i := range out {
		out[i] = all[i%len(all)]
	}
	return out
}

// synth feeds a Batcher samples from rails, starting at start, with a
// sampling jitter of a few milliseconds, and returns the frames it emitted.
func synth(seed uint64, rails []rail, samples, frames int, interval time.Duration, start time.Time) []*Frame {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := make([]uint16, len(rails))
	for i := range ids {
		ids[i] = uint16(i)
	}
	b, err := NewBatcher(BatcherOptions{Channels: ids, Samples: samples, Interval: interval, Run: 0x5eed, FirstSeq: 1})
	if err != nil {
		panic(err)
	}
	b.SetStatus(Status{SoCTemp: 487, HasSoCTemp: true, Scheduler: SchedulerAwake, Disks: []DiskState{DiskActive, DiskStandby}})
	rs := make([]Reading, len(rails))
	var out []*Frame
	for i := 0; len(out) < frames; i++ {
		t := start.Add(time.Duration(i)*interval + time.Duration(rng.IntN(7)-3)*time.Millisecond)
		for k := range rails {
			r := &rails[k]
			a := r.amps + rng.NormFloat64()*r.noiseA
			if r.spikeEvery > 0 && rng.Float64() < 1/r.spikeEvery {
				a += r.spike
			}
			v := r.volts - a*r.droopOhms + rng.NormFloat64()*r.noiseV
			p := v * a
			r.energyMilliWh += p * 1000 * interval.Hours()
			rs[k] = Reading{
				Voltage:       physic.ElectricPotential(v * float64(physic.Volt)),
				Current:       physic.ElectricCurrent(a * float64(physic.Ampere)),
				Power:         physic.Power(p * float64(physic.Watt)),
				EnergyMilliWh: uint64(r.energyMilliWh),
				OK:            true,
			}
		}
		f, err := b.Add(t, rs)
		if err != nil {
			panic(err)
		}
		if f != nil {
			c := cloneFrame(f)
			out = append(out, c)
		}
	}
	return out
}

func cloneFrame(f *Frame) *Frame {
	c := *f
	if f.Offsets != nil {
		c.Offsets = append([]int32(nil), f.Offsets...)
	}
	c.Channels = make([]Channel, len(f.Channels))
	for i, ch := range f.Channels {
		c.Channels[i] = ch
		c.Channels[i].Samples = append([]Sample(nil), ch.Samples...)
	}
	c.Status.Disks = append([]DiskState(nil), f.Status.Disks...)
	return &c
}
