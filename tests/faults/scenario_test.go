package faults

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/veille/veille/tests/internal/peers"
)

// TestScenarioErrors: a scenario file with mistakes is refused before
// anything runs, with one line per problem naming the file and the line.
func TestScenarioErrors(t *testing.T) {
	t.Parallel()
	path := scenario(t,
		`# a comment`,
		`{"at":"+10m","do":"mark"}`,
		`{"at":"+5m","do":"mark"}`,
		`{"at":"+20m","do":"sensor","addr":"0x41","fault":"melted"}`,
		`{"at":"+20m","do":"refuse-stop","unit":"jellyfin.service"}`,
		`{"at":"+30m","do":"press","kind":"triple"}`,
		`{"at":"+40m","do":"clock","step":"-3h","sync":true}`,
		`{"at":"+50m","do":"teleport"}`,
		`{"at":"+60m","do":"connect","id":"x","port":22,"colour":"red"}`,
	)
	cmd := exec.Command(peers.Veille(t), "demo", "--scenario", path, "--for", "1s", "--from", "2026-06-01 10:00")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("veille demo accepted a scenario with mistakes")
	}
	msg := stderr.String()
	want := []string{
		"scenario.jsonl:3: 2026-06-01T10:05:00+02:00 is before the previous event (2026-06-01T10:10:00+02:00)",
		"scenario.jsonl:4: sensor: needs \"fault\": none, nack, garbage or gone",
		"scenario.jsonl:5: refuse-stop describes a unit of the world: only at the start",
		"scenario.jsonl:6: press: needs \"kind\": short, long or double",
		"scenario.jsonl:7: clock: needs one of \"set\", \"step\" or \"sync\"",
		"scenario.jsonl:8: do: \"teleport\" is not an event",
		"scenario.jsonl:9: json: unknown field \"colour\"",
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("veille demo said:\n%s\nwant a line with %q", msg, w)
		}
	}
	if strings.Contains(msg, "simulated root") {
		t.Errorf("the demo started before refusing the scenario")
	}
	report(t, "a scenario with 7 mistakes: %d lines of errors, each naming file and line", strings.Count(strings.TrimSpace(msg), "\n")+1)
}
