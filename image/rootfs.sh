#!/usr/bin/env bash
# rootfs.sh OUT.tar: the image's root filesystem with every package installed
# (mmdebstrap, arm64, bookworm), cached under image/cache/.
#
# The cache key covers everything that shapes the result: the package list,
# the hooks, the mmdebstrap options and version, the suites and the archive
# URIs. A hit costs a copy; a miss about 10-15 minutes of emulated dpkg.
# Only packages are in here: veille and the image's own files are applied by
# overlay.sh, so changing them never rebuilds this stage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"

out=${1:?usage: rootfs.sh OUT.tar}
arch=${IMAGE_ARCH:-arm64}
suite=${IMAGE_SUITE:-bookworm}
cache=${IMAGE_CACHE:-$here/cache}

main=$(debian_uri "$suite") || die "no apt source for $suite on this machine (/etc/apt/sources.list*)"
security=$(debian_uri "$suite-security") || security=""
[ -n "$security" ] || printf 'image: warning: no %s-security source on this machine; the image gets no security updates at build time\n' "$suite" >&2

sources=$(
	printf 'deb %s %s main non-free-firmware\n' "$main" "$suite"
	printf 'deb %s %s-updates main non-free-firmware\n' "$main" "$suite"
	[ -z "$security" ] || printf 'deb %s %s-security main non-free-firmware\n' "$security" "$suite"
)
include=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/packages.txt" | tr -d ' \t' | paste -sd, -)
# mmdebstrap installs no Recommends by default; --aptopt/--dpkgopt values stay
# in the image (the dpkg path filters keep it small: no docs but copyright
# files, no man pages, no translations).
# shellcheck disable=SC2054 # commas inside options, not between elements
opts=(--arch="$arch" --variant=minbase --components=main,non-free-firmware --format=tar
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
	--dpkgopt='path-include=/usr/share/locale/locale.alias'
	--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata
	--essential-hook="$here/hooks/essential.sh \"\$1\""
	--customize-hook="$here/hooks/customize.sh \"\$1\""
	--include="$include")

key=$({
	printf '%s\n' "$arch" "$suite" "$sources" "${opts[@]}"
	mmdebstrap --version
	cat "$here/packages.txt" "$here/hooks/essential.sh" "$here/hooks/customize.sh"
} | sha256sum | cut -c1-16)
cached="$cache/rootfs-$suite-$arch-$key.tar"

if [ -s "$cached" ]; then
	printf 'image: rootfs cache hit %s\n' "${cached#"$here"/}" >&2
else
	need_root "building the rootfs"
	enable_binfmt
	mkdir -p "$cache"
	log="$cache/rootfs-$key.log"
	printf 'image: rootfs cache miss; building %s (log: %s)\n' "${cached#"$here"/}" "$log" >&2
	# SOURCE_DATE_EPOCH: reproducible timestamps for the same package set.
	if ! printf '%s\n' "$sources" | SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d 2025-01-01 +%s)} \
		mmdebstrap "${opts[@]}" "$suite" "$cached.part" - >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$cached.part"
		die "mmdebstrap failed (log: $log)"
	fi
	mv "$cached.part" "$cached"
	# Keep the three newest rootfs tarballs.
	ls -1t "$cache"/rootfs-*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f
fi
cp --reflink=auto "$cached" "$out"
