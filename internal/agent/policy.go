package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/scheduler"
)

// Policy translates the [schedule] section into the scheduler's policy. The
// config package has already checked every value; what remains are rules
// only the scheduler knows (windows chaining into a week-long sleep), which
// come back as problems at the schedule's line.
func Policy(c *config.Config) (*scheduler.Policy, error) {
	s := &c.Schedule
	loc, err := s.Location()
	if err != nil {
		return nil, c.Problem("schedule.timezone", "%v", err)
	}
	p := scheduler.DefaultPolicy()
	p.Enabled = s.Enabled
	p.Location = loc
	p.MinAwake = s.MinAwake.D()
	p.RetryEvery = s.RetryEvery.D()
	p.GiveUpAfter = s.GiveUpAfter.D()
	p.WakeBeforeTimers = s.WakeBeforeTimers.D()
	if len(s.Timers) == 0 {
		p.WakeBeforeTimers = 0
	}
	for i, w := range s.Windows {
		win, err := window(w.Name, w.Days, w.Sleep, w.Wake, w.Depth)
		if err != nil {
			return nil, c.Problem(fmt.Sprintf("schedule.window[%d]", i), "%v", err)
		}
		p.Windows = append(p.Windows, win)
	}
	for i, e := range s.Exceptions {
		ex := scheduler.Exception{
			Name:  e.Name,
			From:  scheduler.Date{Year: e.Date.Year, Month: e.Date.Month, Day: e.Date.Day},
			Awake: e.Mode == "awake",
		}
		if !e.Until.IsZero() {
			ex.To = scheduler.Date{Year: e.Until.Year, Month: e.Until.Month, Day: e.Until.Day}
		}
		if e.Mode == "sleep" {
			name := e.Name
			if name == "" {
				name = fmt.Sprintf("exception-%d", i+1)
			}
			win, err := window(name, []string{"daily"}, e.Sleep, e.Wake, e.Depth)
			if err != nil {
				return nil, c.Problem(fmt.Sprintf("schedule.exception[%d]", i), "%v", err)
			}
			ex.Windows = []scheduler.Window{win}
		}
		p.Exceptions = append(p.Exceptions, ex)
	}
	if err := p.Validate(); err != nil {
		return nil, c.Problem("schedule", "%v", err)
	}
	return &p, nil
}

func window(name string, days []string, sleep, wake config.TimeOfDay, depth string) (scheduler.Window, error) {
	set, err := config.ParseDays(days)
	if err != nil {
		return scheduler.Window{}, err
	}
	var wd []time.Weekday
	for d, on := range set {
		if on {
			wd = append(wd, time.Weekday(d))
		}
	}
	dep, err := scheduler.ParseDepth(depth)
	if err != nil {
		return scheduler.Window{}, err
	}
	if dep == scheduler.Awake {
		return scheduler.Window{}, errors.New("a window's depth is disks or system")
	}
	return scheduler.Window{
		Name:  name,
		Days:  scheduler.DaysOf(wd...),
		Sleep: scheduler.TimeOfDay{Hour: sleep.Hour, Minute: sleep.Minute},
		Wake:  scheduler.TimeOfDay{Hour: wake.Hour, Minute: wake.Minute},
		Depth: dep,
	}, nil
}
