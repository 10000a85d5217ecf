package sim

import "syscall"

// The errnos the kernel returns where the world emulates it.
const (
	errRemoteIO = syscall.EREMOTEIO // I2C_RDWR on an address nobody ACKs
	errInvalid  = syscall.EINVAL
	errBusy     = syscall.EBUSY
	errNoEnt    = syscall.ENOENT
	errNoTTY    = syscall.ENOTTY // SG_IO on a partition node
	errIO       = syscall.EIO
	errNoDev    = syscall.ENODEV
)
