package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/drivers/ina"
	"github.com/veille/veille/drivers/sim"
)

// TestSensorNoisyChipDoesNotFlap drives a sensor through the real INA260
// driver on an emulated bus whose reads turn to noise: the chip opens (its
// writes still land) but every reading is refused, so the sensor must stay
// unavailable with a growing backoff, warn once, and say it is back only
// after its first good reading once the noise stops.
func TestSensorNoisyChipDoesNotFlap(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	bus := sim.NewBus("I2C1", func() time.Time { return now })
	if err := bus.Attach(0x41, sim.NewINA260(sim.NewTrace(t0, 5, 0.8))); err != nil {
		t.Fatal(err)
	}
	opts := ina.DefaultOpts(ina.ChipINA260)
	opts.Addr = 0x41
	opts.Averaging, opts.BusConversion = ina.TimingFor(ina.ChipINA260, 10*time.Second)
	opts.ShuntConversion = opts.BusConversion
	opens := 0
	s := &sensor{name: "ina260 /dev/i2c-1 0x41", n: 1, step: 10 * time.Second}
	s.open = func() (source, error) {
		opens++
		d, err := ina.New(bus, ina.ChipINA260, &opts)
		if err != nil {
			return nil, err
		}
		s.period = d.UpdatePeriod()
		return d, nil
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	dst := make([]ina.Reading, 1)
	step := func(d time.Duration) bool {
		now = now.Add(d)
		return s.read(now, dst, log)
	}

	// Healthy: the first window completes, then readings flow.
	for !step(time.Second) {
		if now.Sub(t0) > time.Minute {
			t.Fatal("no good reading within a minute of a healthy chip")
		}
	}
	if dst[0].Bus < 4900e6 || dst[0].Bus > 5100e6 {
		t.Fatalf("healthy reading %v, want 5 V", dst[0])
	}

	// Noise for 30 simulated minutes, sampled every 10 s.
	if err := bus.SetFault(0x41, sim.FaultGarbage); err != nil {
		t.Fatal(err)
	}
	openedBefore := opens
	var waits []time.Duration
	lastRetry := time.Time{}
	for range 180 {
		if step(10 * time.Second) {
			t.Fatalf("a reading of a chip returning noise was accepted: %v", dst[0])
		}
		if !s.retryAt.Equal(lastRetry) {
			waits = append(waits, s.retryAt.Sub(now))
			lastRetry = s.retryAt
		}
	}
	t.Logf("30 min of noise: %d reopens, retry waits %v; last error: %v", opens-openedBefore, waits, s.err)
	if !errors.Is(s.err, ina.ErrImplausible) {
		t.Errorf("sensor error %v, want ErrImplausible", s.err)
	}
	if s.failures < 5 {
		t.Errorf("%d failures counted over 30 minutes of noise, want the count to keep growing across reopens", s.failures)
	}
	// The backoff grows across reopens: 1 s, 2 s, 4 s … up to 5 minutes,
	// so 30 minutes hold a dozen reopens, not one every sample.
	if n := opens - openedBefore; n > 15 || n < 5 {
		t.Errorf("%d reopens in 30 minutes of noise, want the backoff to space them (waits %v)", n, waits)
	}
	for k := 1; k < len(waits); k++ {
		if waits[k] < waits[k-1] && waits[k-1] < 5*time.Minute {
			t.Errorf("backoff shrank from %v to %v while the chip stayed noisy (waits %v)", waits[k-1], waits[k], waits)
		}
	}
	if n := strings.Count(logs.String(), "sensor unavailable"); n != 1 {
		t.Errorf("%d warnings for one noisy spell, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "sensor is back") {
		t.Errorf("a chip that never gave a good reading was logged back:\n%s", logs.String())
	}

	// The noise stops: the next reopen, then its first window, then back.
	if err := bus.SetFault(0x41, sim.FaultNone); err != nil {
		t.Fatal(err)
	}
	stopped := now
	for !step(10 * time.Second) {
		if now.Sub(stopped) > 7*time.Minute {
			t.Fatalf("not back within 7 minutes of the noise stopping:\n%s", logs.String())
		}
	}
	if n := strings.Count(logs.String(), "sensor is back"); n != 1 {
		t.Errorf("logged back %d times, want once:\n%s", n, logs.String())
	}
	if s.failures != 0 || s.err != nil {
		t.Errorf("after recovery: failures %d err %v", s.failures, s.err)
	}
	if dst[0].Bus < 4900e6 || dst[0].Bus > 5100e6 {
		t.Errorf("reading after recovery %v, want 5 V", dst[0])
	}
}

// TestSensorFailureKinds: a new warning when the failure changes kind, none
// when it repeats.
func TestSensorFailureKinds(t *testing.T) {
	noisy := func(v int) error {
		return errors.Join(ina.ErrImplausible, errors.New("power register reads "+string(rune('0'+v))))
	}
	nack := errors.New("I2C1: address 0x41 not acknowledged")
	for _, tc := range []struct {
		name       string
		err, prev  error
		sameRepeat bool
	}{
		{"first", nack, nil, false},
		{"same bus error", nack, errors.New(nack.Error()), true},
		{"noise with other values", noisy(1), noisy(2), true},
		{"noise after a bus error", noisy(1), nack, false},
		{"bus error after noise", nack, noisy(1), false},
	} {
		if got := sameFailure(tc.err, tc.prev); got != tc.sameRepeat {
			t.Errorf("%s: sameFailure = %v, want %v", tc.name, got, tc.sameRepeat)
		}
	}
}
