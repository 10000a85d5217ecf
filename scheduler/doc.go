// Package scheduler is veille's sleep policy: given the policy, what the
// agent observes and the time, it returns the state the server should be in
// (awake, disks asleep, system halted), the next planned transition and a
// reason a person can read. It is pure: no I/O, no goroutines, no time.Now —
// time is an argument, so every rule below is tested across midnight, both
// DST changes and a 1970 boot.
//
//	d, mem = scheduler.Decide(&policy, mem, scheduler.Observations{Now: clk.Now(), ...})
//	plan := scheduler.Preview(&policy, clk.Now(), 10) // what `veille schedule` prints
//
// # Windows
//
// A Window sleeps from Sleep to Wake on the Days it starts, in the policy's
// Location. When Wake is earlier than Sleep the window crosses midnight and
// ends the next day; a window belongs to the day it starts. Its Depth is
// DisksAsleep (the Pi stays up, its USB disks sleep) or SystemHalted (the Pi
// halts and its RTC wakes it at the window's end).
//
// Windows that overlap or touch form one sleep period: nothing wakes between
// them. Inside a period the deepest window started so far wins (the sleep
// only deepens), and the period ends at the latest end of its windows; so a
// disks window 22:00–07:00 with a system window 23:00–06:00 sleeps the disks
// at 22:00, halts at 23:00 and wakes at 07:00. Windows that would chain into
// a sleep of eight days or more are refused by Validate.
//
// # Exceptions
//
// An Exception covers dates From to To. On a covered date either no window
// starts (Awake) or its Windows start instead of the regular ones. Like
// windows, exceptions act on the day a window starts: a night that began
// the evening before a holiday runs to its end.
//
// # Daylight saving time
//
// Wall times are resolved on the day they are scheduled. A time that does not
// exist (skipped by the spring-forward change) resolves to the first instant
// after the gap: a 02:30 sleep in Paris on the last Sunday of March happens at
// 03:00 CEST. A time that exists twice (fall back) resolves to its first
// occurrence: a 01:30 wake in New York on the first Sunday of November happens
// at 01:30 EDT. A window is thus never skipped nor doubled; one that lies
// wholly inside a gap has no length that day.
//
// # Activity
//
// When the plan would deepen the sleep and any activity check is active, the
// server stays as it is and tries again after RetryEvery. If activity still
// holds it off GiveUpAfter after the window started (or after the end of the
// last wake for a timer inside it), the window is given up: the server keeps
// its state until the window ends, and the reason and the next transition say
// so. Activity never wakes a sleeping server; a person does that with a
// stay-awake request (button, Home Assistant). The reason names each check and
// its detail ("connections: ssh session from 192.0.2.4").
//
// # Never flapping
//
//   - After any wake (boot, RTC wake, end of a disks sleep, a manual wake) the
//     server stays awake at least MinAwake. Observations.AwakeSince carries
//     wakes the agent saw; Decide remembers the ones it decided, and treats
//     its first call after deciding SystemHalted as a wake.
//   - Observations.StayAwakeUntil is honoured: the server is awake until then,
//     and a sleeping one is woken.
//   - A watched systemd timer due inside a sleep period wakes the server
//     WakeBeforeTimers before it; the server stays awake until MinAwake (at
//     least a minute) after the timer is due, then sleeps again when no
//     activity holds it (the backup's processes are such activity). The RTC
//     wake of a system halt (Decision.WakeAt) is then the timer's wake.
//
// # Clock trust
//
// Nothing is put to sleep while Observations.ClockSynced is false (a Pi
// without RTC boots in 1970); the server may still be woken. A change of the
// wall clock larger than ClockJump, forward or back, that the monotonic clock
// (Observations.Monotonic) did not see between two calls is a jump; without a
// monotonic reading, any change between two calls larger than ClockJump is.
// The jump itself decides nothing. Holds and give-ups from before it are
// forgotten, the plan is read afresh at the new time, and nothing sleeps
// deeper than it already does for MinAwake, as after a wake. A jump may wake
// (waking is always safe) but never puts anything to sleep; a 1970 boot
// followed by the clock sync is such a jump.
package scheduler
