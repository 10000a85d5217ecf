# Shared helpers of the image scripts (sourced, not run).
# shellcheck shell=bash

# stage NAME: prints a progress line; stage_done prints its duration.
stage() {
	STAGE_NAME=$1
	STAGE_START=$(date +%s.%N)
	printf '==> %s\n' "$STAGE_NAME" >&2
}
stage_done() {
	local end
	end=$(date +%s.%N)
	awk -v n="$STAGE_NAME" -v a="$STAGE_START" -v b="$end" -v note="${1:+ ($1)}" \
		'BEGIN { printf "<== %s: %.1fs%s\n", n, b - a, note }' >&2
}

die() { printf 'image: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "$1 needs root (it runs mmdebstrap, chroot and apt-get)"; }

# need_tools CMD:PACKAGE...: installs the Debian packages whose command is
# missing. Only as root; otherwise says what to install.
need_tools() {
	local missing=() pair cmd pkg
	for pair in "$@"; do
		cmd=${pair%%:*} pkg=${pair#*:}
		if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
			missing+=("$pkg")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [ "$(id -u)" -ne 0 ]; then
		die "missing tools; install them with: apt-get install ${missing[*]}"
	fi
	printf 'image: installing %s (apt-get)\n' "${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# enable_binfmt: lets the host run arm64 binaries (chroot, maintainer
# scripts). PID 1 may not be systemd, so nothing mounted binfmt_misc.
enable_binfmt() {
	[ "$(uname -m)" = aarch64 ] && return 0
	if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
			die "cannot mount binfmt_misc (needed to run arm64 programs in the image)"
	fi
	update-binfmts --enable qemu-aarch64 2>/dev/null || true
	grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
		die "qemu-aarch64 binfmt is not enabled (package qemu-user-static)"
	grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
		die "qemu-aarch64 binfmt lacks the F flag: chroots would not find the emulator"
}

# debian_uri SUITE: the archive URI this machine's apt uses for SUITE
# (bookworm, bookworm-security), read from its deb822 or one-line sources.
# Nothing is hard-coded: the build uses whatever mirror the machine has.
debian_uri() {
	local suite=$1 f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v want="$suite" '
			function flush() { if (uri != "" && index(" " suites " ", " " want " ")) { print uri; found = 1; exit } uri = ""; suites = "" }
			/^[[:space:]]*$/ { flush(); next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { $1 = ""; suites = $0 }
			END { if (!found) flush() }' "$f" | head -n1
	done | head -n1 | grep . && return 0
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v want="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == want) { print $i; exit } }' | grep .
}

# part_offset IMG N / part_size IMG N: byte offset and size of partition N.
# (sfdisk -d prints sectors of 512 bytes for a dos label on an image file.)
part_field() {
	sfdisk -d "$1" 2>/dev/null | awk -v n="$2" -v f="$3" -F'[:,]' '
		/^[^ ]+ : start=/ { i++; if (i == n) for (k = 2; k <= NF; k++) { split($k, kv, "="); gsub(/ /, "", kv[1]); gsub(/ /, "", kv[2]); if (kv[1] == f) { print kv[2] * 512; exit } } }' | grep . ||
		die "$1: no partition $2"
}
part_offset() { part_field "$1" "$2" start; }
part_size() { part_field "$1" "$2" size; }
