package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/veille/veille/drivers/hwmon"
	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/telemetry"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// source is one sensor device: an INA chip veille drives, or a kernel hwmon
// sensor. It fills one reading per channel it carries.
type source interface {
	Sense(dst []ina.Reading) error
	String() string
}

// sensor is a source with its channels, its health and its way back after a
// failure: a chip that lost power has lost its calibration too, so recovery
// opens it again rather than reading on.
type sensor struct {
	name     string // for logs: "ina226 0x40 on /dev/i2c-1"
	open     func() (source, error)
	src      source
	first    int // index of its first channel in the agent's channel list
	n        int
	period   time.Duration // the time one reading covers (chip averaging); 0 for hwmon
	readyAt  time.Time     // the chip's first averaged result after (re)opening
	step     time.Duration // how often it is read (readStep)
	accum    bool          // the chip integrates energy itself (INA228)
	warned   bool          // the short-window warning was given
	failures int
	retryAt  time.Time
	err      error
}

// channelInfo describes one channel for the meta topic and Home Assistant.
type channelInfo struct {
	Name string
	Meta telemetry.MetaChannel
	// hidden: an INA3221 input not in the configuration, kept only so the
	// chip's three readings have their places.
	hidden bool
}

// busOpener opens /dev/i2c-N (or the simulated bus).
type busOpener func(bus int) (i2c.Bus, error)

// readStep is how often the sampler reads the sensors: the sampling
// interval, or a fraction of it when a chip cannot average over the whole
// interval (ina.ReadStep: an INA226 at 60 s is read every 15 s), so that its
// readings still cover all of it. The INA228 adds up its own energy and does
// not need it; hwmon chips average as their kernel driver is set.
func readStep(c *config.Config) time.Duration {
	interval := c.Sampling.Interval.D()
	step := interval
	for _, s := range c.Sensors {
		chip := ina.Chip(s.Chip)
		if chip == ina.ChipINA228 || s.AdcAveraging != 0 || s.AdcTime != "auto" {
			continue // its own accumulator, or a timing the user chose
		}
		step = min(step, ina.ReadStep(chip, interval, max(len(s.Channels), 1)))
	}
	return step
}

// buildSensors creates the sensors of the configuration, set up to be read
// every readStep(c). Nothing is opened yet: a missing chip makes its
// channels unavailable, it does not stop veille.
func buildSensors(c *config.Config, openBus busOpener, hw hwmon.FS) ([]*sensor, []channelInfo, error) {
	var sensors []*sensor
	var chans []channelInfo
	buses := map[int]i2c.Bus{}
	getBus := func(n int) (i2c.Bus, error) {
		if b, ok := buses[n]; ok {
			return b, nil
		}
		b, err := openBus(n)
		if err != nil {
			return nil, err
		}
		buses[n] = b
		return b, nil
	}
	step := readStep(c)
	for i := range c.Sensors {
		s := c.Sensors[i]
		key := fmt.Sprintf("sensor[%d]", i)
		if drv, _ := hw.BoundDriver(s.Bus, uint16(s.Address)); drv != "" {
			return nil, nil, c.Problem(key+".address", "%s at %s is bound to the kernel's %s driver: read it with a [[hwmon]] block (device = %q), or unbind it first; veille never drives a chip the kernel also drives",
				s.Chip, hwmon.DeviceName(s.Bus, uint16(s.Address)), drv, hwmon.DeviceName(s.Bus, uint16(s.Address)))
		}
		chip := ina.Chip(s.Chip)
		opts := ina.DefaultOpts(chip)
		opts.Addr = uint16(s.Address)
		opts.Shunt = s.ShuntResistance.V()
		opts.MaxCurrent = s.MaxCurrent.V()
		opts.BusRange = s.MaxVoltage.V()
		if s.AdcRange == 1 {
			opts.ShuntRange = 40960 * physic.MicroVolt
		}
		// Inputs the configuration does not name are switched off, so an
		// INA3221's cycle visits fewer inputs: size its averaging for them.
		avg, conv := ina.TimingForInputs(chip, step, max(len(s.Channels), 1))
		if s.AdcAveraging != 0 {
			avg = s.AdcAveraging
		}
		if s.AdcTime != "auto" {
			d, _ := time.ParseDuration(s.AdcTime)
			conv = d
		}
		opts.Averaging, opts.BusConversion, opts.ShuntConversion = avg, conv, conv
		busName := fmt.Sprintf("/dev/i2c-%d 0x%02x", s.Bus, s.Address)
		n := 1
		if chip == ina.ChipINA3221 {
			n = 3
			for j := range opts.Channels {
				opts.Channels[j].Disabled = true
			}
			names := make([]string, 3)
			for _, ch := range s.Channels {
				opts.Channels[ch.Number-1] = ina.ChannelOpts{Shunt: ch.ShuntResistance.V()}
				names[ch.Number-1] = ch.Name
			}
			for j := 0; j < 3; j++ {
				name, hidden := names[j], names[j] == ""
				if hidden {
					name = fmt.Sprintf("ina3221-%02x-%d", s.Address, j+1)
				}
				chans = append(chans, channelInfo{Name: name, hidden: hidden, Meta: telemetry.MetaChannel{
					Name: name, Chip: s.Chip, Bus: fmt.Sprintf("%s ch%d", busName, j+1),
					ShuntMicroOhms: int64(opts.Channels[j].Shunt / physic.MicroOhm),
				}})
			}
		} else {
			meta := telemetry.MetaChannel{Name: s.Name, Chip: s.Chip, Bus: busName,
				ShuntMicroOhms: int64(opts.Shunt / physic.MicroOhm), MaxCurrentMilliAmps: int64(opts.MaxCurrent / physic.MilliAmpere)}
			chans = append(chans, channelInfo{Name: s.Name, Meta: meta})
		}
		sn := &sensor{name: fmt.Sprintf("%s %s", s.Chip, busName), first: len(chans) - n, n: n,
			step: step, accum: chip == ina.ChipINA228}
		sn.open = func() (source, error) {
			b, err := getBus(s.Bus)
			if err != nil {
				return nil, err
			}
			d, err := ina.New(b, chip, &opts)
			if err != nil {
				return nil, err
			}
			sn.period = d.UpdatePeriod()
			return d, nil
		}
		sensors = append(sensors, sn)
	}
	for i := range c.Hwmon {
		h := c.Hwmon[i]
		// No period: the kernel's driver configured the chip long ago and
		// its readings are ready at once (its averaging is the driver's).
		sn := &sensor{name: "hwmon " + h.Device, first: len(chans), n: 1}
		chans = append(chans, channelInfo{Name: h.Name, Meta: telemetry.MetaChannel{Name: h.Name, Chip: "hwmon", Bus: h.Device}})
		sn.open = func() (source, error) { return openHwmon(hw, h) }
		sensors = append(sensors, sn)
	}
	return sensors, chans, nil
}

