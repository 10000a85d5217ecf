//go:build linux && (arm || 386 || mips || mipsle)

package usbdisk

import "unsafe"

// sgIOHdr is struct sg_io_hdr (include/scsi/sg.h) on a 32-bit kernel:
// pointers are 4 bytes, nothing needs padding, 64 bytes in all. A copy of
// the 64-bit struct with explicit padding (as some Go SG_IO packages have)
// puts status at 48 and info at 64 here, so errors are read from the wrong
// bytes and never reported.
type sgIOHdr struct {
	interfaceID    int32          // 0
	dxferDirection int32          // 4
	cmdLen         uint8          // 8
	mxSbLen        uint8          // 9
	iovecCount     uint16         // 10
	dxferLen       uint32         // 12
	dxferp         unsafe.Pointer // 16
	cmdp           unsafe.Pointer // 20
	sbp            unsafe.Pointer // 24
	timeout        uint32         // 28, milliseconds
	flags          uint32         // 32
	packID         int32          // 36
	usrPtr         unsafe.Pointer // 40
	status         uint8          // 44
	maskedStatus   uint8          // 45
	msgStatus      uint8          // 46
	sbLenWr        uint8          // 47
	hostStatus     uint16         // 48
	driverStatus   uint16         // 50
	resid          int32          // 52
	duration       uint32         // 56
	info           uint32         // 60
}

// The kernel's layout, checked at compile time.
var (
	_ [0]struct{} = [unsafe.Sizeof(sgIOHdr{}) - 64]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.usrPtr) - 40]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.status) - 44]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.hostStatus) - 48]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.info) - 60]struct{}{}
)
