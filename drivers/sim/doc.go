// Package sim is the simulated world veille's demo and end-to-end tests run
// on: a Raspberry Pi home server emulated at the lowest layer, so that the
// real drivers and the real agent run on top of it unchanged.
//
// It is a world, not a set of stubs. When veille spins a disk down, the
// emulated INA channel on that disk's rail converts less current; when it
// cuts a port, the rail reads 0 V; when it halts the Pi, the board draws
// 15 mW, its sensors stop answering, and it boots again at the wake alarm
// veille wrote.
//
// # Pieces
//
//   - Bus: an emulated I²C bus (periph i2c.BusCloser) with chips at
//     addresses. An empty address answers like the Pi's I²C controllers do: a
//     NACKError wrapping EREMOTEIO. Faults can be injected per device (NACK,
//     garbage reads, unplugged and re-plugged, a few NACKs in a row).
//   - INA219, INA226, INA260, INA3221, INA228: register-file emulators
//     following the TI datasheets (see each type). A result register holds
//     the mean of the true signal over the last completed averaging window,
//     integrated exactly; current and power are computed from it and the
//     calibration with the chips' integer truncation.
//   - Trace: a piecewise-constant bus voltage and current with exact
//     integrals, the Signal a chip sees. Chips can be tested on Traces on a
//     standalone Bus (NewBus).
//   - World: the home server. New(opts) builds it from Opts (DefaultOpts is a
//     Pi 5 with a powered USB 3 hub, two disks and five sensors; BurstyOpts
//     adds the reference load for accuracy benchmarks). Its load model has
//     the board (idle, seeded 200 ms CPU bursts, shutting down, halted,
//     booting) and the disks (off, spinning up, idle, busy, standby, with
//     their own standby timers and background I/O) on rails whose exact
//     energy ExactEnergy returns. Opts.History bounds the past a rail
//     remembers (older steps fold into CumulativeEnergy's running total), so
//     a world running for months stays flat in memory.
//   - Back-ends implementing the contracts of docs/ARCHITECTURE.md: Command
//     (the disks' CDB interpreter, CHECK CONDITIONs as *SenseError), Mount
//     and Unmount, StopUnit, StartUnit and UnitsForMount, PowerOff and
//     Reboot (with Inhibit).
//   - Button: a GPIO (gpio.PinIO) with presses scripted on the world clock.
//
// # Time
//
// The world's clock is Opts.Now; the world never moves time. Everything the
// world does by itself (a spin-up ending, a CPU burst, the wake alarm, a
// scripted button press) is an event at its own time, and every call into
// the world (any method, a bus transfer, Sync) first processes the events up
// to Now in order, each at its exact time. So the energy over a night does
// not depend on when the world is looked at. A clock that goes back is
// ignored.
//
// A halted world skips to its wake time like this: OnHalt hooks run when the
// board halts; WakeAt tells when the armed alarm fires; the owner of the
// clock jumps it (clock.Scaled.Jump in the demo, Fake.Set in tests) and calls
// Sync; the board boots at exactly the alarm's time and OnBoot hooks run when
// the boot completes (BoardOpts.BootTime later). An alarm that fires while
// the board still runs or shuts down is spent: the board then stays off, as
// a real one would. With ButtonOpts.WakesBoard a press boots it too.
//
// # Files
//
// The world shows what the kernel would under Root, a temporary directory on
// tmpfs unless Opts.Root says otherwise: /proc/{diskstats, loadavg, uptime,
// swaps, self/mountinfo, net/tcp, net/tcp6, net/dev, device-tree, <pid>/comm,
// <pid>/fd}, /sys/firmware/devicetree, /sys/class/{block, net, rtc,
// thermal}, /sys/block, /sys/bus/usb/devices and the device trees behind them
// (hubs, ports with disable and peer, disks with their SCSI and block
// attributes), /dev/<disk> nodes (empty files), /dev/disk/by-uuid and
// by-label, /dev/i2c-N. Formats are the kernel's (diskstats has the 20 fields
// of Linux 5.5+; tcp is padded to 149 columns; links are relative).
//
// Files are rewritten on Sync and after every call that changes the world,
// only where their content changed, through a rename so that a reader never
// sees half a file. Counters that grow with time (diskstats while a disk is
// busy, network bytes, load averages, the SoC temperature, uptime, the RTC's
// time) are as of the last write: after advancing a fake clock, call Sync
// before reading them. The demo calls Run, which syncs every few real
// milliseconds.
//
// Two kinds of files are written by veille and read back by the world: the
// wake alarm (/sys/class/rtc/rtc0/wakealarm) and the USB ports' disable
// attributes. World.WriteFile writes them with the kernel's semantics and
// errors, synchronously (wakealarm: "N", "+N", "+=N", EBUSY when re-arming,
// reading back the armed time or nothing); it has the signature of
// os.WriteFile, for drivers/rtc's WakeAlarm.WriteFile. A plain write (what
// usbdisk.Port.SetPower does) also works: the world notices it (inotify on
// Linux) the next time it is called and applies it at that time, then shows
// the file as the kernel would.
//
// # Safety
//
// The world records a Violation when power is cut (a port, a halt) under a
// mounted filesystem or during I/O; tests assert Violations is empty. It also
// punishes the mistakes a real system punishes: I/O to a disk in standby
// spins it up (an unmount's flush included), a disk stopped while busy spins
// back up, the RTC alarm is one-shot, and a reboot re-enables every port.
package sim