func openHwmon(fs hwmon.FS, h config.Hwmon) (source, error) {
	all, err := fs.Scan()
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Device == h.Device || s.Name == h.Device {
			return &hwmonSource{s: s, ch: max(h.Channel, 1)}, nil
		}
	}
	return nil, fmt.Errorf("no hwmon sensor %q under /sys/class/hwmon: %w", h.Device, hwmon.ErrNotFound)
}

type hwmonSource struct {
	s  *hwmon.Sensor
	ch int
}

func (h *hwmonSource) String() string { return h.s.String() }

func (h *hwmonSource) Sense(dst []ina.Reading) error {
	chs, err := h.s.Read()
	if err != nil {
		return err
	}
	for _, c := range chs {
		if c.Index == h.ch {
			dst[0] = ina.Reading{Bus: c.Bus, Shunt: c.Shunt, Current: c.Current, Power: c.Power,
				Energy: c.Energy, HasEnergy: c.Has&hwmon.Energy != 0}
			return nil
		}
	}
	return fmt.Errorf("%s: no channel %d", h.s, h.ch)
}

// backoff is the wait before retrying a sensor after n failures.
func backoff(n int) time.Duration {
	d := time.Second << min(n, 9)
	return min(d, 5*time.Minute)
}

// read fills dst[s.first:s.first+s.n]; it reports whether the readings are
// good. A failing sensor is retried with backoff while the others go on.
//
// A sensor is back only with its first good reading: opening a chip proves
// little (writes reach a chip whose reads return noise), so a reopened chip
// that fails again keeps its count of failures and its growing backoff, and
// the log says "sensor is back" once per recovery, not once per retry.
func (s *sensor) read(now time.Time, dst []ina.Reading, log *slog.Logger) bool {
	if s.src == nil {
		if now.Before(s.retryAt) {
			return false
		}
		src, err := s.open()
		if err != nil {
			s.fail(now, err, log)
			return false
		}
		s.src = src
		// A chip just configured holds no averaged result until its first
		// window completes: its registers read zero or stale values.
		s.readyAt = now.Add(s.period)
		if !s.warned && !s.accum && s.period > 0 && s.period < s.step*9/10 {
			s.warned = true
			log.Warn("this chip's averaging does not cover the time between its readings: what happens between them is extrapolated, and short bursts can be missed or over-counted; leave adc_averaging and adc_time to veille, or use an INA226, INA260 or INA228 (it integrates energy itself)",
				"sensor", s.name, "window", s.period, "read_every", s.step)
		}
	}
	if now.Before(s.readyAt) {
		return false
	}
	if err := s.src.Sense(dst[s.first : s.first+s.n]); err != nil {
		s.src = nil // reopen: a chip that lost power lost its configuration
		s.fail(now, err, log)
		return false
	}
	if s.failures > 0 {
		log.Info("sensor is back", "sensor", s.name, "after_failures", s.failures)
		s.failures, s.err = 0, nil
	}
	return true
}

// fail counts a failure and schedules the retry. It warns on the first
// failure and when the failure changes kind; a chip that keeps returning
// implausible readings (each with other values) is one kind of failure.
func (s *sensor) fail(now time.Time, err error, log *slog.Logger) {
	s.failures++
	s.retryAt = now.Add(backoff(s.failures - 1))
	if s.failures == 1 || !sameFailure(err, s.err) {
		log.Warn("sensor unavailable; its channels are reported unavailable, the others go on", "sensor", s.name, "err", err, "retry_in", backoff(s.failures-1))
	}
	s.err = err
}

// sameFailure reports whether err repeats the failure prev.
func sameFailure(err, prev error) bool {
	if prev == nil {
		return false
	}
	if errors.Is(err, ina.ErrImplausible) || errors.Is(prev, ina.ErrImplausible) {
		return errors.Is(err, ina.ErrImplausible) && errors.Is(prev, ina.ErrImplausible)
	}
	return errors.Is(err, prev) || err.Error() == prev.Error()
}
