package telemetry

import (
	"fmt"
	"strings"
)

// Version is the schema version written in every frame (key 0). A decoder
// refuses other versions: a new version means a change of meaning, while
// additions within a version only add keys, which older decoders skip.
const Version = 1

// Limits a frame must respect; Decode enforces them on untrusted input and
// Encode on frames built by hand.
const (
	MaxFrameBytes = 64 << 10 // encoded size
	MaxSamples    = 1024     // samples per frame
	MaxChannels   = 32       // channels per frame
	MaxDisks      = 32       // disks in the status
)

// Frame is one telemetry message: Count samples of every channel plus the
// node's status at the end of the frame.
type Frame struct {
	Run      uint32  // identifies one run of the agent; Seq restarts with it
	Seq      uint32  // frame number within the run, +1 per frame
	Start    int64   // time of sample 0, Unix milliseconds
	Interval uint32  // nominal time between samples, ms (≥ 1)
	Count    int     // samples per channel
	Offsets  []int32 // nil, or per-sample deviation from Start+i*Interval, ms
	Channels []Channel
	Status   Status
}

// SampleTime returns the Unix millisecond time of sample i.
func (f *Frame) SampleTime(i int) int64 {
	t := f.Start + int64(i)*int64(f.Interval)
	if f.Offsets != nil && i < len(f.Offsets) {
		t += int64(f.Offsets[i])
	}
	return t
}

// Channel is one measured rail in a frame.
type Channel struct {
	ID      uint16   // stable channel number, named in the meta topic
	Samples []Sample // Count samples
	// EnergyMilliWh is the lifetime energy counter at the end of the frame.
	// It never decreases within a run (the Batcher enforces it).
	EnergyMilliWh uint64
	Flags         ChannelFlags
}

// Sample is one reading of a channel in wire units.
type Sample struct {
	MilliVolts int32 // bus voltage
	MilliAmps  int32 // current through the shunt, signed
	MilliWatts int32 // power as computed by the chip (or V×I where it has none)
	OK         bool  // false: the channel could not be read for this sample
}

// ChannelFlags describe a channel's health during a frame.
type ChannelFlags uint8

const (
	// ChannelUnavailable: the channel's sensor did not answer at the end of
	// the frame (missing chip, bus error).
	ChannelUnavailable ChannelFlags = 1 << iota
	// ChannelOverflow: at least one sample of the frame saturated the chip's
	// range (math overflow), so its values are clipped.
	ChannelOverflow
)

func (c ChannelFlags) String() string {
	var s []string
	if c&ChannelUnavailable != 0 {
		s = append(s, "unavailable")
	}
	if c&ChannelOverflow != 0 {
		s = append(s, "overflow")
	}
	if rest := c &^ (ChannelUnavailable | ChannelOverflow); rest != 0 {
		s = append(s, fmt.Sprintf("0x%02x", uint8(rest)))
	}
	return strings.Join(s, "|")
}

// Status is the node's state at the end of a frame.
type Status struct {
	SoCTemp    int32 // SoC temperature, deci-°C; valid when HasSoCTemp
	HasSoCTemp bool
	// Throttled holds the firmware's throttling bits as reported by
	// `vcgencmd get_throttled` (see ThrottledFlags).
	Throttled uint32
	Scheduler SchedulerState
	// Disks are in the order of the meta topic's disk list.
	Disks []DiskState
}

// SchedulerState is the scheduler's situation as the stream reports it.
type SchedulerState uint8

const (
	SchedulerUnknown     SchedulerState = iota // not reported
	SchedulerDisabled                          // schedule switched off: always awake
	SchedulerAwake                             // outside any sleep window
	SchedulerHeld                              // in a window, kept awake (activity, stay-awake, just woke)
	SchedulerDisksAsleep                       // disks spun down or powered off, Pi running
	SchedulerHalting                           // going down for a scheduled halt
)

var schedulerNames = [...]string{"unknown", "disabled", "awake", "held", "disks_asleep", "halting"}

