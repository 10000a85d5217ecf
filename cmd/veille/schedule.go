package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/scheduler"
)

func cmdSchedule(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("schedule", "--config FILE [--from TIME] [--count N]", `
Preview the sleep plan of a configuration: the next transitions (time, state,
window, reason), one JSON object per line, as if nothing kept the server busy.
TIME is RFC 3339 ("2026-12-24T18:00:00+01:00") or "YYYY-MM-DD HH:MM" in the
schedule's time zone; the default is now.`, stderr)
	path := fs.String("config", "/etc/veille/veille.toml", "configuration file")
	from := fs.String("from", "", "start of the preview (default: now)")
	count := fs.Int("count", 10, "number of transitions to print")
	if done, err := parse(fs, args); done {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	p, err := agent.Policy(c)
	if err != nil {
		return err
	}
	start := time.Now().In(p.Location)
	if *from != "" {
		if start, err = parseTime(*from, p.Location); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if *count < 1 || *count > 10000 {
		return fmt.Errorf("--count: %d is out of range (1-10000)", *count)
	}
	enc := json.NewEncoder(stdout)
	for _, t := range scheduler.Preview(p, start, *count) {
		if err := enc.Encode(t); err != nil {
			return err
		}
	}
	return nil
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, or \"YYYY-MM-DD HH:MM\" in %s)", s, loc)
}
