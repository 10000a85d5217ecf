package homeassistant

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	ok := []struct {
		topic, payload string
		want           Command
	}{
		{"veille/pi/cmd/sleep_now", "PRESS", Command{Name: CmdSleepNow}},
		{"veille/pi/cmd/sleep_disks", "press", Command{Name: CmdSleepDisks}},
		{"veille/pi/cmd/wake_disks", " PRESS\n", Command{Name: CmdWakeDisks}},
		{"veille/pi/cmd/reboot", "PRESS", Command{Name: CmdReboot}},
		{"veille/pi/cmd/shutdown", "PRESS", Command{Name: CmdShutdown}},
		{"veille/pi/cmd/refresh", "PRESS", Command{Name: CmdRefresh}},
		{"veille/pi/cmd/schedule", "ON", Command{Name: CmdSchedule, On: true}},
		{"veille/pi/cmd/schedule", "off", Command{Name: CmdSchedule}},
		{"veille/pi/cmd/stay_awake", "3", Command{Name: CmdStayAwake, StayAwake: 3 * time.Hour}},
		{"veille/pi/cmd/stay_awake", "2.0", Command{Name: CmdStayAwake, StayAwake: 2 * time.Hour}},
		{"veille/pi/cmd/stay_awake", "0.5", Command{Name: CmdStayAwake, StayAwake: 30 * time.Minute}},
		{"veille/pi/cmd/stay_awake", "0", Command{Name: CmdStayAwake}},
	}
	for _, c := range ok {
		got, err := ParseCommand("veille", "pi", c.topic, []byte(c.payload))
		if err != nil || got != c.want {
			t.Errorf("%s %q: %+v, %v; want %+v", c.topic, c.payload, got, err, c.want)
		}
	}
	bad := []struct{ topic, payload, reason string }{
		{"veille/pi/cmd/format_disk", "PRESS", "unknown command"},
		{"veille/pi/cmd/sh", "rm -rf /", "unknown command"},
		{"veille/other/cmd/reboot", "PRESS", "not under veille/pi/cmd/"},
		{"veille/pi/cmd", "PRESS", "not under"},
		{"veillex/pi/cmd/reboot", "PRESS", "not under"},
		{"veille/pi/cmd/reboot", "ON", "takes PRESS"},
		{"veille/pi/cmd/reboot", "", "takes PRESS"},
		{"veille/pi/cmd/schedule", "maybe", "ON or OFF"},
		{"veille/pi/cmd/stay_awake", "-1", "hours 0..72"},
		{"veille/pi/cmd/stay_awake", "73", "hours 0..72"},
		{"veille/pi/cmd/stay_awake", "NaN", "hours"},
		{"veille/pi/cmd/stay_awake", "1e400", "hours"},
		{"veille/pi/cmd/stay_awake", "two", "hours"},
		{"veille/pi/cmd/reboot", strings.Repeat("P", 33), "payload of 33 bytes"},
		{"veille/pi/cmd/reboot", "\xff\xfe", "not UTF-8"},
		{"veille/pi/cmd/reboot/x", "PRESS", "unknown command"},
	}
	for _, c := range bad {
		_, err := ParseCommand("veille", "pi", c.topic, []byte(c.payload))
		if !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s %q: error %v, want %q", c.topic, c.payload, err, c.reason)
		}
	}
}

// FuzzParseCommand: never panics, and what it accepts is in the vocabulary
// with a payload within bounds.
func FuzzParseCommand(f *testing.F) {
	for _, n := range CommandNames() {
		f.Add("veille/pi/cmd/"+n, []byte("PRESS"))
	}
	f.Add("veille/pi/cmd/schedule", []byte("ON"))
	f.Add("veille/pi/cmd/stay_awake", []byte("12.5"))
	f.Add("veille/pi/cmd/stay_awake", []byte("0x1p-2"))
	f.Add("veille/pi/cmd/", []byte{0xff})
	vocab := map[string]bool{}
	for _, n := range CommandNames() {
		vocab[n] = true
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		cmd, err := ParseCommand("veille", "pi", topic, payload)
		if err != nil {
			if !errors.Is(err, ErrCommand) {
				t.Fatalf("error does not wrap ErrCommand: %v", err)
			}
			if !utf8.ValidString(err.Error()) && utf8.ValidString(topic) {
				t.Fatalf("error message is not UTF-8: %q", err)
			}
			return
		}
		if !vocab[cmd.Name] || topic != "veille/pi/cmd/"+cmd.Name || len(payload) > MaxCommandPayload {
			t.Fatalf("accepted %q %q as %+v", topic, payload, cmd)
		}
		if cmd.StayAwake < 0 || cmd.StayAwake > MaxStayAwakeHours*time.Hour {
			t.Fatalf("stay awake %v out of range", cmd.StayAwake)
		}
	})
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{"USB disk 1": "usb_disk_1", "Pi": "pi", "  --Médias//HDD  ": "m_dias_hdd", "": "x", "___": "x"} {
		if got := Key(in); got != want || !keyRE.MatchString(got) {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
