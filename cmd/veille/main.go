// Command veille measures what a Raspberry Pi home server draws, puts it and
// its USB disks to sleep when nobody needs them, wakes them on time, and
// reports it all over MQTT and to Home Assistant.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "veille:", err)
		}
		os.Exit(exitCode(err))
	}
}
