package sim_test

import "syscall"

// nackErrno is what a NACK unwraps to: the kernel's EREMOTEIO.
const nackErrno = syscall.EREMOTEIO
