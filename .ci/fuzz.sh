#!/usr/bin/env bash
# make fuzz: runs every fuzz target of the module (every `func FuzzXxx` in a
# _test.go file) for FUZZTIME each, then prints a summary table.
#
#   .ci/fuzz.sh [FUZZTIME] [PATTERN]
#   make fuzz                                   # every target, 20 s each
#   make fuzz FUZZTIME=5m FUZZ='FuzzDecode|FuzzParseCommand|FuzzParse$|FuzzParseMountinfo'
#
# PATTERN (or $FUZZ) is an extended regular expression matched against
# "<package>.<target>": only the matching targets run.
#
# A failing input is written by Go under <package>/testdata/fuzz/<target>/
# and from then on is run by `go test` as a regression case: fix the bug and
# commit that file with the fix. The checked-in files there are the seed
# corpus; what the fuzzer learns stays in Go's cache ($(go env GOCACHE)/fuzz).
#
# Targets that write files (spool, counters, sleep records) crawl when every
# fsync reaches a disk: temporary files go to /dev/shm when it is writable
# (override with TMPDIR). The exit status is non-zero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20s}
pattern=${2:-${FUZZ:-.}}
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

rows=()
failed=0
n=0
start=$(date +%s)
while read -r pkg dir; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "$pkg.$target" | grep -Eq -- "$pattern" || continue
		n=$((n + 1))
		log="$logs/$n.log"
		echo "== $pkg $target ($fuzztime)"
		t0=$(date +%s)
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s "$pkg" >"$log" 2>&1
		status=$?
		took=$(($(date +%s) - t0))
		# The last progress line: "fuzz: elapsed: 20s, execs: 641832 (54730/sec), new interesting: 22 (total: 28)"
		last=$(grep '^fuzz: elapsed' "$log" | grep 'execs:' | tail -n1)
		execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
		new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
		total=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")
		result=ok
		if [ $status -ne 0 ]; then
			result=FAIL
			failed=$((failed + 1))
			grep -v '^fuzz: elapsed' "$log" | tail -n 30
		fi
		rate=-
		if [ -n "$execs" ] && [ "$took" -gt 0 ]; then
			rate=$((execs / took))
		fi
		rows+=("$(printf '%-6s  %-45s  %-26s  %12s  %9s  %5s  %6s  %5ss' "$result" "${pkg#github.com/veille/veille/}" "$target" "${execs:--}" "$rate" "${new:--}" "${total:--}" "$took")")
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)

echo
echo "fuzz summary: $n targets, $fuzztime each, $(($(date +%s) - start)) s in all, TMPDIR=${TMPDIR:-/tmp}"
printf '%-6s  %-45s  %-26s  %12s  %9s  %5s  %6s  %6s\n' result package target execs "execs/s" new corpus time
printf '%s\n' "${rows[@]}"
if [ $n -eq 0 ]; then
	echo "no fuzz target matches $pattern" >&2
	exit 1
fi
if [ $failed -gt 0 ]; then
	echo "$failed of $n fuzz targets failed; the failing inputs are in <package>/testdata/fuzz/" >&2
	exit 1
fi
