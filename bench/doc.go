//go:build bench

// Package bench measures veille against its targets: the energy accuracy of
// each way of reading a power monitor on a load with short bursts, the size
// of the telemetry and Home Assistant streams, and (with the footprint
// command) the memory, CPU and bytes of a running agent next to the tools
// people use today.
//
// Everything here is built only with the "bench" build tag, so that `make
// test` and `make lint` stay as they are; `make bench` runs it all (see
// run.sh and BENCHMARKS.md):
//
//	go test -tags bench -run TestFigures ./bench -args -out figures.json
//	go run -tags bench ./bench/footprint -out footprint.json
//	go run -tags bench ./bench/report -figures figures.json ...
//
// The figures come from the real code: drivers/ina talking to the emulated
// chips of drivers/sim, internal/energy's Ledger, internal/telemetry's Batcher
// and Encoder, and internal/homeassistant's Reporter. Only time is simulated:
// a fake clock moves the simulated world through hours in a second.
package bench
