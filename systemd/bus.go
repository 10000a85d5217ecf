// Package systemd is veille's side of systemd: readiness and watchdog
// notifications (sd_notify), logind over D-Bus (power off, reboot, inhibitor
// locks, sessions) and the service manager over D-Bus (stop and start units
// and wait for their jobs, find the units that use a mount, find when timers
// next fire, and unmount and mount filesystems through their mount units:
// Mounts, with systemd's unit names for paths, MountUnitName).
//
// Every client takes an explicit bus address (Options.Address), empty for the
// system bus, so tests point it at a private dbus-daemon (package
// systemd/dbustest) and the image test at whatever bus it likes.
//
// The unit file that runs veille lives next to this package (veille.service).
package systemd

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/godbus/dbus/v5"
)

// Options say how to reach the bus.
type Options struct {
	// Address is a D-Bus address such as "unix:path=/run/dbus/system_bus_socket".
	// Empty means the system bus: $DBUS_SYSTEM_BUS_ADDRESS, or its default.
	Address string
}

func (o Options) String() string {
	if o.Address == "" {
		return "the system bus"
	}
	return o.Address
}

// dial opens a private connection, authenticates with EXTERNAL as our uid
// (no user-name lookup, which a static binary cannot do) and says Hello.
func dial(o Options) (*dbus.Conn, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	if o.Address == "" {
		conn, err = dbus.SystemBusPrivate()
	} else {
		conn, err = dbus.Dial(o.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o, err)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate to %s: %w", o, err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hello to %s: %w", o, err)
	}
	return conn, nil
}

// errorName returns the D-Bus error name of err, or "".
func errorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var dp *dbus.Error
	if errors.As(err, &dp) && dp != nil {
		return dp.Name
	}
	return ""
}
