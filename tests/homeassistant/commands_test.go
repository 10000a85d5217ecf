package homeassistant

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veille/veille/tests/internal/peers"
)

// commandDemo runs the demo's configuration at the quiet time of day, with
// the media disk's idle spin-down off: these tests put the disk to sleep
// and wake it by command, and an idle spin-down of its own in between would
// make the outcome depend on how fast the machine is.
func commandDemo(t *testing.T) (*peers.Process, *peers.Recorder, string) {
	t.Helper()
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil)
	cfg := peers.DemoConfig(t, `idle_spindown = "45m"`, `idle_spindown = "0s"`)
	v := peers.QuietDemo(t, broker, "--config", cfg)
	rec.WaitFor("veille/demo/state", 0, peers.Patience, "the first state", func(m peers.Message) bool {
		s, err := parseState(m.Payload)
		return err == nil && s.Scheduler == "awake" && s.Disks["media"] == "active" && *s.ScheduleEnabled
	})
	return v, rec, broker
}

// stateAfter waits for a state published after mark that satisfies ok.
func stateAfter(t *testing.T, rec *peers.Recorder, mark int, what string, ok func(state) bool) state {
	t.Helper()
	m := rec.WaitFor("veille/demo/state", mark, peers.Patience, what, func(m peers.Message) bool {
		s, err := parseState(m.Payload)
		return err == nil && ok(s)
	})
	s, _ := parseState(m.Payload)
	return s
}

// logLines counts the lines of text that match re.
func logLines(text string, re *regexp.Regexp) int { return len(re.FindAllStringIndex(text, -1)) }

// TestCommands sends every command of the vocabulary that keeps the Pi up,
// as Home Assistant's entities do, and checks what each did: the state JSON,
// the demo's account of the steps, and the disk state in the telemetry.
func TestCommands(t *testing.T) {
	t.Parallel()
	v, rec, broker := commandDemo(t)
	ha := peers.Client(t, broker, "homeassistant")
	send := func(name, payload string) int {
		mark := rec.Count()
		peers.Publish(t, ha, "veille/demo/cmd/"+name, 1, false, []byte(payload))
		return mark
	}

	// The schedule switch.
	mark := send("schedule", "OFF")
	stateAfter(t, rec, mark, "schedule OFF", func(s state) bool { return !*s.ScheduleEnabled && s.Scheduler == "disabled" })
	mark = send("schedule", "on") // any case, as documented
	stateAfter(t, rec, mark, "schedule ON", func(s state) bool { return *s.ScheduleEnabled && s.Scheduler == "awake" })

	// Stay awake: hours, decimals allowed; 0 cancels.
	mark = send("stay_awake", "1.5")
	s := stateAfter(t, rec, mark, "stay_awake 1.5", func(s state) bool { return *s.StayAwakeH > 0 })
	if h := *s.StayAwakeH; h > 1.5 || h < 1.2 {
		t.Errorf("stay_awake 1.5 h shows %v h remaining", h)
	}
	if !strings.Contains(*s.Reason, "awake") {
		t.Errorf("reason %q does not say why the node stays awake", *s.Reason)
	}
	mark = send("stay_awake", "0")
	stateAfter(t, rec, mark, "stay_awake 0", func(s state) bool { return *s.StayAwakeH == 0 })

	// Refresh: discovery and state again.
	mark = send("refresh", "PRESS")
	d := rec.WaitFor("homeassistant/device/demo/config", mark, peers.Patience, "discovery after refresh", nil)
	rec.WaitFor("veille/demo/state", d.N, peers.Patience, "state after refresh", nil)

	// The disks: to sleep and back, through the real sequences.
	mark = send("sleep_disks", "PRESS")
	stateAfter(t, rec, mark, "sleep_disks", func(s state) bool { return s.Disks["media"] == "standby" && s.Scheduler == "disks_asleep" })
	v.WaitStdout(regexp.MustCompile(`homeassistant asked: sleep_disks`), peers.Patience)
	v.WaitStdout(regexp.MustCompile(`disks-asleep media unmount: ok`), peers.Patience)
	v.WaitStdout(regexp.MustCompile(`disks-asleep media spin-down: ok`), peers.Patience)
	teleDisks(t, rec, mark, 2) // standby, in the CBOR stream too
	mark = send("wake_disks", "PRESS")
	stateAfter(t, rec, mark, "wake_disks", func(s state) bool { return s.Disks["media"] == "active" && s.Scheduler == "awake" })
	v.WaitStdout(regexp.MustCompile(`disks-awake media mount: ok`), peers.Patience)
	v.WaitStdout(regexp.MustCompile(`disks-awake media start-unit: ok`), peers.Patience)
	teleDisks(t, rec, mark, 1)

	m := readMeta(t, peers.Retained(t, broker, "veille/demo/meta"))
	checkStates(t, rec.On("veille/demo/state", 0), m)
	for _, want := range []string{"schedule OFF", "schedule ON", "stay_awake 1h30m0s", "stay_awake 0s", "refresh", "sleep_disks", "wake_disks"} {
		if !strings.Contains(v.Stderr(), fmt.Sprintf("msg=\"MQTT command\" command=%s", strconv.Quote(want))) &&
			!strings.Contains(v.Stderr(), "msg=\"MQTT command\" command="+want+"\n") {
			t.Errorf("no log line for the command %q", want)
		}
	}
}

