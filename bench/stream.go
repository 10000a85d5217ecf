//go:build bench

package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/energy"
	"github.com/veille/veille/internal/homeassistant"
	"github.com/veille/veille/internal/telemetry"
	"periph.io/x/conn/v3/physic"
)

// StreamRails are the channels of the stream benchmarks, in order: the Pi's
// input and the two disks' supplies of sim.BurstyOpts, each on an INA226
// (10 mΩ, 5 A) averaging over the interval, as `veille check --example`
// configures one.
var StreamRails = []string{"pi", "sda", "sdb"}

// StreamDisks are the disks of the status, in order.
var StreamDisks = []string{"sda", "sdb"}

// sample is what the agent has after one sampling tick: every channel's
// reading (energy from the ledger) and the node's status.
type sample struct {
	t        time.Time
	readings []telemetry.Reading
	status   telemetry.Status
}

// simulate samples the first channels rails of a sim.BurstyOpts world every
// interval for span, the way the agent does (real drivers on the emulated
// bus, the energy ledger, the SoC temperature from the world's thermal zone,
// the disks' power states).
func simulate(channels int, interval, span time.Duration) ([]sample, error) {
	if channels < 1 || channels > len(StreamRails) {
		return nil, fmt.Errorf("simulate: %d channels (1 to %d)", channels, len(StreamRails))
	}
	clk := &fakeClock{t: accuracyStart}
	o := sim.BurstyOpts(clk.Now)
	o.Sensors = nil
	for i, rail := range StreamRails[:channels] {
		o.Sensors = append(o.Sensors, sim.SensorOpts{Addr: 0x40 + uint16(i), Chip: sim.ChipINA226, Rail: rail, Shunt: 10 * physic.MilliOhm})
	}
	w, err := sim.New(o)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	defer w.Close()
	avg, conv := ina.TimingFor(ina.ChipINA226, interval)
	var devs []ina.Dev
	for i := range channels {
		opts := ina.DefaultOpts(ina.ChipINA226)
		opts.Addr, opts.Shunt, opts.MaxCurrent = 0x40+uint16(i), 10*physic.MilliOhm, 5*physic.Ampere
		opts.Averaging, opts.BusConversion, opts.ShuntConversion = avg, conv, conv
		d, err := ina.New(w.Bus(), ina.ChipINA226, &opts)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		devs = append(devs, d)
	}
	led := energy.NewLedger(StreamRails[:channels], time.UTC, 3*interval)
	var out []sample
	var soc int32
	var hasSoC bool
	rd := make([]ina.Reading, 1)
	t0 := accuracyStart.Add(accuracyWarmup)
	for t := t0; t.Before(t0.Add(span)); t = t.Add(interval) {
		clk.Set(t)
		s := sample{t: t, readings: make([]telemetry.Reading, channels)}
		for i, d := range devs {
			if err := d.Sense(rd); err != nil {
				return nil, fmt.Errorf("simulate: %v: %w", t.Sub(accuracyStart), err)
			}
			led.Add(i, t, energy.Reading{Power: rd[0].Power}, true)
			s.readings[i] = telemetry.Reading{Voltage: rd[0].Bus, Current: rd[0].Current, Power: rd[0].Power,
				EnergyMilliWh: led.Channels[i].Total / 3600000, OK: true, Overflow: rd[0].Overflow}
		}
		// The SoC temperature follows the board with a one-minute lag:
		// the world's files are brought up to date once a minute (a Sync
		// rewrites every file that changed, the costly part of a sample).
		if len(out)%6 == 0 {
			if err := w.Sync(); err != nil {
				return nil, fmt.Errorf("simulate: %w", err)
			}
			if b, err := os.ReadFile(w.Path("/sys/class/thermal/thermal_zone0/temp")); err == nil {
				if mc, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					soc, hasSoC = int32(mc/100), true
				}
			}
		}
		s.status.SoCTemp, s.status.HasSoCTemp = soc, hasSoC
		s.status.Scheduler = telemetry.SchedulerAwake
		for _, name := range StreamDisks {
			st, err := w.DiskState(name)
			if err != nil {
				return nil, fmt.Errorf("simulate: %w", err)
			}
			s.status.Disks = append(s.status.Disks, diskState(st))
		}
		out = append(out, s)
	}
	return out, nil
}

func diskState(s sim.DiskState) telemetry.DiskState {
	switch s {
	case sim.DiskOff:
		return telemetry.DiskOff
	case sim.DiskStandby:
		return telemetry.DiskStandby
	}
	return telemetry.DiskActive
}

// MQTTPublishSize is the size of an MQTT 3.1.1 PUBLISH packet: fixed header,
// remaining length, topic, packet identifier (QoS > 0) and payload.
func MQTTPublishSize(topic string, qos byte, payload int) int {
	rem := 2 + len(topic) + payload
	if qos > 0 {
		rem += 2
	}
	n := 1 + 1
	for v := rem; v >= 128; v >>= 7 {
		n++
	}
	return n + rem
}

// StreamNode is the node name in the topics of the stream benchmarks.
const StreamNode = "pi-nas"

