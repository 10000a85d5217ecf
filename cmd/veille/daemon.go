package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/veille/veille/internal/agent"
	"github.com/veille/veille/internal/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run", "--config FILE [--dry-run]", `
Run the agent: measure, decide, act and report until stopped. This is what
veille.service starts on the Pi. Logs go to standard error (the journal under
systemd). With --dry-run every sleep and wake step is logged, nothing is done.`, stderr)
	path := fs.String("config", "/etc/veille/veille.toml", "configuration file")
	dry := fs.Bool("dry-run", false, "log the sleep/wake steps instead of running them")
	if done, err := parse(fs, args); done {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, c.LogLevel, os.Getenv("JOURNAL_STREAM") != "")
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	a, err := agent.New(agent.Options{Config: c, Logger: log, DryRun: *dry || c.DryRun, Version: version})
	if err != nil {
		return err
	}
	log.Info("veille starting", "version", version, "config", *path, "node", c.Node, "dry_run", *dry || c.DryRun)
	return a.Run(ctx)
}

// newLogger logs text lines; under systemd the journal adds the time.
func newLogger(w io.Writer, level string, journal bool) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