// teleDisks waits for a telemetry frame published after mark whose status
// gives the first disk the state want (1 active, 2 standby, 3 off), decoded
// from the CBOR with the independent decoder (docs/telemetry.cddl).
func teleDisks(t *testing.T, rec *peers.Recorder, mark int, want uint64) {
	t.Helper()
	rec.WaitFor("veille/demo/tele", mark, peers.Patience, fmt.Sprintf("a frame with disk state %d", want), func(m peers.Message) bool {
		f, err := peers.DecodeFrame(m.Payload)
		if err != nil {
			t.Errorf("frame does not decode: %v", err)
			return false
		}
		return len(f.Disks) > 0 && f.Disks[0] == want
	})
}

// TestBadCommands sends what Home Assistant never would: unknown names,
// wrong payloads, oversized and binary payloads, and topics outside the
// node's command topics. Each one that reaches veille is refused with a log
// line naming the topic and the reason; none changes anything.
func TestBadCommands(t *testing.T) {
	t.Parallel()
	v, rec, broker := commandDemo(t)
	ha := peers.Client(t, broker, "homeassistant")
	before := v.Stdout()
	mark := rec.Count()
	bad := []struct {
		topic   string
		payload []byte
		reason  string // "" when veille must not even receive it
	}{
		{"veille/demo/cmd/exec", []byte("PRESS"), `unknown command \"exec\"`},
		{"veille/demo/cmd/SLEEP_NOW", []byte("PRESS"), `unknown command \"SLEEP_NOW\"`},
		{"veille/demo/cmd/sleep_now", []byte("NOW"), `sleep_now takes PRESS, got \"NOW\"`},
		{"veille/demo/cmd/sleep_disks", nil, `sleep_disks takes PRESS, got \"\"`},
		{"veille/demo/cmd/shutdown", []byte("ON"), `shutdown takes PRESS`},
		{"veille/demo/cmd/schedule", []byte("MAYBE"), `schedule takes ON or OFF`},
		{"veille/demo/cmd/stay_awake", []byte("-1"), `stay_awake takes hours 0..72`},
		{"veille/demo/cmd/stay_awake", []byte("73"), `stay_awake takes hours 0..72`},
		{"veille/demo/cmd/stay_awake", []byte("NaN"), `stay_awake takes hours 0..72`},
		{"veille/demo/cmd/stay_awake", []byte("1e400"), `stay_awake takes hours 0..72`},
		{"veille/demo/cmd/stay_awake", []byte("two"), `stay_awake takes hours 0..72`},
		{"veille/demo/cmd/wake_disks", []byte("PRESS" + strings.Repeat(" ", 28)), `payload of 33 bytes, max 32`},
		{"veille/demo/cmd/reboot", []byte(strings.Repeat("PRESS", 20000)), `payload of 100000 bytes, max 32`},
		{"veille/demo/cmd/sleep_now", []byte("\xffPRESS\xfe"), `payload is not UTF-8 text`},
		{"veille/other/cmd/sleep_now", []byte("PRESS"), ""},
		{"veille/demo/cmd/sleep_now/now", []byte("PRESS"), ""},
		{"veille/demo/cmdsleep_now", []byte("PRESS"), ""},
		{"veille/demo/sleep_now", []byte("PRESS"), ""},
		{"house/demo/cmd/sleep_now", []byte("PRESS"), ""},
		{"Veille/demo/cmd/sleep_now", []byte("PRESS"), ""},
		{"veille/demo/cmd/", []byte("PRESS"), `unknown command \"\"`},
	}
	for _, b := range bad {
		peers.Publish(t, ha, b.topic, 1, false, b.payload)
	}
	// Commands are handled in order: once this harmless one is logged, every
	// one before it has been seen.
	peers.Publish(t, ha, "veille/demo/cmd/stay_awake", 1, false, []byte("0"))
	v.WaitStderr(regexp.MustCompile(`msg="MQTT command" command="stay_awake 0s"`), peers.Patience)

	logs := v.Stderr()
	for _, b := range bad {
		line := regexp.MustCompile(`(?m)^.*msg="refused MQTT command" topic=` + regexp.QuoteMeta(b.topic) + ` bytes=` + strconv.Itoa(len(b.payload)) + ` reason=.*$`)
		found := line.FindAllString(logs, -1)
		if b.reason == "" {
			if len(found) > 0 {
				t.Errorf("%s reached veille, outside its command topics: %q", b.topic, found)
			}
			continue
		}
		ok := false
		for _, l := range found {
			ok = ok || strings.Contains(l, b.reason)
		}
		if !ok {
			t.Errorf("%s %q: no refusal naming the topic and %q; refusals for it: %q", b.topic, peers.Abbrev(b.payload), b.reason, found)
		}
	}
	if n := logLines(logs, regexp.MustCompile(`msg="MQTT command" `)); n != 1 {
		t.Errorf("%d commands were accepted, want only the final stay_awake 0", n)
	}
	after := strings.TrimPrefix(v.Stdout(), before)
	for _, l := range strings.Split(after, "\n") {
		if strings.Contains(l, "asked:") && !strings.Contains(l, "asked: stay_awake") || strings.Contains(l, " · ") {
			t.Errorf("a bad command did something: %s", l)
		}
	}
	// Nothing changed: the state after them is the state before.
	rec.WaitFor("veille/demo/state", mark, peers.Patience, "a state after the bad commands", nil)
	last, _ := rec.Last("veille/demo/state", mark)
	s, _ := parseState(last.Payload)
	if s.Scheduler != "awake" || s.Disks["media"] != "active" || !*s.ScheduleEnabled || *s.StayAwakeH != 0 {
		t.Errorf("state after bad commands: %s", peers.Abbrev(last.Payload))
	}
	if n := len(rec.Matching(regexp.MustCompile(`^veille/demo/status$`), mark)); n != 0 {
		t.Errorf("availability changed %d times", n)
	}
}

