package hwmon_test

import (
	"fmt"
	"log"

	"github.com/veille/veille/drivers/hwmon"
)

func Example() {
	fs := hwmon.FS{Root: "testdata/pi4"} // "" on a real system
	// Refuse to drive a chip the kernel owns.
	if err := fs.CheckUnbound(1, 0x40); err != nil {
		fmt.Println(err)
	}
	s, err := fs.Lookup(1, 0x41)
	if err != nil {
		log.Fatal(err)
	}
	chans, err := s.Read()
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range chans {
		fmt.Printf("%s ch%d %s: %s %s %s\n", s, c.Index, c.Label, c.Bus, c.Current, c.Power)
	}
	// Output:
	// ina226 at 1-0040 is bound to the kernel's ina2xx driver; read it as a hwmon sensor or unbind it
	// ina3221 at 1-0041 ch1 pi-5v: 5.072V 248mA 1.258W
	// ina3221 at 1-0041 ch2 disk-12v: 12.016V 411mA 4.939W
}
