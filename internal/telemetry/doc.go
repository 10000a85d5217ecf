// Package telemetry is veille's measurement stream: the frame model, its
// compact CBOR encoding for the MQTT topic <prefix>/<node>/tele, the Batcher
// that the agent feeds one sample at a time, and the JSON line rendering used
// by `veille listen`.
//
// # Wire format (schema version 1)
//
// A frame is a CBOR map with small unsigned integer keys, encoded with the
// RFC 8949 §4.2.1 core deterministic rules (fxamacker/cbor CoreDetEncOptions):
// the same frame always gives the same bytes, so golden files and
// de-duplication work. docs/telemetry.cddl is the normative schema (RFC 8610)
// and a test keeps it in step with this code.
//
// Quantities are scaled integers, never floats: a float that is not exactly
// representable in 16 bits (5.112 V, 48.7 °C) costs 9 bytes, an integer in
// mV costs 3. Units: mV, mA, mW, mWh, deci-°C, Unix milliseconds.
//
// A frame batches Count samples of every channel. Sample i was taken at
// Start + i*Interval + Offsets[i] ms; Offsets is absent when every sample was
// on the nominal grid. Each channel carries three columns (mV, mA, mW); in a
// column the first present value is absolute and every later one is the
// difference from the previous present value, so a steady rail costs one or
// two bytes per value. A sample that could not be read is a CBOR null in all
// three columns. Measured (see BenchmarkWireSize): 3 channels × 30 samples of
// realistic noisy rails take about 6 bytes per sample-channel, against about
// 80 bytes for the same data as plain JSON.
//
// Frames carry status too: the SoC temperature, the firmware throttling bits,
// the scheduler state, the disk states and, per channel, the lifetime energy
// counter (mWh, never decreasing) and availability flags. Channel and disk
// names are not in the frames: they are in the retained meta topic (see Meta),
// keyed by the same channel IDs and disk positions.
//
// Frames carry a run identifier and a sequence number: within one run the
// sequence increases by one per frame, so a consumer can check that nothing
// was lost or reordered, also across an MQTT outage (frames are spooled and
// replayed with their original timestamps).
package telemetry
