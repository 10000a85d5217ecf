package pisys_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/veille/veille/internal/pisys"
)

func Example() {
	b := pisys.Board{Root: "testdata/pi5"} // Root "" on a real Pi
	if t, err := b.SoCTemperature(); err == nil {
		fmt.Println("SoC", t)
	}
	// Without vcgencmd the firmware readings are simply absent.
	b.Vcgencmd = "veille-example-no-vcgencmd"
	if _, err := b.PMIC(context.Background()); errors.Is(err, pisys.ErrNotAvailable) {
		fmt.Println("no PMIC reading")
	}
	// Output:
	// SoC 52.65°C
	// no PMIC reading
}
