package ina

import (
	"errors"
	"fmt"
	"math"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// INA228 registers (SBOSA20 / SLYS021 §7.6). Results are 20 bits in bits 23:4
// of 24-bit registers; ENERGY and CHARGE are 40-bit accumulators.
const (
	ina228RegConfig    = 0x00 // RST(15) RSTACC(14) CONVDLY(13:6) TEMPCOMP(5) ADCRANGE(4); POR 0000h
	ina228RegADCConfig = 0x01 // MODE(15:12) VBUSCT(11:9) VSHCT(8:6) VTCT(5:3) AVG(2:0); POR FB68h
	ina228RegShuntCal  = 0x02 // SHUNT_CAL(14:0); POR 1000h
	ina228RegVShunt    = 0x04 // 24 bits: 312.5 nV (ADCRANGE=0) or 78.125 nV (=1)
	ina228RegVBus      = 0x05 // 24 bits: 195.3125 µV
	ina228RegDieTemp   = 0x06 // 16 bits signed: 7.8125 m°C
	ina228RegCurrent   = 0x07 // 24 bits signed × Current_LSB
	ina228RegPower     = 0x08 // 24 bits unsigned × 3.2·Current_LSB
	ina228RegEnergy    = 0x09 // 40 bits unsigned × 16·3.2·Current_LSB
	ina228RegCharge    = 0x0A // 40 bits signed × Current_LSB
	ina228RegDiag      = 0x0B // DIAG_ALRT

	ina228RSTACC   = 1 << 14
	ina228ADCRANGE = 1 << 4

	ina228ENERGYOF = 1 << 11 // clears when ENERGY is read
	ina228CHARGEOF = 1 << 10 // clears when CHARGE is read
	ina228MATHOF   = 1 << 9
	ina228CNVRF    = 1 << 1
	ina228MEMSTAT  = 1 << 0 // 1: trim memory checksum good
	ina228DiagRsvd = 1 << 8

	ina228ADCConfigPOR = 0xFB68

	ina228ModeTriggered  = 0x7 // bus, shunt and temperature, triggered
	ina228ModeContinuous = 0xF // bus, shunt and temperature, continuous

	ina228FullScale = 1<<19 - 1 // largest 20-bit code
)

// ina228Ranges are ADCRANGE=1 and ADCRANGE=0, ascending.
var ina228Ranges = []physic.ElectricPotential{40960 * physic.MicroVolt, 163840 * physic.MicroVolt}

// INA228 is a calibrated INA228 with its energy and charge accumulators.
type INA228 struct {
	regs
	mode      Mode
	config    uint16 // CONFIG (ADCRANGE)
	adcConfig uint16
	period    time.Duration
	shunt     ratio // VSHUNT counts → nV
	current   ratio // CURRENT counts → nA (and CHARGE counts → nC)
	power     ratio // POWER counts → nW
	energy    ratio // ENERGY counts → nJ
	wraps     uint64
	lastRaw   uint64 // ENERGY as last read in a good reading
	haveRaw   bool
	halted    bool
	rb        readback
	curM      currentModel
	powM      powerModel
}

var _ conn.Resource = (*INA228)(nil)
var _ Dev = (*INA228)(nil)

// NewINA228 calibrates and configures an INA228 at opts.Addr. The die
// temperature is converted in 50 µs (VTCT=0), the shortest time, to leave the
// cycle to the shunt and bus conversions. The accumulators are
// left as they are; see ResetAccumulators. A nil opts means
// DefaultOpts(ChipINA228).
func NewINA228(bus i2c.Bus, opts *Opts) (*INA228, error) {
	const c = ChipINA228
	o := resolve(c, opts)
	if err := checkAddr(c, o.Addr, 0x4F); err != nil {
		return nil, err
	}
	if err := checkShuntCurrent(c, &o); err != nil {
		return nil, err
	}
	rng, err := pickShuntRange(c, &o, ina228Ranges)
	if err != nil {
		return nil, err
	}
	avg, err := avgCode(c, o.Averaging)
	if err != nil {
		return nil, err
	}
	vbus, err := ctCode(c, &ct228, "BusConversion", o.BusConversion)
	if err != nil {
		return nil, err
	}
	vsh, err := ctCode(c, &ct228, "ShuntConversion", o.ShuntConversion)
	if err != nil {
		return nil, err
	}
	var mode uint16
	switch o.Mode {
	case Continuous:
		mode = ina228ModeContinuous
	case Triggered:
		mode = ina228ModeTriggered
	default:
		return nil, fmt.Errorf("%s: Opts.Mode %v unknown", c, o.Mode)
	}

	// SHUNT_CAL = 13107.2e6 · Current_LSB · R (·4 at ADCRANGE=1). In nA and
	// nΩ: SHUNT_CAL = LSB·R·k·131072/1e13, and with Current_LSB = Imax/2^19
	// it is Imax·R·k/4e13, rounded up so that Imax fits the register.
	k := uint64(1)
	var config uint16
	shunt := ratio{625, 2} // 312.5 nV
	if rng == 0 {
		k = 4
		config = ina228ADCRANGE
		shunt = ratio{625, 8} // 78.125 nV
	}
	r := uint64(o.Shunt)
	var cal uint64
	if o.CurrentLSB > 0 {
		if (o.MaxCurrent+ina228FullScale-1)/ina228FullScale > o.CurrentLSB {
			return nil, fmt.Errorf("%s: Opts.CurrentLSB %s too small for Opts.MaxCurrent %s (the current register holds ±%d LSB)",
				c, o.CurrentLSB, o.MaxCurrent, ina228FullScale)
		}
		if lr, ok := mul64(uint64(o.CurrentLSB), r); ok {
			cal, ok = mulDivRound(lr, k*131072, 1e13)
			if !ok {
				cal = math.MaxUint64
			}
		} else {
			cal = math.MaxUint64
		}
	} else {
		var ok bool
		if cal, ok = mulDivCeil(uint64(o.MaxCurrent), r*k, 4e13); !ok {
			cal = math.MaxUint64
		}
	}
	if cal == 0 {
		return nil, fmt.Errorf("%s: SHUNT_CAL for Opts.Shunt %s and %s rounds to 0: current LSB too fine", c, o.Shunt, lsbOption(&o))
	}
	if cal > 0x7FFF {
		return nil, fmt.Errorf("%s: SHUNT_CAL for Opts.Shunt %s and %s exceeds the register maximum 32767: current LSB too coarse", c, o.Shunt, lsbOption(&o))
	}
	den := 131072 * r * k // ≤ 5.3e17
	d := &INA228{
		regs:      newRegs(bus, c, o.Addr, o.Sleep),
		mode:      o.Mode,
		config:    config,
		adcConfig: mode<<12 | vbus<<9 | vsh<<6 | avg, // VTCT(5:3) = 0: 50 µs
		period:    (o.BusConversion + o.ShuntConversion + ina228TempConversion) * time.Duration(o.Averaging),
		shunt:     shunt,
		current:   ratio{cal * 1e13, den},
		power:     ratio{cal * 32e12, den},  // 3.2·Current_LSB
		energy:    ratio{cal * 512e12, den}, // 16·3.2·Current_LSB
		// CURRENT = VSHUNT·4096/SHUNT_CAL (the ×4 of ADCRANGE=1 cancels the
		// 4× finer shunt LSB); POWER = |CURRENT|·VBUS/16384 of the averaged
		// current and bus voltage (SBOSA20 §7.3.1), so no covariance slack.
		curM: currentModel{num: 4096, den: int64(cal), name: fmt.Sprintf("4096 / SHUNT_CAL %d", cal)},
		powM: powerModel{div: 16384, kind: powerOfAverages},
	}
	// ADC_CONFIG has no reserved bits; its power-on value (FB68h) has VTCT 5,
	// never the driver's 0, so a reset always shows.
	d.rb = readback{reg: ina228RegADCConfig, what: "ADC configuration", want: d.adcConfig, por: ina228ADCConfigPOR}
	if err := d.write16(ina228RegConfig, d.config, "configuration"); err != nil {
		return nil, err
	}
	if err := d.write16(ina228RegShuntCal, uint16(cal), "shunt calibration"); err != nil {
		return nil, err
	}
	if err := d.write16(ina228RegADCConfig, d.adcConfig, "ADC configuration"); err != nil {
		return nil, err
	}
	return d, nil
}

// Chip returns ChipINA228.
func (d *INA228) Chip() Chip { return ChipINA228 }

// Channels returns 1.
func (d *INA228) Channels() int { return 1 }

// UpdatePeriod is (VBUSCT+VSHCT+VTCT)·AVG.
func (d *INA228) UpdatePeriod() time.Duration { return d.period }

// Sense reads DIAG_ALRT, shunt and bus voltages, die temperature, current,
// power and the energy accumulator into dst[0], then reads ADC_CONFIG back.
// DIAG_ALRT is read first because reading ENERGY clears ENERGYOF; an ENERGYOF
// seen while the register went below its last value extends Energy by one
// 2^40 wrap. Energy only decreases when the accumulator was reset
// (ResetAccumulators, a chip reset, or another bus master). Overflow is
// MATHOF, a shunt or bus code at full scale, or an Energy past the range of
// physic.Energy.
//
// A reading is refused with ErrImplausible when ADC_CONFIG does not read
// what was written, a reserved bit is set (bits 3:0 of the 24-bit results,
// the sign of VBUS, DIAG_ALRT bit 8), MEMSTAT reports a trim memory error,
// the die temperature is beyond what the chip survives, the current
// disagrees with the shunt voltage ÷ SHUNT_CAL, or the power with the current
// × bus voltage. The registers are read once more before Sense gives up.
func (d *INA228) Sense(dst []Reading) error {
	if len(dst) < 1 {
		return fmt.Errorf("%s: Sense needs room for 1 reading, got %d", d.name, len(dst))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var diag uint16
	if d.mode == Triggered || d.halted {
		if err := d.write16(ina228RegADCConfig, d.adcConfig, "ADC configuration"); err != nil {
			return err
		}
		d.halted = false
		err := d.waitReady(d.period, func() (bool, error) {
			v, err := d.read16(ina228RegDiag, "diagnostic flags")
			diag = v
			return v&ina228CNVRF != 0, err
		})
		if err != nil {
			return err
		}
	} else {
		v, err := d.read16(ina228RegDiag, "diagnostic flags")
		if err != nil {
			return err
		}
		diag = v
	}
	// The first read of ENERGY clears ENERGYOF: a re-read sees it no more.
	wrapped := diag&ina228ENERGYOF != 0
	r, raw, err := d.sample(diag)
	if errors.Is(err, ErrImplausible) {
		if diag, err = d.read16(ina228RegDiag, "diagnostic flags"); err == nil {
			wrapped = wrapped || diag&ina228ENERGYOF != 0
			r, raw, err = d.sample(diag)
		}
	}
	if err != nil {
		return err
	}
	// A flag read through noise must not add 2^40 counts (about 300 kWh at
	// 10 A): a wrap also brings the register below its last value.
	if wrapped && (!d.haveRaw || raw < d.lastRaw) {
		d.wraps++
	}
	d.lastRaw, d.haveRaw = raw, true
	total := d.wraps<<40 | raw
	e, ok := int64(0), d.wraps < 1<<23
	if ok {
		e, ok = d.energy.apply(int64(total))
	}
	if !ok {
		e = math.MaxInt64
	}
	r.Energy = physic.Energy(e)
	r.Overflow = r.Overflow || !ok
	dst[0] = r
	return nil
}

// sample reads and checks one result; diag is DIAG_ALRT, already read. It
// returns the ENERGY register apart: the wraps are counted by Sense.
func (d *INA228) sample(diag uint16) (Reading, uint64, error) {
	vshunt, err := d.read24(ina228RegVShunt, "shunt voltage")
	if err != nil {
		return Reading{}, 0, err
	}
	vbus, err := d.read24(ina228RegVBus, "bus voltage")
	if err != nil {
		return Reading{}, 0, err
	}
	temp, err := d.read16(ina228RegDieTemp, "die temperature")
	if err != nil {
		return Reading{}, 0, err
	}
	current, err := d.read24(ina228RegCurrent, "current")
	if err != nil {
		return Reading{}, 0, err
	}
	power, err := d.read24(ina228RegPower, "power")
	if err != nil {
		return Reading{}, 0, err
	}
	energy, err := d.read40(ina228RegEnergy, "energy")
	if err != nil {
		return Reading{}, 0, err
	}
	if err := d.check(&d.rb); err != nil {
		return Reading{}, 0, err
	}
	if err := d.reserved("diagnostic flags", uint64(diag), ina228DiagRsvd, "8"); err != nil {
		return Reading{}, 0, err
	}
	if diag&ina228MEMSTAT == 0 {
		return Reading{}, 0, d.implausible("diagnostic flags read %04Xh: MEMSTAT 0, a trim memory checksum error (or bus noise)", diag)
	}
	if err := d.reserved("shunt voltage", uint64(vshunt), 0xF, "3:0"); err != nil {
		return Reading{}, 0, err
	}
	if err := d.reserved("bus voltage", uint64(vbus), 0x80000F, "23 and 3:0"); err != nil {
		return Reading{}, 0, err
	}
	if err := d.reserved("current", uint64(current), 0xF, "3:0"); err != nil {
		return Reading{}, 0, err
	}
	// −55 °C … 150 °C in 7.8125 m°C: beyond storage and junction limits.
	if t := int16(temp); t < -7040 || t > 19200 {
		return Reading{}, 0, d.implausible("die temperature reads %04Xh (%.1f °C), beyond what the chip survives (bus noise)", temp, float64(t)*7.8125e-3)
	}
	s := sext(uint64(vshunt)>>4, 20)
	b := sext(uint64(vbus)>>4, 20)
	c := sext(uint64(current)>>4, 20)
	mathof := diag&ina228MATHOF != 0
	if !mathof && c != ina228FullScale && c != -ina228FullScale-1 {
		if err := d.curM.check(&d.regs, s, c); err != nil {
			return Reading{}, 0, err
		}
		if power != 1<<24-1 {
			if err := d.powM.check(&d.regs, uint64(power), absCode(c), uint64(b)); err != nil {
				return Reading{}, 0, err
			}
		}
	}
	sv, ok1 := d.shunt.apply(s)
	bv, ok2 := ratio{390625, 2}.apply(b) // 195.3125 µV
	i, ok3 := d.current.apply(c)
	p, ok4 := d.power.apply(int64(power))
	return Reading{
		Bus:        physic.ElectricPotential(bv),
		Shunt:      physic.ElectricPotential(sv),
		Current:    physic.ElectricCurrent(i),
		Power:      physic.Power(p),
		HasEnergy:  true,
		DieTemp:    physic.ZeroCelsius + physic.Temperature(int16(temp))*7812500*physic.NanoKelvin,
		HasDieTemp: true,
		Overflow: mathof || !ok1 || !ok2 || !ok3 || !ok4 ||
			s >= ina228FullScale || s <= -ina228FullScale-1 || b >= ina228FullScale,
	}, energy, nil
}

// Charge reads the CHARGE accumulator in nanocoulombs (positive for current
// from IN+ to IN−). overflow is CHARGEOF: the 40-bit register overflowed since
// it was last read, so the value has wrapped.
func (d *INA228) Charge() (nanocoulombs int64, overflow bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	diag, err := d.read16(ina228RegDiag, "diagnostic flags")
	if err != nil {
		return 0, false, err
	}
	raw, err := d.read40(ina228RegCharge, "charge")
	if err != nil {
		return 0, false, err
	}
	q, ok := d.current.apply(sext(raw, 40))
	return q, diag&ina228CHARGEOF != 0 || !ok, nil
}

// ResetAccumulators clears ENERGY and CHARGE (RSTACC) and the driver's count
// of energy wraps.
func (d *INA228) ResetAccumulators() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina228RegConfig, d.config|ina228RSTACC, "reset accumulators"); err != nil {
		return err
	}
	d.wraps, d.haveRaw = 0, false
	return nil
}

// Halt puts the chip in shutdown mode. The accumulators keep their value but
// stop counting. The next Sense restarts conversions and waits for a fresh
// result.
func (d *INA228) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write16(ina228RegADCConfig, d.adcConfig&0x0FFF, "shutdown"); err != nil {
		return err
	}
	d.halted = true
	return nil
}
