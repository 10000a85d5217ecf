package ina

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// Transcript builders: one I²C transaction each, bytes big-endian as on the
// wire (pointer byte, then MSB first).

func w16(addr uint16, reg byte, v uint16) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{reg, byte(v >> 8), byte(v)}}
}

func r16(addr uint16, reg byte, v uint16) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{reg}, R: []byte{byte(v >> 8), byte(v)}}
}

func r24(addr uint16, reg byte, v uint32) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{reg}, R: []byte{byte(v >> 16), byte(v >> 8), byte(v)}}
}

func r40(addr uint16, reg byte, v uint64) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{reg}, R: []byte{byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}}
}

// playback replays ops and fails the test if any was left unused.
func playback(t testing.TB, ops ...i2ctest.IO) *i2ctest.Playback {
	t.Helper()
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Errorf("transcript not fully replayed: %v", err)
		}
	})
	return bus
}

// faultBus replays a transcript but fails transaction number failAt (0-based)
// with err, the way a NACK or an unplugged sensor makes a real bus fail. The
// failed transaction does not consume a transcript entry.
type faultBus struct {
	*i2ctest.Playback
	failAt int
	err    error
	n      int
}

func (b *faultBus) Tx(addr uint16, w, r []byte) error {
	n := b.n
	b.n++
	if n == b.failAt {
		return b.err
	}
	return b.Playback.Tx(addr, w, r)
}

// sparseBus passes transactions for the addresses in present to Bus; any
// other address NACKs as an empty address does on Linux (ENXIO).
type sparseBus struct {
	i2c.Bus
	present map[uint16]bool
}

func (b *sparseBus) Tx(addr uint16, w, r []byte) error {
	if !b.present[addr] {
		return syscall.ENXIO
	}
	return b.Bus.Tx(addr, w, r)
}

var _ i2c.Bus = (*faultBus)(nil)
var _ i2c.Bus = (*sparseBus)(nil)

// sleeps records the waits a driver asks for instead of sleeping.
type sleeps []time.Duration

func (s *sleeps) sleep(d time.Duration) { *s = append(*s, d) }

func wantErrContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func sense1(t *testing.T, d Dev) Reading {
	t.Helper()
	var r [1]Reading
	if err := d.Sense(r[:]); err != nil {
		t.Fatalf("Sense: %v", err)
	}
	return r[0]
}
