package ina_test

import (
	"fmt"
	"log"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/veille/veille/drivers/ina"
)

// Opening a sensor on a real bus. The host drivers (periph.io/x/host/v3) must
// have been initialised by the program; open the bus by number, never "".
func Example() {
	bus, err := i2creg.Open("1")
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()

	opts := ina.DefaultOpts(ina.ChipINA226)
	opts.Shunt = 10 * physic.MilliOhm
	opts.MaxCurrent = 5 * physic.Ampere
	// One result per 10 s sample, covering all of it.
	opts.Averaging, opts.BusConversion = ina.TimingFor(ina.ChipINA226, 10*time.Second)
	opts.ShuntConversion = opts.BusConversion
	dev, err := ina.New(bus, ina.ChipINA226, &opts)
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Halt()

	r := make([]ina.Reading, dev.Channels())
	if err := dev.Sense(r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dev, r[0])
}

// The INA226 datasheet example, replayed: 2 mΩ, a 1 mA current LSB.
func ExampleNew() {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x40, W: []byte{0x05, 0x0A, 0x00}},            // calibration 2560
		{Addr: 0x40, W: []byte{0x00, 0x41, 0x27}},            // configuration
		{Addr: 0x40, W: []byte{0x06}, R: []byte{0x00, 0x08}}, // conversion ready
		{Addr: 0x40, W: []byte{0x01}, R: []byte{0x1F, 0x40}}, // shunt 8000
		{Addr: 0x40, W: []byte{0x02}, R: []byte{0x25, 0x70}}, // bus 9584
		{Addr: 0x40, W: []byte{0x04}, R: []byte{0x27, 0x10}}, // current 10000
		{Addr: 0x40, W: []byte{0x03}, R: []byte{0x12, 0xB8}}, // power 4792
		{Addr: 0x40, W: []byte{0x05}, R: []byte{0x0A, 0x00}}, // calibration still 2560
	}}
	opts := ina.Opts{Shunt: 2 * physic.MilliOhm, MaxCurrent: 10 * physic.Ampere, CurrentLSB: physic.MilliAmpere}
	dev, err := ina.New(bus, ina.ChipINA226, &opts)
	if err != nil {
		log.Fatal(err)
	}
	var r [1]ina.Reading
	if err := dev.Sense(r[:]); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dev)
	fmt.Println(r[0])
	// Output:
	// ina226 0x40 on playback
	// Bus: 11.980V, Shunt: 20mV, Current: 10A, Power: 119.800W
}

func ExampleTimingFor() {
	for _, c := range []ina.Chip{ina.ChipINA219, ina.ChipINA226, ina.ChipINA3221, ina.ChipINA228} {
		avg, ct := ina.TimingFor(c, time.Second)
		fmt.Printf("%s: %d × %v\n", c, avg, ct)
	}
	// Output:
	// ina219: 128 × 532µs
	// ina226: 64 × 8.244ms
	// ina3221: 512 × 332µs
	// ina228: 128 × 4.12ms
}

func ExampleScan() {
	bus := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x40, W: []byte{0x3E}, R: []byte{0x54, 0x49}},
		{Addr: 0x40, W: []byte{0x3F}, R: []byte{0x22, 0x81}},
	}}
	// The playback has nothing more: every other address fails, as an empty
	// address does.
	found, err := ina.Scan(bus, nil)
	fmt.Println(found, err)
	// Output:
	// [0x40: ina228] <nil>
}
