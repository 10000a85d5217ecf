package sim

import (
	"fmt"
	"math"
	"time"
)

// The Pi 5's I²C bus 1 controller (RP1), where kernel-bound sensors live.
const i2cController = "/sys/devices/platform/axi/1000120000.pcie/1f00074000.i2c"

// kernelDriver is the Linux hwmon driver that binds a chip.
func kernelDriver(c Chip) string {
	switch c {
	case ChipINA3221:
		return "ina3221"
	case ChipINA228:
		return "ina238"
	}
	return "ina2xx"
}

// probe configures a chip as its kernel driver does when it binds:
// ina2xx writes its default configuration and a calibration that makes one
// current count one shunt count; ina3221 keeps the reset configuration with
// the unconnected channels off; ina238 sets 16 averages and a SHUNT_CAL of
// 4096 (one current count per shunt count as well).
func (s *sensor) probe(at time.Time) {
	wr := func(reg byte, v uint16) { _ = s.dev.Transfer(at, []byte{reg, byte(v >> 8), byte(v)}, nil) }
	switch s.o.Chip {
	case ChipINA219:
		wr(0x00, 0x399f)
		wr(0x05, 4096)
	case ChipINA226:
		wr(0x00, 0x4527)
		wr(0x05, 2048)
	case ChipINA260:
		wr(0x00, 0x6527)
	case ChipINA3221:
		cfg := uint16(0x7127)
		for n, c := range s.o.Channels {
			if c.Rail == "" {
				cfg &^= 0x4000 >> uint(n)
			}
		}
		wr(0x00, cfg)
	case ChipINA228:
		wr(0x00, 0)
		wr(0x01, 0xfb6a)
		wr(0x02, 4096)
	}
}

func (s *sensor) reg(at time.Time, r byte, n int) uint64 {
	buf := make([]byte, n)
	_ = s.dev.Transfer(at, []byte{r}, buf)
	var v uint64
	for _, b := range buf {
		v = v<<8 | uint64(b)
	}
	return v
}

// divRound is the kernel's DIV_ROUND_CLOSEST for signed values.
func divRound(a, b int64) int64 {
	if (a < 0) != (b < 0) {
		return (a - b/2) / b
	}
	return (a + b/2) / b
}

