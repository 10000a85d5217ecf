package homeassistant

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Command names: the last level of <prefix>/<node>/cmd/<name>. This is the
// whole vocabulary; nothing else is accepted and no command runs a program.
const (
	CmdSleepNow   = "sleep_now"   // PRESS: sleep now as the schedule would (disks, then the Pi if allowed)
	CmdSleepDisks = "sleep_disks" // PRESS: spin down / power off the disks, keep the Pi up
	CmdWakeDisks  = "wake_disks"  // PRESS: bring the disks back (power, spin up, remount, restart units)
	CmdReboot     = "reboot"      // PRESS: reboot through logind
	CmdShutdown   = "shutdown"    // PRESS: power off through logind (no wake alarm is armed)
	CmdSchedule   = "schedule"    // ON / OFF: enable or disable the sleep schedule
	CmdStayAwake  = "stay_awake"  // hours 0..MaxStayAwakeHours: hold sleep off; 0 cancels
	CmdRefresh    = "refresh"     // PRESS: publish discovery and state again
)

// MaxStayAwakeHours bounds the stay_awake number.
const MaxStayAwakeHours = 72

// MaxCommandPayload bounds a command's payload in bytes.
const MaxCommandPayload = 32

// Command is a parsed, valid command.
type Command struct {
	Name string
	// On is the schedule switch's new position (CmdSchedule).
	On bool
	// StayAwake is how long to hold sleep off (CmdStayAwake), whole minutes.
	StayAwake time.Duration
}

func (c Command) String() string {
	switch c.Name {
	case CmdSchedule:
		if c.On {
			return "schedule ON"
		}
		return "schedule OFF"
	case CmdStayAwake:
		return "stay_awake " + c.StayAwake.String()
	}
	return c.Name
}

// ErrCommand is wrapped by every refusal of ParseCommand.
var ErrCommand = errors.New("command refused")

var buttons = map[string]bool{
	CmdSleepNow: true, CmdSleepDisks: true, CmdWakeDisks: true,
	CmdReboot: true, CmdShutdown: true, CmdRefresh: true,
}

// CommandNames lists the vocabulary (for docs and discovery).
func CommandNames() []string {
	return []string{CmdSleepNow, CmdSleepDisks, CmdWakeDisks, CmdReboot, CmdShutdown, CmdSchedule, CmdStayAwake, CmdRefresh}
}

// ParseCommand checks that topic is <prefix>/<node>/cmd/<name> for a known
// name and that payload is what that command takes. Anything else is an
// error wrapping ErrCommand that says why.
func ParseCommand(prefix, node, topic string, payload []byte) (Command, error) {
	base := prefix + "/" + node + "/cmd/"
	name, ok := strings.CutPrefix(topic, base)
	if !ok || prefix == "" || node == "" {
		return Command{}, fmt.Errorf("%w: topic is not under %s", ErrCommand, base)
	}
	if len(payload) > MaxCommandPayload {
		return Command{}, fmt.Errorf("%w: payload of %d bytes, max %d", ErrCommand, len(payload), MaxCommandPayload)
	}
	if !utf8.Valid(payload) {
		return Command{}, fmt.Errorf("%w: payload is not UTF-8 text", ErrCommand)
	}
	p := strings.TrimSpace(string(payload))
	switch {
	case buttons[name]:
		if !strings.EqualFold(p, "PRESS") {
			return Command{}, fmt.Errorf("%w: %s takes PRESS, got %q", ErrCommand, name, p)
		}
		return Command{Name: name}, nil
	case name == CmdSchedule:
		switch strings.ToUpper(p) {
		case "ON":
			return Command{Name: name, On: true}, nil
		case "OFF":
			return Command{Name: name, On: false}, nil
		}
		return Command{}, fmt.Errorf("%w: schedule takes ON or OFF, got %q", ErrCommand, p)
	case name == CmdStayAwake:
		h, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(h) || h < 0 || h > MaxStayAwakeHours {
			return Command{}, fmt.Errorf("%w: stay_awake takes hours 0..%d, got %q", ErrCommand, MaxStayAwakeHours, p)
		}
		return Command{Name: name, StayAwake: time.Duration(math.Round(h*60)) * time.Minute}, nil
	}
	if len(name) > 40 {
		name = name[:40] + "…"
	}
	return Command{}, fmt.Errorf("%w: unknown command %q", ErrCommand, name)
}
