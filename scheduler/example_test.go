package scheduler_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/veille/veille/scheduler"
)

func ExamplePreview() {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	p := scheduler.DefaultPolicy()
	p.Location = paris
	p.Windows = []scheduler.Window{
		{Name: "night", Sleep: scheduler.TimeOfDay{Hour: 23, Minute: 30}, Wake: scheduler.TimeOfDay{Hour: 7}, Depth: scheduler.SystemHalted},
	}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	// What `veille schedule` prints: one JSON object a line.
	enc := json.NewEncoder(os.Stdout)
	for _, tr := range scheduler.Preview(&p, time.Date(2026, 12, 1, 12, 0, 0, 0, paris), 2) {
		if err := enc.Encode(tr); err != nil {
			panic(err)
		}
	}
	// Output:
	// {"time":"2026-12-01T23:30:00+01:00","state":"system","window":"night","reason":"window night: system halt until Wed 07:00"}
	// {"time":"2026-12-02T07:00:00+01:00","state":"awake","window":"night","reason":"window night ends"}
}

func ExampleDecide() {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	p := scheduler.DefaultPolicy()
	p.Location = paris
	p.Windows = []scheduler.Window{
		{Name: "night", Sleep: scheduler.TimeOfDay{Hour: 23, Minute: 30}, Wake: scheduler.TimeOfDay{Hour: 7}, Depth: scheduler.SystemHalted},
	}
	var mem scheduler.Memory
	d, mem := scheduler.Decide(&p, mem, scheduler.Observations{
		Now:         time.Date(2026, 12, 1, 23, 30, 0, 0, paris),
		ClockSynced: true,
		Active:      []scheduler.Activity{{Check: "connections", Detail: "ssh session from 192.0.2.4"}},
	})
	fmt.Println(d.State, "-", d.Reason)
	d, _ = scheduler.Decide(&p, mem, scheduler.Observations{Now: d.RetryAt, ClockSynced: true})
	fmt.Println(d.State, "-", d.Reason, "- wake at", d.WakeAt.Format("15:04"))
	// Output:
	// awake - window night postponed: connections: ssh session from 192.0.2.4; retry at 23:35, give up at Wed 01:30
	// system - window night: system halt until Wed 07:00 - wake at 07:00
}
