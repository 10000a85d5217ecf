package main

import (
	"context"
	"fmt"
	"io"

	"github.com/veille/veille/internal/config"
)

func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("check", "--config FILE | --example", `
Validate a configuration file. On success, print the effective configuration
(your values with every default filled in). On error, print one line per
problem, naming the file, the line and the key, and exit with status 1.
With --example, print the example configuration with every key commented.`, stderr)
	path := fs.String("config", "/etc/veille/veille.toml", "configuration file to check")
	example := fs.Bool("example", false, "print the commented example configuration")
	quiet := fs.Bool("q", false, "print nothing on success")
	if done, err := parse(fs, args); done {
		return err
	}
	if *example {
		_, err := stdout.Write(config.Example)
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *quiet {
		return nil
	}
	out, err := c.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %s is valid. Effective configuration:\n", *path)
	_, err = stdout.Write(out)
	return err
}
