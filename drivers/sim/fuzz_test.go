package sim_test

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/sim"
	"github.com/veille/veille/internal/clock"
)

// FuzzCommand: any CDB gets an answer a caller can branch on (nil, a
// SenseError or an errno) and leaves the disk in a real state.
func FuzzCommand(f *testing.F) {
	for _, c := range [][]byte{
		{0x1b, 0, 0, 0, 0, 0}, {0x1b, 0, 0, 0, 1, 0}, {0x1b, 0, 0, 0, 0x30, 0}, {0x00, 0, 0, 0, 0, 0},
		{0x85, 0x06, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0xe5, 0},
		{0xa1, 0x06, 0x20, 0, 0, 0, 0, 0, 0x40, 0xe0, 0, 0}, {0x85}, {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		f.Add(c)
	}
	fc := clock.NewFake(t0)
	w, err := sim.New(sim.DefaultOpts(fc.Now))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	f.Fuzz(func(t *testing.T, cdb []byte) {
		err := w.Command("/dev/sda", cdb, time.Second)
		var se *sim.SenseError
		var errno interface{ Errno() uintptr }
		if err != nil && !errors.As(err, &se) && !errors.As(err, &errno) && !strings.Contains(err.Error(), "invalid argument") {
			t.Errorf("CDB % x: %v is neither a sense nor an errno", cdb, err)
		}
		if se != nil && (len(se.Raw) < 8 || se.Raw[0]&0x7e != 0x70 && se.Raw[0]&0x7e != 0x72) {
			t.Errorf("CDB % x: sense % x is not fixed or descriptor format", cdb, se.Raw)
		}
		if s, _ := w.DiskState("sda"); s < sim.DiskOff || s > sim.DiskStandby {
			t.Errorf("CDB % x: disk state %d", cdb, s)
		}
		fc.Advance(time.Second)
	})
}

// FuzzWakeAlarm: whatever is written, the attribute then reads the armed
// epoch or nothing, and WakeAt agrees with it.
func FuzzWakeAlarm(f *testing.F) {
	for _, s := range []string{"0", "+600", "+=60", "1736942400", "0x67890000\n", "-5", "", "+", "abc", "99999999999999999999"} {
		f.Add(s)
	}
	fc := clock.NewFake(t0)
	w, err := sim.New(sim.DefaultOpts(fc.Now))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	path := w.Path("/sys/class/rtc/rtc0/wakealarm")
	f.Fuzz(func(t *testing.T, s string) {
		err := w.WriteFile(path, []byte(s), 0o644)
		var pe *fs.PathError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("write %q: %v, want a *fs.PathError", s, err)
		}
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		at, ok := w.WakeAt()
		got := strings.TrimSpace(string(b))
		switch {
		case ok && got != strconv.FormatInt(at.Unix(), 10):
			t.Errorf("after %q: armed for %d but reads %q", s, at.Unix(), got)
		case !ok && got != "":
			t.Errorf("after %q: disarmed but reads %q", s, got)
		}
		if ok && !at.After(fc.Now()) {
			t.Errorf("after %q: armed in the past (%v)", s, at)
		}
		_ = w.WriteFile(path, []byte("0"), 0o644)
	})
}

// FuzzChipTransfer: no transfer makes a chip misbehave: every read fills
// the caller's buffer and the chips keep answering their IDs.
func FuzzChipTransfer(f *testing.F) {
	f.Add(uint8(0x40), []byte{0x00, 0x80, 0x00}, 2)
	f.Add(uint8(0x42), []byte{0x0f}, 7)
	f.Add(uint8(0x40), []byte{0x09}, 5)
	f.Add(uint8(0x41), []byte{0x05, 0xff}, 0)
	c := &clk{t: t0}
	b := sim.NewBus("I2C1", c.Now)
	tr := sim.NewTrace(t0, 5, 1)
	must(f, b.Attach(0x40, sim.NewINA228(tr, 15*physic.MilliOhm)))
	must(f, b.Attach(0x41, sim.NewINA226(tr, 10*physic.MilliOhm)))
	must(f, b.Attach(0x42, sim.NewINA3221([3]sim.Signal{tr, tr, nil}, [3]physic.ElectricResistance{physic.Ohm / 10, physic.Ohm / 10, physic.Ohm / 10})))
	must(f, b.Attach(0x43, sim.NewINA219(tr, 100*physic.MilliOhm)))
	must(f, b.Attach(0x44, sim.NewINA260(tr)))
	f.Fuzz(func(t *testing.T, addr uint8, w []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		addr = 0x40 + addr%5
		r := make([]byte, n)
		for k := range r {
			r[k] = 0xa5
		}
		if err := b.Tx(uint16(addr), w, r); err != nil {
			t.Fatalf("tx: %v", err)
		}
		c.Advance(time.Millisecond)
		id := byte(0xfe)
		if addr == 0x40 {
			id = 0x3e
		}
		if addr != 0x43 {
			got := make([]byte, 2)
			must(t, b.Tx(uint16(addr), []byte{id}, got))
			if got[0] != 0x54 || got[1] != 0x49 {
				t.Errorf("0x%02x manufacturer ID % x after % x", addr, got, w)
			}
		}
	})
}
