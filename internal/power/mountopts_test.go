package power

import (
	"testing"

	"github.com/veille/veille/drivers/usbdisk"
)

func TestMountOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mount, super, want string }{
		{"rw,noatime", "rw,errors=remount-ro", "rw,noatime,errors=remount-ro"},
		{"rw,nosuid,nodev,relatime", "rw,fmask=0022,dmask=0022,utf8", "rw,nosuid,nodev,relatime,fmask=0022,dmask=0022,utf8"},
		// Mounted read-only by the system: both say so.
		{"ro,noatime", "ro", "ro,noatime"},
		// Read-only for veille alone (ProtectSystem=strict made its copy
		// of the mount read-only): the system's is read-write.
		{"ro,noatime", "rw,errors=remount-ro", "rw,noatime,errors=remount-ro"},
		// The kernel made the filesystem read-only after an error.
		{"rw,noatime", "ro,errors=remount-ro", "rw,noatime,errors=remount-ro"},
	} {
		got := mountOptions(usbdisk.Mount{Options: tc.mount, SuperOptions: tc.super})
		if got != tc.want {
			t.Errorf("mountOptions(%q, super %q) = %q, want %q", tc.mount, tc.super, got, tc.want)
		}
	}
}
