//go:build linux

package usbdisk

import (
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Command sends cdb to dev with no data phase and waits up to timeout.
func (SGIO) Command(dev string, cdb []byte, timeout time.Duration) error {
	if len(cdb) == 0 || len(cdb) > 255 {
		return fmt.Errorf("%s: CDB of %d bytes", dev, len(cdb))
	}
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", dev, opcodeName(cdb[0]), err)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	var res sgResult
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		v, err := unix.IoctlGetInt(int(fd), sgGetVersionNum)
		if err != nil || v < 30000 {
			ioErr = fmt.Errorf("not an SG_IO device (SG_GET_VERSION_NUM: %d, %v)", v, err)
			return
		}
		res, ioErr = sgIOCall(fd, cdb, timeout)
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", dev, opcodeName(cdb[0]), err)
	}
	return res.err(dev, cdb[0])
}

func sgIOCall(fd uintptr, cdb []byte, timeout time.Duration) (sgResult, error) {
	cmd := append([]byte(nil), cdb...)
	sense := make([]byte, senseBufLen)
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&cmd[0])
	pin.Pin(&sense[0])
	ms := timeout.Milliseconds()
	if ms <= 0 || ms > 1<<31 {
		ms = DefaultTimeout.Milliseconds()
	}
	h := sgIOHdr{
		interfaceID:    sgInterfaceID,
		dxferDirection: sgDxferNone,
		cmdLen:         uint8(len(cmd)),
		mxSbLen:        uint8(len(sense)),
		cmdp:           unsafe.Pointer(&cmd[0]),
		sbp:            unsafe.Pointer(&sense[0]),
		timeout:        uint32(ms),
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, sgIO, uintptr(unsafe.Pointer(&h)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return sgResult{}, fmt.Errorf("SG_IO ioctl: %w", errno)
		}
		break
	}
	n := int(h.sbLenWr)
	if n > len(sense) {
		n = len(sense)
	}
	return sgResult{
		status:       h.status,
		hostStatus:   h.hostStatus,
		driverStatus: h.driverStatus,
		info:         h.info,
		sense:        sense[:n],
	}, nil
}
