#!/usr/bin/env bash
# make bench: every figure of BENCHMARKS.md with one command, then the
# tables printed and BENCHMARKS.md's generated sections rewritten.
#
# Environment (defaults in brackets):
#   BENCH_OUT            where the raw outputs go [bin/bench]
#   BENCH_SPAN           simulated time per accuracy case and stream [24h]
#   FOOTPRINT_WARMUP     before the footprint window [30s]
#   FOOTPRINT_DURATION   footprint window, wall time [10m]; 0 skips it
#   BENCH_MARKDOWN       the file to update [BENCHMARKS.md]; empty: print only
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=${BENCH_OUT:-bin/bench}
SPAN=${BENCH_SPAN:-24h}
WARMUP=${FOOTPRINT_WARMUP:-30s}
DURATION=${FOOTPRINT_DURATION:-10m}
MARKDOWN=${BENCH_MARKDOWN-BENCHMARKS.md}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
start=$(date +%s)
step() { echo "== bench: $1 ($(($(date +%s) - start))s)"; }

step "dependencies"
./bench/deps.sh
make -s build
$GO vet -tags bench ./bench/...

step "energy accuracy, wire size, Home Assistant bytes per day (simulated time)"
rm -f "$OUT/figures.json"
missed=
if ! $GO test -tags bench -count=1 -run '^TestFigures$' -v ./bench/ -args -out "$OUT/figures.json" -span "$SPAN" >"$OUT/figures.txt"; then
  # A missed target still writes its figures: report them, fail at the end.
  [ -s "$OUT/figures.json" ] || { cat "$OUT/figures.txt"; exit 1; }
  missed=1
  grep -E 'target' "$OUT/figures.txt" || true
fi
grep -E '^\s+--- |^(ok|FAIL)' "$OUT/figures.txt" || true

step "sampling cost"
$GO test -count=1 -run '^$' -benchmem \
  -bench '^(BenchmarkSample|BenchmarkSense|BenchmarkLedgerAdd|BenchmarkCheckpoint|BenchmarkBatcherAdd|BenchmarkEncode)$' \
  ./internal/agent/ ./drivers/ina/ ./internal/energy/ ./internal/telemetry/ | tee "$OUT/gobench.txt"
$GO test -trimpath -count=1 -run '^$' -bench '^BenchmarkSample$/^chips/ha$' -benchmem -memprofilerate 1 \
  -memprofile "$OUT/sample.mem" -o "$OUT/agent.test" ./internal/agent/ >/dev/null
$GO tool pprof -sample_index=alloc_objects -lines -top -nodecount 40 -focus 'agent\.\(\*Agent\)\.sampleOnce' \
  "$OUT/agent.test" "$OUT/sample.mem" >"$OUT/allocs.txt" 2>/dev/null

if [ "$DURATION" != "0" ]; then
  step "footprint: veille and prometheus-node-exporter for $DURATION after $WARMUP"
  # A twin with symbols (the same build without -s -w) runs under perf, when
  # perf is there, to tell where veille's CPU goes; bin/veille is measured.
  profile=()
  if command -v perf >/dev/null 2>&1; then
    $GO build -trimpath -o "$OUT/veille-symbols" ./cmd/veille
    profile=(-profile-veille "$OUT/veille-symbols")
  fi
  $GO run -tags bench ./bench/footprint -veille bin/veille "${profile[@]}" -warmup "$WARMUP" -duration "$DURATION" -out "$OUT/footprint.json"
fi

step "report"
$GO run -tags bench ./bench/report -dir "$OUT" ${MARKDOWN:+-markdown "$MARKDOWN"}
if [ -n "$missed" ]; then
  step "done: a target checked by TestFigures was missed (see $OUT/figures.txt)"
  exit 1
fi
step "done"
