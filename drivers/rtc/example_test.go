package rtc_test

import (
	"fmt"
	"time"

	"github.com/veille/veille/drivers/rtc"
)

func Example() {
	alarm := &rtc.WakeAlarm{Name: "rtc0"}
	if ok, err := alarm.Capable(); err != nil || !ok {
		fmt.Println("this RTC cannot wake the system:", err)
		return
	}
	if err := alarm.Set(time.Now().Add(8 * time.Hour)); err != nil {
		fmt.Println(err)
		return
	}
	// ... then halt through logind; the RTC powers the board up at the alarm.
}
