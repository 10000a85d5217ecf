// Package recipes runs the consumer recipes of docs/recipes for real
// against veille's telemetry stream and checks what they produce.
//
// TestRecipes starts a real mosquitto on a free loopback port, a Telegraf
// built from its module (v1.34.0, only the plugins the recipe needs) with
// docs/recipes/telegraf.conf, a Node-RED (installed with npm ci from
// node-red/package-lock.json) with docs/recipes/node-red-flow.json, and an
// independent decoder of the frames (a generic CBOR decoder following
// docs/telemetry.cddl, none of veille's code); then it runs `veille demo
// --broker` and, once veille has left the broker, publishes a last frame of
// its own with what the demo does not produce (nulls between values,
// negative currents, flags, offsets near ±dt/2, no SoC temperature, an energy
// counter past 2^32). Every sample, energy counter and status the recipes
// wrote is compared with what the decoder read: values, timestamps (Telegraf
// t0 + i·dt, Node-RED t0 + i·dt + off[i], as the recipes document) and
// counts.
//
// It is a module of its own so that Telegraf's dependencies never enter
// veille's go.mod (Telegraf is built in its own module directory, from its
// own go.sum, the way its release is built). The binaries it builds or
// installs are cached under the repository's bin/recipes/, keyed by
// version: the first run builds Telegraf and runs npm ci (needs the Go
// module proxy and the npm registry), later runs reuse them.
//
//	cd tests/recipes && go test -count=1 -v ./...   # make test runs it
//
// VEILLE_RECIPES_FOR sets how long the demo runs (default 55s: the evening,
// the halt and the morning after the reboot, two runs of veille).
package recipes