// statusAfter waits for the availability payload want after mark.
func statusAfter(t *testing.T, rec *peers.Recorder, mark int, want string) peers.Message {
	t.Helper()
	return rec.WaitFor("veille/demo/status", mark, peers.Patience, "availability "+want, func(m peers.Message) bool { return string(m.Payload) == want })
}

// TestPowerCommands sends the commands that take the Pi down: reboot (it
// comes back), sleep_now (halted until the schedule's next wake, 06:30) and
// shutdown (halted for good). Before going down veille says "offline" itself
// (a clean disconnect sends no last will) and publishes when it wakes.
func TestPowerCommands(t *testing.T) {
	t.Parallel()
	v, rec, broker := commandDemo(t)
	ha := peers.Client(t, broker, "homeassistant")
	m := readMeta(t, peers.Retained(t, broker, "veille/demo/meta"))

	mark := rec.Count()
	peers.Publish(t, ha, "veille/demo/cmd/reboot", 1, false, []byte("PRESS"))
	v.WaitStdout(regexp.MustCompile(`reboot system reboot: ok`), peers.Patience)
	off := statusAfter(t, rec, mark, "offline")
	on := statusAfter(t, rec, off.N, "online") // veille starts again with the Pi
	rec.WaitFor("veille/demo/state", on.N, peers.Patience, "a state after the reboot", nil)

	mark = rec.Count()
	peers.Publish(t, ha, "veille/demo/cmd/sleep_now", 1, false, []byte("PRESS"))
	v.WaitStdout(regexp.MustCompile(`homeassistant asked: sleep_now`), peers.Patience)
	v.WaitStdout(regexp.MustCompile(`the Pi is off .*RTC alarm at 06:30`), peers.Patience)
	off = statusAfter(t, rec, mark, "offline")
	// The schedule said when it comes back, before it went: the last one
	// published before "offline" has the wake time.
	var sched []byte
	for _, s := range rec.On("veille/demo/schedule", mark) {
		if s.N < off.N {
			sched = s.Payload
		}
	}
	if sched == nil {
		t.Errorf("no schedule published before going offline")
	} else {
		checkSchedule(t, sched, time.Time{}, peers.QuietStart.Add(18*time.Hour+30*time.Minute))
	}
	v.WaitStdout(regexp.MustCompile(`RTC alarm: the Pi booted`), peers.Patience)
	// The restarted agent says it is back.
	on = statusAfter(t, rec, off.N, "online")
	s := stateAfter(t, rec, on.N, "a state after the wake", func(state) bool { return true })
	if s.Disks["media"] != "active" {
		t.Errorf("after the wake the disk is %q", s.Disks["media"])
	}

	mark = rec.Count()
	peers.Publish(t, ha, "veille/demo/cmd/shutdown", 1, false, []byte("PRESS"))
	v.WaitStdout(regexp.MustCompile(`the Pi halted with no wake alarm`), peers.Patience)
	statusAfter(t, rec, mark, "offline")
	if st := peers.Retained(t, broker, "veille/demo/status"); string(st) != "offline" {
		t.Errorf("after the shutdown the retained availability is %q", st)
	}
	checkStates(t, rec.On("veille/demo/state", 0), m)
}
