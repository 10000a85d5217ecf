package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage means the usage text was already printed.
var errUsage = errors.New("usage")

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "--config FILE [--dry-run]", "run the agent (what systemd starts on the Pi)", cmdRun},
		{"demo", "[--for DURATION] [--broker URL] [--speed N]", "run on simulated hardware: a night passes in about a minute", cmdDemo},
		{"check", "--config FILE | --example", "validate a configuration and print the effective one", cmdCheck},
		{"schedule", "--config FILE [--from TIME] [--count N]", "preview the next sleep and wake transitions as JSON lines", cmdSchedule},
		{"listen", "--broker URL [--node NAME]", "print veille's CBOR telemetry decoded, one JSON line per frame", cmdListen},
		{"scan", "[--bus N]", "list the INA power monitors that answer on an I2C bus, with a config block", cmdScan},
		{"version", "", "print the version", cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "veille %s — power measurement and safe off-peak sleep for a Raspberry Pi home server\n\nUsage:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  veille %-8s %s\n  %10s %s\n", c.name, c.args, "", c.summary)
	}
	fmt.Fprintf(w, "\nRun 'veille COMMAND -h' for a command's options.\n")
}

// flags returns a FlagSet whose -h prints a newcomer-friendly help.
func flags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: veille %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(about))
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(stderr, "\nOptions:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args; -h prints help and ends the command without error.
func parse(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return true, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("version", "", "Print veille's version.", stderr)
	if done, err := parse(fs, args); done {
		return err
	}
	fmt.Fprintf(stdout, "veille %s\n", version)
	return nil
}
