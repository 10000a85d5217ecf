package homeassistant

import (
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"

	"github.com/veille/veille/internal/telemetry"
)

// Button presses, the event entity's event types.
const (
	PressShort  = "short"
	PressLong   = "long"
	PressDouble = "double"
)

// State is what the agent knows now; the Reporter turns it into the JSON
// state the entities read.
type State struct {
	// Channels are in the order of Options.Channels.
	Channels   []ChannelState
	SoCTemp    float64 // °C; valid when HasSoCTemp
	HasSoCTemp bool
	Throttled  uint32 // vcgencmd get_throttled bits
	// Disks are in the order of Options.Disks.
	Disks           []telemetry.DiskState
	Scheduler       telemetry.SchedulerState
	Reason          string // why the scheduler is where it is, for people
	ScheduleEnabled bool
	StayAwake       time.Duration // remaining stay-awake time, 0 if none
	SavedMilliWh    uint64        // energy saved by sleeping, lifetime
	CO2eGrams       uint64        // CO2e avoided, lifetime
}

// ChannelState is one rail's latest reading.
type ChannelState struct {
	MilliVolts    int32
	MilliAmps     int32
	MilliWatts    int32
	EnergyMilliWh uint64 // lifetime counter
	// TodayMilliWh is the energy since local midnight: it starts again at
	// zero every day (Home Assistant's total_increasing takes that as a
	// new cycle).
	TodayMilliWh uint64
	OK           bool // false: unreadable; its V/A/W are null
}

// Schedule is the retained next sleep and wake, readable while the Pi is off.
type Schedule struct {
	NextSleep time.Time // zero: none planned
	NextWake  time.Time
	Window    string
}

type channelJSON struct {
	V        *float64 `json:"v"`
	A        *float64 `json:"a"`
	W        *float64 `json:"w"`
	KWh      float64  `json:"kwh"`
	TodayKWh float64  `json:"today_kwh"`
}

type stateJSON struct {
	Ch              map[string]channelJSON `json:"ch"`
	SoCTemp         *float64               `json:"soc_temp"`
	Throttled       bool                   `json:"throttled"`
	ThrottledFlags  []string               `json:"throttled_flags"`
	Disks           map[string]string      `json:"disks"`
	Scheduler       string                 `json:"scheduler"`
	Reason          string                 `json:"reason"`
	ScheduleEnabled bool                   `json:"schedule_enabled"`
	StayAwakeH      float64                `json:"stay_awake_h"`
	SavedKWh        float64                `json:"saved_kwh"`
	CO2eKg          float64                `json:"co2e_kg"`
}

// maxStateLen is the longest state Home Assistant accepts for an entity (the
// reason is a sensor's state): a longer one is refused with an error and the
// sensor shows nothing.
const maxStateLen = 255

// clip cuts s to at most n characters, ending with "…" when it was cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func scaled(v int64, div float64) *float64 {
	f := float64(v) / div
	return &f
}

// stateJSON renders s. Energy values come from unsigned counters, so they
// are never negative; the Reporter also keeps them from going backwards.
func (r *Reporter) stateJSON(s State) ([]byte, error) {
	out := stateJSON{
		Ch:              make(map[string]channelJSON, len(r.opts.Channels)),
		Throttled:       s.Throttled&0xf != 0, // a current condition, not "since boot"
		ThrottledFlags:  telemetry.ThrottledFlags(s.Throttled),
		Disks:           make(map[string]string, len(r.opts.Disks)),
		Scheduler:       s.Scheduler.String(),
		Reason:          clip(s.Reason, maxStateLen),
		ScheduleEnabled: s.ScheduleEnabled,
		StayAwakeH:      math.Round(s.StayAwake.Hours()*100) / 100,
		SavedKWh:        float64(s.SavedMilliWh) / 1e6,
		CO2eKg:          float64(s.CO2eGrams) / 1e3,
	}
	if out.ThrottledFlags == nil {
		out.ThrottledFlags = []string{}
	}
	if s.HasSoCTemp {
		t := math.Round(s.SoCTemp*10) / 10
		out.SoCTemp = &t
	}
	for i, c := range r.opts.Channels {
		var cs ChannelState
		if i < len(s.Channels) {
			cs = s.Channels[i]
		}
		cj := channelJSON{KWh: float64(cs.EnergyMilliWh) / 1e6, TodayKWh: float64(cs.TodayMilliWh) / 1e6}
		if cs.OK {
			cj.V = scaled(int64(cs.MilliVolts), 1e3)
			cj.A = scaled(int64(cs.MilliAmps), 1e3)
			cj.W = scaled(int64(cs.MilliWatts), 1e3)
		}
		out.Ch[c.Key] = cj
	}
	for i, d := range r.opts.Disks {
		st := telemetry.DiskUnknown
		if i < len(s.Disks) {
			st = s.Disks[i]
		}
		out.Disks[d.Key] = st.String()
	}
	return json.Marshal(out)
}

type scheduleJSON struct {
	NextSleep *string `json:"next_sleep"`
	NextWake  *string `json:"next_wake"`
	Window    string  `json:"window,omitempty"`
}

func scheduleJSONOf(s Schedule) ([]byte, error) {
	var out scheduleJSON
	if !s.NextSleep.IsZero() {
		v := s.NextSleep.Format(time.RFC3339)
		out.NextSleep = &v
	}
	if !s.NextWake.IsZero() {
		v := s.NextWake.Format(time.RFC3339)
		out.NextWake = &v
	}
	out.Window = s.Window
	return json.Marshal(out)
}

// Thresholds define a significant change: one that is published at once
// rather than at the next StateInterval.
type Thresholds struct {
	// A channel's power changed by at least max(PowerW, PowerRatio × old).
	PowerW     float64 // default 0.5 W
	PowerRatio float64 // default 0.2
	// The SoC temperature changed by at least TempC.
	TempC float64 // default 3 °C
}

// significant reports whether next differs from prev enough to publish now.
// Any change of a discrete value (disk, scheduler, reason, switches, channel
// availability, throttling) is significant; energy counters alone are not.
func (th Thresholds) significant(prev, next State) bool {
	if prev.Scheduler != next.Scheduler || prev.Reason != next.Reason || prev.ScheduleEnabled != next.ScheduleEnabled ||
		prev.Throttled != next.Throttled || prev.HasSoCTemp != next.HasSoCTemp ||
		prev.StayAwake.Round(time.Minute*6) != next.StayAwake.Round(time.Minute*6) ||
		len(prev.Disks) != len(next.Disks) || len(prev.Channels) != len(next.Channels) {
		return true
	}
	for i := range prev.Disks {
		if prev.Disks[i] != next.Disks[i] {
			return true
		}
	}
	for i := range prev.Channels {
		p, n := prev.Channels[i], next.Channels[i]
		if p.OK != n.OK {
			return true
		}
		old := math.Abs(float64(p.MilliWatts)) / 1e3
		if math.Abs(float64(int64(n.MilliWatts)-int64(p.MilliWatts)))/1e3 >= math.Max(th.PowerW, th.PowerRatio*old) {
			return true
		}
	}
	return next.HasSoCTemp && math.Abs(next.SoCTemp-prev.SoCTemp) >= th.TempC
}
