//go:build !linux

package sim_test

import "syscall"

const nackErrno = syscall.EIO
