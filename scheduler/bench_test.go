package scheduler

import (
	"testing"
	"time"
)

// Decide runs every minute on a Pi; it should stay well under a millisecond.
func BenchmarkDecide(b *testing.B) {
	paris := mustLoad(b, "Europe/Paris")
	p := testPolicy(paris,
		Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted},
		Window{Name: "day", Days: DaysOf(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday), Sleep: TimeOfDay{9, 0}, Wake: TimeOfDay{17, 0}, Depth: DisksAsleep})
	now := at(b, paris, "2026-12-01 23:40")
	o := Observations{Now: now, ClockSynced: true, Timers: []Timer{{Name: "backup.timer", Next: now.Add(3 * time.Hour)}}}
	var mem Memory
	for b.Loop() {
		Decide(p, mem, o)
	}
}

func BenchmarkPreview(b *testing.B) {
	paris := mustLoad(b, "Europe/Paris")
	p := testPolicy(paris, Window{Name: "night", Sleep: TimeOfDay{23, 30}, Wake: TimeOfDay{7, 0}, Depth: SystemHalted})
	from := at(b, paris, "2026-12-01 12:00")
	for b.Loop() {
		Preview(p, from, 14)
	}
}
