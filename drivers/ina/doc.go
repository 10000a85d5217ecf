// Package ina drives Texas Instruments INA2xx current, voltage and power
// monitors over I²C: INA219, INA226 (and the register-compatible INA230 and
// INA231), INA260, INA3221 and INA228.
//
// One package holds the whole family so that the agent can pick a driver from
// a chip name in its configuration (New) or from what answers on the bus
// (Detect, Scan). Every chip has its own file and its own concrete type, and
// all of them implement Dev. Readings travel as periph physic types in a
// caller-owned []Reading, so steady-state Sense does not allocate.
//
// # Datasheets
//
//   - INA219: "INA219 Zerø-Drift, Bidirectional Current/Power Monitor With
//     I²C Interface", TI SBOS448.
//   - INA226: "INA226 High-Side or Low-Side Measurement, Bi-Directional
//     Current and Power Monitor with I²C Compatible Interface", TI SBOS547.
//     INA230 (SBOS601) and INA231 share its register map but have
//     no ID registers.
//   - INA260: "INA260 Precision Digital Current and Power Monitor With
//     Low-Drift, Precision Integrated Shunt", TI SBOS656.
//   - INA3221: "INA3221 Triple-Channel, High-Side Measurement, Shunt and Bus
//     Voltage Monitor with I²C- and SMBUS-Compatible Interface", TI SBOS576.
//   - INA228: "INA228 85-V, 20-Bit, Ultra-Precise Power/Energy/Charge Monitor
//     With I²C Interface", TI SBOSA20 / SLYS021.
//
// # Calibration
//
// The chips with a current register compute current and power on-chip from the
// shunt voltage and a calibration value written by the driver. The driver
// derives it from Opts.Shunt (R) and Opts.MaxCurrent (Imax), or from an
// explicit Opts.CurrentLSB:
//
//	INA219:  Current_LSB ≥ Imax/2^15   CAL = trunc(0.04096 / (Current_LSB·R))   (bit 0 always 0)
//	         Power_LSB = 20·Current_LSB
//	INA226:  Current_LSB ≥ Imax/2^15   CAL = trunc(0.00512 / (Current_LSB·R))   (15 bits)
//	         Power_LSB = 25·Current_LSB
//	INA228:  Current_LSB ≥ Imax/2^19   SHUNT_CAL = 13107.2·10^6·Current_LSB·R   (15 bits)
//	         ×4 when ADCRANGE=1 (±40.96 mV)
//	         Power_LSB = 3.2·Current_LSB, Energy_LSB = 16·Power_LSB, Charge_LSB = Current_LSB
//
// When Current_LSB is derived from MaxCurrent, the driver picks the finest LSB
// the integer register allows at or above the datasheet's Imax/2^15
// (INA228: Imax/2^19). Whatever the choice, the
// register holds an integer, so the driver converts readings with the LSB that
// the written integer really implies (e.g. 0.00512/(CAL·R)), exactly, in
// integer arithmetic. The datasheet examples hold: INA226 with 2 mΩ and a
// 1 mA LSB gives CAL = 2560 and reads 4792 power counts as 119.8 W; INA228
// with 15 mΩ and 10 A gives SHUNT_CAL = 3750.
//
// The INA260 has an internal 2 mΩ shunt and fixed LSBs (1.25 mA, 1.25 mV,
// 10 mW); it has no calibration register. The INA3221 has no current or power
// registers at all: the driver computes I = Vshunt/R and P = Vbus·|I| per
// channel (a magnitude, like the other chips' power registers).
//
// # Overflow
//
// Reading.Overflow reports what the chip itself says is out of range: the
// math-overflow flag (INA219 OVF in the bus voltage register — an overflow of
// the current or power calculation, not of the bus voltage; INA226/INA260 OVF
// in Mask/Enable; INA228 MATHOF), or a shunt or bus ADC code at its full-scale
// limit. The readings are returned as the chip reported them, never clamped
// (the one exception, flagged too: an INA228 energy total past the range of
// physic.Energy, about 2.5 MWh, reads as its maximum).
//
// # Plausibility
//
// A noisy bus (long wires, a marginal pull-up) returns bytes that decode to
// any reading, and a chip that browned out comes back with its power-on
// configuration and no calibration. Sense refuses such readings with an
// error wrapping ErrImplausible that says what was wrong; the caller opens
// the chip again, which writes its settings back. The checks cost one
// 2-byte read per Sense and allocate nothing:
//
//   - a setting read back: the configuration (INA228: ADC_CONFIG), or the
//     calibration of an INA219 or INA226 whose configuration is the
//     power-on value (a reset would not show there);
//   - reserved bits that read 0 and fixed bits (INA226 configuration bits
//     14:12 = 100b, INA260 110b; the sign extension of the INA219's shunt
//     voltage; bits 2:0 of the INA3221's results, bits 3:0 of the INA228's,
//     the INA228's VBUS sign, DIAG_ALRT bit 8 and MEMSTAT);
//   - the chip's own arithmetic: current = shunt·CAL/2048 (INA219: /4096;
//     INA228: VSHUNT·4096/SHUNT_CAL), and power = |current|·bus/20000
//     (INA219 5000, INA260 6400, INA228 16384) within its truncations. The
//     INA219, INA226 and INA260 average per-conversion powers, which differ
//     from the product of the averaged current and bus voltage while the
//     load changes: the bounds for averaged results hold
//     for any rail switched on or off within the window and for a supply
//     sagging by up to half, not for the inrush of a rail switched on;
//   - the INA228's die temperature within what the chip survives, and an
//     ENERGYOF counted as a wrap only when ENERGY went below its last value.
//
// The checks are skipped where the chip flags an overflow or a register is
// at its limit (the relations do not hold there). After a failed check Sense
// reads the registers once more, so one corrupted transfer costs a re-read.
//
// # Timing
//
// Each chip averages a number of conversions into one result. TimingFor picks
// the averaging count and conversion time so that one result covers the
// sampling interval (update period = (VBUSCT+VSHCT)·AVG on the INA226 family,
// ×channels on the INA3221, (VBUSCT+VSHCT+VTCT)·AVG on the INA228, whose
// die temperature conversion is kept at its 50 µs minimum); then a
// burst of current between two samples still lands in the next reading.
// When the interval is longer than the chip's longest window, ReadStep
// splits it into steps the chip can cover: read it every step.
//
// # Identification
//
// Detect reads the ID registers (0x3E/0x3F for the INA228, then 0xFE/0xFF for
// the INA226, INA260 and INA3221) and never writes a register. The INA219,
// INA230 and INA231 have no ID registers; DetectReset adds the INA219 check
// (write RST, expect the 399Fh power-on configuration), which must only be
// used where nothing else lives at the address.
package ina
