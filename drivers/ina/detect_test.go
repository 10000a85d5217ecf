package ina

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestDetect(t *testing.T) {
	// Reading an unimplemented pointer returns whatever the chip drives;
	// 0000h stands for "not an ID" here.
	tests := []struct {
		name string
		ops  []i2ctest.IO
		want Chip
	}{
		{"ina228", []i2ctest.IO{r16(0x40, 0x3E, 0x5449), r16(0x40, 0x3F, 0x2281)}, ChipINA228},
		{"ina226", []i2ctest.IO{r16(0x40, 0x3E, 0), r16(0x40, 0xFE, 0x5449), r16(0x40, 0xFF, 0x2260)}, ChipINA226},
		{"ina260", []i2ctest.IO{r16(0x40, 0x3E, 0), r16(0x40, 0xFE, 0x5449), r16(0x40, 0xFF, 0x2270)}, ChipINA260},
		{"ina260 rev 3", []i2ctest.IO{r16(0x40, 0x3E, 0), r16(0x40, 0xFE, 0x5449), r16(0x40, 0xFF, 0x2273)}, ChipINA260},
		{"ina3221", []i2ctest.IO{r16(0x40, 0x3E, 0), r16(0x40, 0xFE, 0x5449), r16(0x40, 0xFF, 0x3220)}, ChipINA3221},
		// A TI part at 3Eh that is not an INA228 (INA238: 238xh) falls
		// through to FEh/FFh.
		{"ina238 is not ina228", []i2ctest.IO{r16(0x40, 0x3E, 0x5449), r16(0x40, 0x3F, 0x2381), r16(0x40, 0xFE, 0x5449), r16(0x40, 0xFF, 0x2260)}, ChipINA226},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(playback(t, tt.ops...), 0x40)
			if err != nil || got != tt.want {
				t.Errorf("Detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDetectUnidentifiedWritesNothing(t *testing.T) {
	// An INA219 (or anything else) without IDs: Detect only reads. A write
	// would not match the transcript.
	bus := playback(t, r16(0x41, 0x3E, 0x399F), r16(0x41, 0xFE, 0x0000), r16(0x41, 0xFF, 0x0000))
	c, err := Detect(bus, 0x41)
	if !errors.Is(err, ErrNotIdentified) || c != "" {
		t.Fatalf("Detect = %q, %v; want ErrNotIdentified", c, err)
	}
	wantErrContains(t, err, "detect 0x41 on playback", "FEh=0000h")
}

func TestDetectResetINA219(t *testing.T) {
	unknown := []i2ctest.IO{r16(0x40, 0x3E, 0), r16(0x40, 0xFE, 0), r16(0x40, 0xFF, 0)}
	bus := playback(t, append(unknown[:3:3],
		w16(0x40, 0x00, 0x8000), // RST
		r16(0x40, 0x00, 0x399F), // INA219 power-on configuration
	)...)
	if c, err := DetectReset(bus, 0x40); c != ChipINA219 || err != nil {
		t.Errorf("DetectReset = %q, %v; want ina219", c, err)
	}

	// Something else: the configuration after the write is not 399Fh.
	bus = playback(t, append(unknown[:3:3], w16(0x40, 0x00, 0x8000), r16(0x40, 0x00, 0x0000))...)
	c, err := DetectReset(bus, 0x40)
	if c != "" || !errors.Is(err, ErrNotIdentified) {
		t.Errorf("DetectReset = %q, %v; want ErrNotIdentified", c, err)
	}

	// A chip with IDs is never written to.
	bus = playback(t, r16(0x40, 0x3E, 0x5449), r16(0x40, 0x3F, 0x2281))
	if c, err := DetectReset(bus, 0x40); c != ChipINA228 || err != nil {
		t.Errorf("DetectReset = %q, %v; want ina228", c, err)
	}
}

func TestDetectBusError(t *testing.T) {
	bus := &faultBus{Playback: &i2ctest.Playback{DontPanic: true}, failAt: 0, err: syscall.EREMOTEIO}
	_, err := Detect(bus, 0x4A)
	if !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("error %v does not wrap EREMOTEIO", err)
	}
	wantErrContains(t, err, "detect 0x4a on playback: read manufacturer ID (3Eh): ")
}

func TestScan(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		// 0x40: INA228.
		r16(0x40, 0x3E, 0x5449), r16(0x40, 0x3F, 0x2281),
		// 0x41: INA3221.
		r16(0x41, 0x3E, 0), r16(0x41, 0xFE, 0x5449), r16(0x41, 0xFF, 0x3220),
		// 0x44: no ID (INA219?).
		r16(0x44, 0x3E, 0x0000), r16(0x44, 0xFE, 0x0000), r16(0x44, 0xFF, 0x0000),
		// 0x45: answers, then its FEh read fails (see faultBus below).
		r16(0x45, 0x3E, 0x0000),
		// 0x4F: INA226.
		r16(0x4F, 0x3E, 0), r16(0x4F, 0xFE, 0x5449), r16(0x4F, 0xFF, 0x2260),
	}}
	present := map[uint16]bool{0x40: true, 0x41: true, 0x44: true, 0x45: true, 0x4F: true}
	bus := &faultBus{Playback: pb, failAt: 9, err: syscall.EIO}
	found, err := Scan(&sparseBus{Bus: bus, present: present}, nil)
	want := []Found{{0x40, ChipINA228}, {0x41, ChipINA3221}, {0x44, ""}, {0x4F, ChipINA226}}
	if !slices.Equal(found, want) {
		t.Errorf("Scan = %v, want %v", found, want)
	}
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("Scan error %v does not wrap the 0x45 EIO", err)
	}
	wantErrContains(t, err, "detect 0x45")
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
	if got := want[2].String() + "; " + want[0].String(); got != "0x44: unidentified; 0x40: ina228" {
		t.Errorf("Found.String: %q", got)
	}
}

func TestScanEmptyBus(t *testing.T) {
	found, err := Scan(&sparseBus{Bus: &i2ctest.Playback{DontPanic: true}}, nil)
	if len(found) != 0 || err != nil {
		t.Errorf("Scan = %v, %v; want nothing", found, err)
	}
}