// renderHwmon shows the SoC's thermal hwmon and every kernel-bound sensor,
// with the attributes its driver gives (Documentation/hwmon/ina2xx.rst,
// ina3221.rst, ina238.rst), computed from the chip's registers as the driver
// reads them.
func (w *World) renderHwmon(t tree, at time.Time) {
	tz := "/sys/devices/virtual/thermal/thermal_zone0/hwmon0"
	t.file(tz+"/name", "cpu_thermal\n")
	t.file(tz+"/temp1_input", fmt.Sprintf("%d\n", int64(math.Round(w.board.temp.value(at)*1000))))
	t.link(tz+"/device", "/sys/devices/virtual/thermal/thermal_zone0")
	t.link("/sys/class/hwmon/hwmon0", tz)
	n := w.busNumber()
	idx := 0
	for _, s := range w.sensors {
		if !s.o.Kernel {
			continue
		}
		idx++
		name := fmt.Sprintf("%d-%04x", n, s.o.Addr)
		dev := fmt.Sprintf("%s/i2c-%d/%s", i2cController, n, name)
		drv := kernelDriver(s.o.Chip)
		t.file(dev+"/name", string(s.o.Chip)+"\n")
		t.link(dev+"/driver", "/sys/bus/i2c/drivers/"+drv)
		t.link("/sys/bus/i2c/devices/"+name, dev)
		t.link("/sys/bus/i2c/drivers/"+drv+"/"+name, dev)
		hw := fmt.Sprintf("%s/hwmon/hwmon%d", dev, idx)
		t.link(hw+"/device", dev)
		t.link(fmt.Sprintf("/sys/class/hwmon/hwmon%d", idx), hw)
		t.file(hw+"/name", string(s.o.Chip)+"\n")
		if w.board.state == BoardHalted && !s.o.ExternalSupply {
			continue
		}
		attr := func(a string, v int64) { t.file(hw+"/"+a, fmt.Sprintf("%d\n", v)) }
		rUo := int64(math.Round(float64(s.o.Shunt) / 1e3)) // µΩ
		switch s.o.Chip {
		case ChipINA219, ChipINA226, ChipINA260:
			shuntDiv, busShift, busLSB, powerFactor := int64(400), 0, int64(1250), int64(25)
			if s.o.Chip == ChipINA219 {
				shuntDiv, busShift, busLSB, powerFactor = 100, 3, 4000, 20
			}
			if s.o.Chip == ChipINA260 {
				rUo, powerFactor = 2000, 8
			}
			curLSB := divRound(divRound(1_000_000_000, shuntDiv), rUo) // µA
			if s.o.Chip != ChipINA260 {
				attr("in0_input", divRound(int64(int16(s.reg(at, 0x01, 2))), shuntDiv))
				attr("shunt_resistor", rUo)
			}
			attr("in1_input", int64(s.reg(at, 0x02, 2)>>busShift)*busLSB/1000)
			curReg := byte(0x04)
			if s.o.Chip == ChipINA260 {
				curReg = 0x01
			}
			attr("curr1_input", divRound(int64(int16(s.reg(at, curReg, 2)))*curLSB, 1000))
			attr("power1_input", int64(s.reg(at, 0x03, 2))*powerFactor*curLSB)
			if s.o.Chip != ChipINA219 {
				cfg := s.reg(at, 0x00, 2)
				period := time.Duration(ina226Averages[cfg>>9&7]) * (ina226Times[cfg>>6&7] + ina226Times[cfg>>3&7])
				attr("update_interval", period.Milliseconds())
			}
		case ChipINA3221:
			cfg := s.reg(at, 0x00, 2)
			for k, c := range s.o.Channels {
				on := int64(0)
				if cfg&(0x4000>>uint(k)) != 0 {
					on = 1
				}
				attr(fmt.Sprintf("in%d_enable", k+1), on)
				if c.Rail == "" {
					continue
				}
				t.file(fmt.Sprintf("%s/in%d_label", hw, k+1), c.Rail+"\n")
				bus := int64(int16(s.reg(at, byte(2+2*k), 2))>>3) * 8
				shuntUV := int64(int16(s.reg(at, byte(1+2*k), 2))>>3) * 40
				r := int64(math.Round(float64(c.Shunt) / 1e3))
				attr(fmt.Sprintf("in%d_input", k+1), bus)
				attr(fmt.Sprintf("in%d_input", k+4), shuntUV)
				attr(fmt.Sprintf("curr%d_input", k+1), divRound(shuntUV*1000, r))
				attr(fmt.Sprintf("shunt%d_resistor", k+1), r)
			}
			attr("samples", int64(ina226Averages[cfg>>9&7]))
		case ChipINA228:
			lsb := 312.5e-9 / (float64(s.o.Shunt) / 1e9) // A per count with SHUNT_CAL 4096
			s20 := func(v uint64) int64 { return int64(int32(uint32(v)<<8) >> 12) }
			attr("in0_input", int64(math.Round(float64(s20(s.reg(at, 0x04, 3)))*312.5e-6)))
			attr("in1_input", int64(float64(s.reg(at, 0x05, 3)>>4)*195.3125e-3))
			attr("curr1_input", int64(math.Round(float64(s20(s.reg(at, 0x07, 3)))*lsb*1e3)))
			attr("power1_input", int64(math.Round(float64(s.reg(at, 0x08, 3))*3.2*lsb*1e6)))
			attr("energy1_input", int64(math.Round(float64(s.reg(at, 0x09, 5))*16*3.2*lsb*1e6)))
			attr("temp1_input", int64(math.Round(float64(int16(s.reg(at, 0x06, 2)))*7.8125)))
			attr("shunt_resistor", rUo)
		}
	}
}
