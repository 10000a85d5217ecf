package hwmon

import (
	"errors"
	"testing"
)

func TestCheckUnbound(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		root   string
		addr   uint16
		driver string
		msg    string
	}{
		{"testdata/pi4", 0x40, "ina2xx", "ina226 at 1-0040 is bound to the kernel's ina2xx driver; read it as a hwmon sensor or unbind it"},
		{"testdata/pi4", 0x41, "ina3221", "ina3221 at 1-0041 is bound to the kernel's ina3221 driver; read it as a hwmon sensor or unbind it"},
		{"testdata/pi4", 0x45, "ina238", "ina228 at 1-0045 is bound to the kernel's ina238 driver; read it as a hwmon sensor or unbind it"},
		{"testdata/pi5", 0x40, "ina2xx", "ina260 at 1-0040 is bound to the kernel's ina2xx driver; read it as a hwmon sensor or unbind it"},
		// Declared but no driver bound, and not declared at all: free.
		{"testdata/pi4", 0x44, "", ""},
		{"testdata/pi4", 0x4a, "", ""},
		{t.TempDir(), 0x40, "", ""},
	} {
		fs := FS{Root: tt.root}
		drv, err := fs.BoundDriver(1, tt.addr)
		if err != nil || drv != tt.driver {
			t.Errorf("%s BoundDriver(1, 0x%02x) = %q, %v; want %q", tt.root, tt.addr, drv, err, tt.driver)
		}
		err = fs.CheckUnbound(1, tt.addr)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("%s CheckUnbound(1, 0x%02x) = %v, want nil", tt.root, tt.addr, err)
			}
			continue
		}
		var be *BoundError
		if !errors.As(err, &be) || err.Error() != tt.msg || be.Driver != tt.driver {
			t.Errorf("%s CheckUnbound(1, 0x%02x) = %v\nwant %s", tt.root, tt.addr, err, tt.msg)
		}
	}
}
