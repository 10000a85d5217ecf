//go:build !linux

package sim

import "syscall"

// Outside Linux (a developer's laptop) the closest portable errnos stand in.
const (
	errRemoteIO = syscall.EIO
	errInvalid  = syscall.EINVAL
	errBusy     = syscall.EBUSY
	errNoEnt    = syscall.ENOENT
	errNoTTY    = syscall.ENOTTY
	errIO       = syscall.EIO
	errNoDev    = syscall.ENODEV
)
