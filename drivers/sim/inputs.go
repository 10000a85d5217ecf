package sim

import (
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The RTC's sysfs directory and its wake alarm, by its class path and by the
// device path the class link points to.
const (
	rtcDir        = "/sys/devices/platform/soc/soc:rpi_rtc/rtc/rtc0"
	wakeAlarmFile = "/sys/class/rtc/rtc0/wakealarm"
)

func isWakeAlarm(r string) bool { return r == wakeAlarmFile || r == rtcDir+"/wakealarm" }

// alarm is the RTC's one-shot wake alarm.
type alarm struct {
	armed bool
	at    time.Time // whole seconds
	ev    *event
}

func (w *World) arm(at time.Time) {
	w.alarm.ev.cancel()
	w.alarm.armed, w.alarm.at = true, at
	w.alarm.ev = w.schedule(at, w.alarmFires)
	w.log.Info("sim: wake alarm armed", "for", at)
}

func (w *World) disarm() {
	w.alarm.ev.cancel()
	w.alarm = alarm{}
}

// alarmFires: a halted board boots; a running one just loses the alarm (it
// is one-shot), so a board that halts after its alarm time never wakes.
func (w *World) alarmFires(at time.Time) {
	w.alarm = alarm{}
	if w.board.state == BoardHalted {
		w.log.Info("sim: wake alarm fired, booting", "at", at)
		w.boot(at)
		return
	}
	w.log.Info("sim: wake alarm fired while the board was "+w.board.state.String(), "at", at)
	_ = w.render(false)
}

// WakeAt tells when the armed wake alarm fires, ok == false if none is armed.
// The demo, once OnHalt has fired, jumps its clock there and calls Sync: the
// world boots at exactly that time.
func (w *World) WakeAt() (at time.Time, ok bool) {
	w.lock()
	defer w.unlock()
	return w.alarm.at, w.alarm.armed
}

// writeWakeAlarm applies a write to wakealarm with the kernel's semantics
// (drivers/rtc/sysfs.c wakealarm_store): "N" epoch seconds, "+N" seconds from
// now, "+=N" seconds added to the armed alarm; a time not after now disables
// the alarm; arming over an armed alarm is EBUSY, "+=" on none EINVAL.
func (w *World) writeWakeAlarm(at time.Time, s string) error {
	s = strings.TrimSuffix(s, "\n")
	push, adjust := false, false
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		s = rest
		if rest, ok := strings.CutPrefix(s, "="); ok {
			s, push = rest, true
		} else {
			adjust = true
		}
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return errInvalid
	}
	now := at.Unix()
	if adjust {
		v += now
	}
	if v > now || push {
		if w.alarm.armed {
			if !push {
				return errBusy
			}
			v += w.alarm.at.Unix()
		} else if push {
			return errInvalid
		}
		w.arm(time.Unix(v, 0))
		return nil
	}
	w.disarm()
	w.log.Info("sim: wake alarm disabled", "at", at)
	return nil
}

// WriteFile writes a file under Root. For the sysfs attributes the world
// reads back it behaves as the kernel does, synchronously and with the
// kernel's errors (as *fs.PathError): wakealarm (EBUSY, EINVAL, and reading
// back the armed time or nothing) and the USB ports' disable. Its signature
// matches os.WriteFile so it plugs into drivers/rtc's WakeAlarm.WriteFile.
// Other paths are written as os.WriteFile would.
func (w *World) WriteFile(name string, data []byte, perm fs.FileMode) error {
	at := w.lock()
	defer w.unlock()
	r := w.rel(name)
	fail := func(err error) error { return &fs.PathError{Op: "write", Path: name, Err: err} }
	if isWakeAlarm(r) && !w.board.o.NoRTC {
		if err := w.writeWakeAlarm(at, string(data)); err != nil {
			return fail(err)
		}
		return w.render(false)
	}
	if p := w.portByFile(r); p != nil {
		off, err := parseBool(string(data))
		if err != nil {
			return fail(err)
		}
		w.setPortDisabled(at, p, off)
		return w.render(false)
	}
	return os.WriteFile(name, data, perm)
}

// portByFile returns the port whose disable attribute is at root-relative r.
func (w *World) portByFile(r string) *port {
	if !strings.HasSuffix(r, "/disable") {
		return nil
	}
	for _, h := range w.hubs {
		for _, p := range h.ports {
			if r == p.dir()+"/disable" || r == "/sys/bus/usb/devices/"+h.iface+"/"+p.name()+"/disable" {
				return p
			}
		}
	}
	return nil
}

// parseBool is the kernel's kstrtobool.
func parseBool(s string) (bool, error) {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return false, errInvalid
	}
	switch strings.ToLower(s) {
	case "1", "y", "yes", "on", "true":
		return true, nil
	case "0", "n", "no", "off", "false":
		return false, nil
	}
	switch s[0] {
	case '1', 'y', 'Y':
		return true, nil
	case '0', 'n', 'N':
		return false, nil
	}
	return false, errInvalid
}

// pollInputs applies what veille wrote with plain file writes (not through
// WriteFile) to the files the world reads back: port disable attributes and
// the wake alarm. A write is applied at the time the world notices it, the
// next time anything calls into the world.
func (w *World) pollInputs() {
	at := w.t
	changed, all := w.watch.changed()
	paths := make([]string, 0, len(w.inputs))
	for p := range w.inputs {
		if all || changed[p] {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, path := range paths {
		last := w.inputs[path]
		b, err := os.ReadFile(w.Path(path))
		if err != nil {
			continue
		}
		got := string(b)
		if got == last {
			continue
		}
		w.inputs[path] = got
		switch {
		case isWakeAlarm(path):
			if strings.TrimSpace(got) == "" {
				continue // a writer truncated but has not written yet
			}
			if err := w.writeWakeAlarm(at, got); err != nil {
				w.log.Warn("sim: wakealarm write rejected", "content", got, "err", err)
			}
		default:
			p := w.portByFile(path)
			if p == nil {
				continue
			}
			off, err := parseBool(got)
			if err != nil {
				if strings.TrimSpace(got) != "" {
					w.log.Warn("sim: port disable write rejected", "port", p.name(), "content", got)
				}
				continue
			}
			w.setPortDisabled(at, p, off)
		}
		w.dirty = true
	}
	if w.dirty {
		if err := w.render(false); err != nil {
			w.log.Warn("sim: render", "err", err)
		}
	}
}

// inputContent is what the kernel shows in an input file for the world's
// state, and whether the content on disk (last) already says the same.
func (w *World) inputContent(path, last string) (want string, same bool) {
	if isWakeAlarm(path) {
		if !w.alarm.armed {
			return "", strings.TrimSpace(last) == ""
		}
		want = strconv.FormatInt(w.alarm.at.Unix(), 10) + "\n"
		return want, strings.TrimSpace(last) == strings.TrimSpace(want)
	}
	p := w.portByFile(path)
	if p == nil {
		return last, true
	}
	want = "0\n"
	if p.disabled {
		want = "1\n"
	}
	off, err := parseBool(last)
	return want, err == nil && off == p.disabled
}
