// Package button turns the edges of a push button on a GPIO line into
// presses: short, long and double.
//
// The classification is a pure state machine, Classifier, fed with the
// level the line had and the time it had it. It debounces first, then
// classifies the debounced presses:
//
//   - Debounce: a change of level counts only once the line has kept the new
//     level for Opts.Debounce. A shorter pulse is a bounce (or a glitch) and
//     is dropped. The start of a press is when the line last changed to the
//     pressed level, so durations are not skewed by the debounce delay.
//   - Long: the button has been held for Opts.LongPress. Long is reported as
//     soon as the threshold is reached, while the button is still down; its
//     release reports nothing more.
//   - Short: released before Opts.LongPress and not pressed again within
//     Opts.DoubleGap. Short is reported when the gap has passed (so a short
//     press costs DoubleGap of latency; a negative DoubleGap disables double
//     presses and reports Short at release).
//   - Double: a second press starts less than Opts.DoubleGap after a short
//     first press was released. Double is reported when the second press is
//     seen (it does not wait for its release, and holding the second press
//     does not make it long).
//
// Sequences that follow from these rules:
//
//   - long then short: Long while the first press is held, Short after the
//     second press and the gap.
//   - triple press: Double at the second press, then the third press starts a
//     new gesture and is reported as Short after its gap (four quick presses
//     are two Doubles). There is no Triple kind.
//   - a press already held when the classifier starts (button stuck, or the
//     press that woke the board still down) is ignored until released.
//
// Dev runs the classifier over a periph gpio.PinIn, typically a GPIO
// character-device line (periph.io/x/host/v3/gpioioctl) found with Open. It
// waits for edges with a positive WaitForEdge timeout in a loop: gpioioctl
// treats -1 as "return at once" and 0 as "forever", unlike the gpio.PinIn
// documentation, and there is no debounce in the kernel request either.
//
// Wiring on a Raspberry Pi: a normally-open button between a GPIO and ground,
// active low with the SoC pull-up. GPIO3 is the classic wake-from-halt pin on
// a Pi 4, but it is also I2C bus 1's SCL, where INA sensors usually are; see
// CheckI2C1.
package button