// WireResult is the telemetry stream of one simulated span.
type WireResult struct {
	Channels      int
	Interval      time.Duration
	Batch         int
	Span          time.Duration
	Frames        int
	Samples       int // per channel
	CBORBytes     int // frame payloads
	CBORPackets   int // the same as MQTT PUBLISH packets (QoS 1) on veille/<node>/tele
	ListenJSON    int // the same frames as `veille listen` JSON lines
	PlainJSON     int // one plain JSON message per sample (see PlainJSONSample)
	PlainPackets  int // the same as MQTT PUBLISH packets (QoS 1)
	MaxFrameBytes int
}

// PerSampleChannel divides a byte count by the samples of every channel.
func (r WireResult) PerSampleChannel(bytes int) float64 {
	return float64(bytes) / float64(r.Samples*r.Channels)
}

// WireSize batches span of simulated readings of channels rails into CBOR
// frames with the agent's Batcher and Encoder, and sizes the same data as
// JSON.
func WireSize(channels int, interval time.Duration, batch int, span time.Duration) (WireResult, error) {
	res := WireResult{Channels: channels, Interval: interval, Batch: batch, Span: span}
	samples, err := simulate(channels, interval, span)
	if err != nil {
		return res, err
	}
	ids := make([]uint16, channels)
	for i := range ids {
		ids[i] = uint16(i)
	}
	b, err := telemetry.NewBatcher(telemetry.BatcherOptions{Channels: ids, Samples: batch, Interval: interval, Run: 0x5eed1e55})
	if err != nil {
		return res, err
	}
	var enc telemetry.Encoder
	teleTopic := "veille/" + StreamNode + "/tele"
	var jsonLine []byte
	frame := func(f *telemetry.Frame) error {
		p, err := enc.Encode(f)
		if err != nil {
			return err
		}
		res.Frames++
		res.CBORBytes += len(p)
		res.CBORPackets += MQTTPublishSize(teleTopic, 1, len(p))
		res.MaxFrameBytes = max(res.MaxFrameBytes, len(p))
		jsonLine = telemetry.AppendJSON(jsonLine[:0], StreamNode, f)
		res.ListenJSON += len(jsonLine)
		return nil
	}
	plainTopic := "veille/" + StreamNode + "/sample"
	var plain []byte
	for _, s := range samples {
		b.SetStatus(s.status)
		f, err := b.Add(s.t, s.readings)
		if err != nil {
			return res, err
		}
		if f != nil {
			if err := frame(f); err != nil {
				return res, err
			}
		}
		plain = PlainJSONSample(plain[:0], s.t, StreamRails[:channels], s.readings)
		res.PlainJSON += len(plain)
		res.PlainPackets += MQTTPublishSize(plainTopic, 1, len(plain))
		res.Samples++
	}
	if f := b.Flush(); f != nil {
		if err := frame(f); err != nil {
			return res, err
		}
	}
	return res, nil
}

// PlainJSONSample appends one sample as the plain JSON a per-sample reporter
// publishes: an RFC 3339 time and, per channel, volts, amperes, watts and
// its energy counter in Wh, with descriptive keys:
//
//	{"time":"2026-03-02T00:01:00Z","pi":{"voltage":5.087,"current":0.534,"power":2.716,"energy_wh":0.012}}
//
// It carries less than a frame (no status, no sequence number).
func PlainJSONSample(dst []byte, t time.Time, names []string, rs []telemetry.Reading) []byte {
	dst = append(dst, `{"time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, '"')
	milli := func(dst []byte, v int64) []byte { return strconv.AppendFloat(dst, float64(v)/1000, 'f', -1, 64) }
	for i, r := range rs {
		dst = append(dst, `,"`...)
		dst = append(dst, names[i]...)
		dst = append(dst, `":{"voltage":`...)
		dst = milli(dst, int64(r.Voltage/physic.MilliVolt))
		dst = append(dst, `,"current":`...)
		dst = milli(dst, int64(r.Current/physic.MilliAmpere))
		dst = append(dst, `,"power":`...)
		dst = milli(dst, int64(r.Power/physic.MilliWatt))
		dst = append(dst, `,"energy_wh":`...)
		dst = milli(dst, int64(r.EnergyMilliWh))
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// haState is the Home Assistant state the agent hands the reporter for a
// sample (internal/agent's updateHA).
func haState(s sample) homeassistant.State {
	st := homeassistant.State{SoCTemp: float64(s.status.SoCTemp) / 10, HasSoCTemp: s.status.HasSoCTemp,
		Scheduler: s.status.Scheduler, ScheduleEnabled: true, Disks: s.status.Disks}
	for _, r := range s.readings {
		st.Channels = append(st.Channels, homeassistant.ChannelState{
			MilliVolts: int32(r.Voltage / physic.MilliVolt), MilliAmps: int32(r.Current / physic.MilliAmpere),
			MilliWatts: int32(r.Power / physic.MilliWatt), EnergyMilliWh: r.EnergyMilliWh, OK: r.OK})
	}
	return st
}