func (s SchedulerState) String() string {
	if int(s) < len(schedulerNames) {
		return schedulerNames[s]
	}
	return fmt.Sprintf("scheduler(%d)", uint8(s))
}

// DiskState is the power state of one disk.
type DiskState uint8

const (
	DiskUnknown DiskState = iota
	DiskActive            // spinning (or an SSD that is powered)
	DiskStandby           // spun down, still powered
	DiskOff               // its USB port is powered off
)

var diskNames = [...]string{"unknown", "active", "standby", "off"}

func (d DiskState) String() string {
	if int(d) < len(diskNames) {
		return diskNames[d]
	}
	return fmt.Sprintf("disk(%d)", uint8(d))
}

// Throttling bits of the Raspberry Pi firmware (vcgencmd get_throttled).
const (
	ThrottledUnderVoltage        uint32 = 1 << 0
	ThrottledFreqCapped          uint32 = 1 << 1
	ThrottledNow                 uint32 = 1 << 2
	ThrottledSoftTempLimit       uint32 = 1 << 3
	ThrottledUnderVoltageSeen    uint32 = 1 << 16
	ThrottledFreqCappedSeen      uint32 = 1 << 17
	ThrottledSeen                uint32 = 1 << 18
	ThrottledSoftTempLimitSeen   uint32 = 1 << 19
	throttledKnown                      = 0xf000f
	throttledCurrentConditions          = 0xf
	throttledSinceBootConditions        = 0xf0000
)

// ThrottledFlags names the bits set in v, current conditions first.
func ThrottledFlags(v uint32) []string {
	names := []struct {
		bit  uint32
		name string
	}{
		{ThrottledUnderVoltage, "under_voltage"},
		{ThrottledFreqCapped, "freq_capped"},
		{ThrottledNow, "throttled"},
		{ThrottledSoftTempLimit, "soft_temp_limit"},
		{ThrottledUnderVoltageSeen, "under_voltage_occurred"},
		{ThrottledFreqCappedSeen, "freq_capped_occurred"},
		{ThrottledSeen, "throttled_occurred"},
		{ThrottledSoftTempLimitSeen, "soft_temp_limit_occurred"},
	}
	var out []string
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if rest := v &^ throttledKnown; rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", rest))
	}
	return out
}

// validate checks the structural rules shared by Encode and Decode.
func (f *Frame) validate() error {
	switch {
	case f.Count < 1 || f.Count > MaxSamples:
		return fmt.Errorf("frame seq %d: %d samples, want 1..%d", f.Seq, f.Count, MaxSamples)
	case f.Interval == 0:
		return fmt.Errorf("frame seq %d: zero sample interval", f.Seq)
	case f.Offsets != nil && len(f.Offsets) != f.Count:
		return fmt.Errorf("frame seq %d: %d time offsets for %d samples", f.Seq, len(f.Offsets), f.Count)
	case f.Offsets != nil && f.Offsets[0] != 0:
		return fmt.Errorf("frame seq %d: first time offset is %d, must be 0", f.Seq, f.Offsets[0])
	case len(f.Channels) > MaxChannels:
		return fmt.Errorf("frame seq %d: %d channels, max %d", f.Seq, len(f.Channels), MaxChannels)
	case len(f.Status.Disks) > MaxDisks:
		return fmt.Errorf("frame seq %d: %d disks, max %d", f.Seq, len(f.Status.Disks), MaxDisks)
	}
	for i := range f.Channels {
		c := &f.Channels[i]
		if len(c.Samples) != f.Count {
			return fmt.Errorf("frame seq %d: channel %d has %d samples, want %d", f.Seq, c.ID, len(c.Samples), f.Count)
		}
		for j := range i {
			if f.Channels[j].ID == c.ID {
				return fmt.Errorf("frame seq %d: channel %d appears twice", f.Seq, c.ID)
			}
		}
	}
	return nil
}
