// Package usbdisk finds the USB disks veille manages, the hub port that
// feeds each of them, and puts them to sleep and wakes them.
//
// Disks are named by filesystem UUID or label, never by /dev/sdX, which
// changes when a disk is re-plugged or its port is power-cycled:
//
//	<root>/dev/disk/by-uuid/<uuid>  → partition (sda1)
//	<root>/sys/class/block/sda1     → …/usb2/2-1/2-1:1.0/host0/…/block/sda/sda1
//	                                   whole disk sda, USB device 2-1 = bus 2, root hub port 1
//	port power:                       <root>/sys/bus/usb/devices/2-0:1.0/usb2-port1/disable
//
// Spin-down follows SPC-4 and SAT-4: SCSI START STOP UNIT (opcode 0x1B) with
// START=0, or for bridges that need it, ATA STANDBY IMMEDIATE (0xE0, retired
// form 0x94) inside ATA PASS-THROUGH(16) (0x85, protocol 3 = non-data). The
// CDBs travel over a Transport; on Linux SGIO sends them with the SG_IO
// ioctl, whose sg_io_hdr is laid out per GOARCH (88 bytes on 64-bit, 64 on
// 32-bit ARM) and checked at compile time.
//
// Port power uses the kernel's per-port "disable" attribute (Linux 6.0+):
// writing 1 turns the port off, including VBUS on hubs that switch power.
// On a Raspberry Pi 4 or 5 every onboard port is switched together, so
// CheckPortCut refuses a cut that would take the root filesystem, or any
// disk the caller did not put to sleep, down with it.
//
// IdleMonitor is hd-idle's idle detection as a pure state machine fed with
// /proc/diskstats snapshots and times.
//
// Every kernel path hangs off a Root ("/" on a Pi, a temporary tree in
// tests and in the simulated world).
package usbdisk
