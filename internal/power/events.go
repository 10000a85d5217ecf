package power

import (
	"fmt"
	"time"
)

// Step names a step of a sequence.
type Step string

// The steps, in the order a sleep sequence runs them (wake runs the second
// group).
const (
	StepFind        Step = "find"
	StepStopUnit    Step = "stop-unit"
	StepSync        Step = "sync"
	StepUnmount     Step = "unmount"
	StepSpinDown    Step = "spin-down"
	StepPortCut     Step = "port-cut"
	StepConfirm     Step = "confirm" // measured drop after spin-down or cut
	StepAlarm       Step = "alarm"
	StepNotify      Step = "notify"
	StepRecord      Step = "record"
	StepPowerOff    Step = "power-off"
	StepReboot      Step = "reboot"
	StepPortRestore Step = "port-restore"
	StepWait        Step = "wait" // for the disk to come back
	StepSpinUp      Step = "spin-up"
	StepCheck       Step = "check" // filesystem check
	StepMount       Step = "mount"
	StepStartUnit   Step = "start-unit"
)

// Outcome is how a step ended.
type Outcome string

const (
	OK         Outcome = "ok"
	Failed     Outcome = "failed"
	Skipped    Outcome = "skipped"
	Warning    Outcome = "warning" // done, but something is off (no measured drop, fsck fixed errors)
	DryRun     Outcome = "dry-run" // would have run
	Undone     Outcome = "undone"
	UndoFailed Outcome = "undo-failed"
)

// Event is one step of a sequence, for logs, MQTT and Home Assistant.
type Event struct {
	Time     time.Time
	Sequence string // "disks-asleep", "disks-awake", "sleep", "shutdown", "reboot"
	Disk     string // the disk's name; "" for system steps
	Step     Step
	Outcome  Outcome
	Duration time.Duration
	Detail   string  // what exactly: the unit, the file written, the CDB, the cause
	Saving   float64 // watts saved, measured (confirm steps)
}

func (e Event) String() string {
	who := e.Disk
	if who == "" {
		who = "system"
	}
	return fmt.Sprintf("%s %s %s: %s (%s) %s", e.Sequence, who, e.Step, e.Outcome, e.Duration, e.Detail)
}

// StepError is the error of a failed step.
type StepError struct {
	Sequence string
	Disk     string
	Step     Step
	Err      error
}

func (e *StepError) Error() string {
	if e.Disk == "" {
		return fmt.Sprintf("%s: %s: %v", e.Sequence, e.Step, e.Err)
	}
	return fmt.Sprintf("%s: disk %s: %s: %v", e.Sequence, e.Disk, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
