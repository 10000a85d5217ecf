package button

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenWithoutGPIO(t *testing.T) {
	if m, _ := filepath.Glob("/dev/gpiochip*"); len(m) > 0 {
		t.Skip("this machine has GPIO chips")
	}
	_, err := Open("", 17)
	if err == nil || !strings.Contains(err.Error(), "no GPIO character device") {
		t.Fatalf("Open on a machine without GPIO: %v", err)
	}
}

func TestOpenLineNoChips(t *testing.T) {
	if _, err := openLine(nil, "pinctrl-rp1", 17); err == nil || !strings.Contains(err.Error(), "no GPIO character device") {
		t.Fatalf("openLine without chips: %v", err)
	}
}

func TestCheckI2C1(t *testing.T) {
	for line, want := range map[int]string{2: "GPIO2 is I²C bus 1's SDA", 3: "GPIO3 is I²C bus 1's SCL", 17: "", 4: ""} {
		err := CheckI2C1(line)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckI2C1(%d) = %v, want nil", line, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckI2C1(%d) = %v, want %q", line, err, want)
		}
	}
}
