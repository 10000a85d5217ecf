// Package hostile drives the built veille binary against what a broker may
// carry that no well-behaved peer sends: floods of commands, oversized and
// binary payloads, garbage telemetry; and checks the security promises:
// TLS verification on by default, no secrets on the command line, a warning
// for a password in a file others can read, commands only under the node's
// own topics. Every peer is real (mosquitto on a loopback port, the binary),
// from tests/internal/peers.
package hostile

import (
	"testing"

	"github.com/veille/veille/tests/internal/peers"
)

func TestMain(m *testing.M) { peers.Main(m) }
