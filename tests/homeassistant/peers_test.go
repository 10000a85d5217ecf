// Package homeassistant drives the built veille binary as Home Assistant
// would: a real mosquitto on a loopback port, `veille demo` publishing to it
// (its simulated world gives the agent real sequences to run), and a test
// client that reads the retained discovery, state and schedule topics, checks
// them against Home Assistant's documented rules, sends the command
// vocabulary and checks what each command did.
//
// The peers and the veille binary come from tests/internal/peers. Nothing
// here imports veille's own Home Assistant code: the rules, the
// abbreviations and the command vocabulary are written down from Home
// Assistant's documentation and docs/homeassistant.md, so a mistake in the
// code is not repeated in its test.
package homeassistant

import (
	"testing"

	"github.com/veille/veille/tests/internal/peers"
)

func TestMain(m *testing.M) { peers.Main(m) }
