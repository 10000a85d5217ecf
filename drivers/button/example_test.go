package button_test

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/veille/veille/drivers/button"
)

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	// GPIO17 on the header bank of a Pi 4 or Pi 5.
	pin, err := button.Open("", 17)
	if err != nil {
		log.Fatal(err)
	}
	b, err := button.New(pin, &button.DefaultOpts)
	if err != nil {
		log.Fatal(err)
	}
	events := make(chan button.Press)
	go func() {
		for p := range events {
			fmt.Println(p.Kind, "press")
		}
	}()
	if err := b.Run(ctx, events); err != nil {
		log.Fatal(err)
	}
}
