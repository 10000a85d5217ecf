//go:build linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le)

package usbdisk

import "unsafe"

// sgIOHdr is struct sg_io_hdr (include/scsi/sg.h) on a 64-bit kernel:
// pointers are 8 bytes and 8-aligned, so 4 bytes of padding follow
// pack_id and the struct ends on a multiple of 8: 88 bytes.
type sgIOHdr struct {
	interfaceID    int32          // 0
	dxferDirection int32          // 4
	cmdLen         uint8          // 8
	mxSbLen        uint8          // 9
	iovecCount     uint16         // 10
	dxferLen       uint32         // 12
	dxferp         unsafe.Pointer // 16
	cmdp           unsafe.Pointer // 24
	sbp            unsafe.Pointer // 32
	timeout        uint32         // 40, milliseconds
	flags          uint32         // 44
	packID         int32          // 48
	_              [4]byte        // 52
	usrPtr         unsafe.Pointer // 56
	status         uint8          // 64
	maskedStatus   uint8          // 65
	msgStatus      uint8          // 66
	sbLenWr        uint8          // 67
	hostStatus     uint16         // 68
	driverStatus   uint16         // 70
	resid          int32          // 72
	duration       uint32         // 76
	info           uint32         // 80
	_              [4]byte        // 84
}

// The kernel's layout, checked at compile time: a wrong size or offset
// makes one of these array lengths negative or non-zero.
var (
	_ [0]struct{} = [unsafe.Sizeof(sgIOHdr{}) - 88]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.usrPtr) - 56]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.status) - 64]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.hostStatus) - 68]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(sgIOHdr{}.info) - 80]struct{}{}
)
