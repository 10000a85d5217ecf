package ina

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
)

// regs is the register access shared by every chip: big-endian registers
// behind an 8-bit pointer, one combined write-then-read transaction per
// register (the chips do not auto-increment the pointer). Its buffers live in
// the driver, so a read does not allocate.
type regs struct {
	mu    sync.Mutex
	bus   i2c.Bus
	addr  uint16
	name  string // "ina226 0x40 on /dev/i2c-1", built once for String and errors
	sleep func(time.Duration)
	w     [3]byte
	r     [5]byte
}

func newRegs(bus i2c.Bus, chip Chip, addr uint16, sleep func(time.Duration)) regs {
	if sleep == nil {
		sleep = time.Sleep
	}
	return regs{
		bus:   bus,
		addr:  addr,
		name:  fmt.Sprintf("%s %#02x on %s", chip, addr, bus),
		sleep: sleep,
	}
}

// String returns the chip, its address and its bus, e.g. "ina226 0x40 on /dev/i2c-1".
func (d *regs) String() string { return d.name }

// fail wraps a bus error with the device and the operation: errors say what
// and where, and keep their cause.
func (d *regs) fail(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", d.name, op, err)
}

func (d *regs) read16(reg byte, what string) (uint16, error) {
	d.w[0] = reg
	if err := d.bus.Tx(d.addr, d.w[:1], d.r[:2]); err != nil {
		return 0, d.fail("read "+what, err)
	}
	return uint16(d.r[0])<<8 | uint16(d.r[1]), nil
}

func (d *regs) read24(reg byte, what string) (uint32, error) {
	d.w[0] = reg
	if err := d.bus.Tx(d.addr, d.w[:1], d.r[:3]); err != nil {
		return 0, d.fail("read "+what, err)
	}
	return uint32(d.r[0])<<16 | uint32(d.r[1])<<8 | uint32(d.r[2]), nil
}

func (d *regs) read40(reg byte, what string) (uint64, error) {
	d.w[0] = reg
	if err := d.bus.Tx(d.addr, d.w[:1], d.r[:5]); err != nil {
		return 0, d.fail("read "+what, err)
	}
	return uint64(d.r[0])<<32 | uint64(d.r[1])<<24 | uint64(d.r[2])<<16 | uint64(d.r[3])<<8 | uint64(d.r[4]), nil
}

func (d *regs) write16(reg byte, v uint16, what string) error {
	d.w[0], d.w[1], d.w[2] = reg, byte(v>>8), byte(v)
	if err := d.bus.Tx(d.addr, d.w[:3], nil); err != nil {
		return d.fail("write "+what, err)
	}
	return nil
}

// waitReady sleeps for one update period, then polls ready until it reports a
// finished conversion. The chips' internal oscillators are specified to a few
// percent, so the wait is bounded at three periods before it gives up.
func (d *regs) waitReady(period time.Duration, ready func() (bool, error)) error {
	d.sleep(period)
	step := max(period/16, 50*time.Microsecond)
	for waited := period; ; waited += step {
		ok, err := ready()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if waited >= 3*period {
			return fmt.Errorf("%s: conversion not ready after %v", d.name, waited)
		}
		d.sleep(step)
	}
}

// ratio converts a register count to nano-units exactly: count·num/den,
// rounded half away from zero, computed on 128 bits. LSBs such as 195.3125 µV
// or 0.00512/(CAL·R) are not whole nano-units; keeping them as fractions keeps
// the conversion exact and identical on every architecture.
type ratio struct{ num, den uint64 }

// apply returns count·num/den; ok is false if the result does not fit an int64.
func (q ratio) apply(count int64) (v int64, ok bool) {
	neg := count < 0
	m := uint64(count)
	if neg {
		m = -m
	}
	u, ok := mulDivRound(m, q.num, q.den)
	if !ok || u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// mulDivRound returns a·b/c rounded half up; ok is false when the quotient
// exceeds 64 bits or c is zero.
func mulDivRound(a, b, c uint64) (uint64, bool) {
	if c == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, c)
	if rem >= c-rem {
		if q == math.MaxUint64 {
			return 0, false
		}
		q++
	}
	return q, true
}

// mulDivFloor returns ⌊a·b/c⌋ of 128-bit a·b; ok is false on overflow.
func mulDivFloor(a, b, c uint64) (uint64, bool) {
	if c == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, c)
	return q, true
}

// mulDivCeil returns ⌈a·b/c⌉; ok is false on overflow.
func mulDivCeil(a, b, c uint64) (uint64, bool) {
	if c == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, c)
	if rem != 0 {
		if q == math.MaxUint64 {
			return 0, false
		}
		q++
	}
	return q, true
}

// mul64 returns a·b, ok false when it does not fit 64 bits.
func mul64(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

// sext sign-extends the low n bits of v.
func sext(v uint64, n uint) int64 {
	return int64(v<<(64-n)) >> (64 - n)
}
