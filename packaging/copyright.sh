#!/usr/bin/env bash
# copyright.sh BINARY [LICENSE]: the Debian copyright file (DEP-5) of a
# veille package. /usr/bin/veille is a static Go program, so it carries the
# code of every Go module linked into it: their licences are listed here,
# read from the module cache (`go version -m` says which modules they are).
set -euo pipefail
bin=${1:?usage: copyright.sh BINARY [LICENSE]}
own=${2:-}
modcache=$(go env GOMODCACHE)

# license_name FILE: the SPDX-style short name Debian uses for the text.
license_name() {
	local f=$1
	if grep -q 'Apache License' "$f" && grep -q 'Permission is hereby granted, free of charge' "$f"; then echo "Expat and Apache-2.0"
	elif grep -q 'Apache License' "$f" && grep -q 'Version 2.0' "$f"; then echo Apache-2.0
	elif grep -q 'Eclipse Public License' "$f" && grep -q 'Eclipse Distribution License' "$f"; then echo "EPL-2.0 or BSD-3-Clause"
	elif grep -q 'Eclipse Public License' "$f"; then echo EPL-2.0
	elif grep -q 'Mozilla Public License' "$f"; then echo MPL-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$f"; then echo Expat
	elif grep -q 'Redistribution and use in source and binary forms' "$f"; then
		if grep -qi 'neither the name' "$f"; then echo BSD-3-Clause; else echo BSD-2-Clause; fi
	elif grep -q 'Eclipse Distribution License' "$f"; then echo BSD-3-Clause
	else echo "other"
	fi
}

# as_field: a text as the continuation lines of a DEP-5 field.
as_field() { sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'; }

cat <<HEAD
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: veille
Source: https://github.com/veille/veille
Comment: /usr/bin/veille is a statically linked Go program. Besides veille's
 own code it contains the Go standard library and the Go modules listed
 below, each under its own licence.

Files: *
Copyright: the veille authors
HEAD
if [ -n "$own" ] && [ -r "$own" ]; then
	printf 'License: %s\n' "$(license_name "$own")"
	as_field <"$own"
else
	printf 'License: other\n'
	printf ' The veille authors have not published a licence for veille yet: no\n .\n rights are granted beyond those of the licences of the components below.\n'
fi

goroot=$(go env GOROOT)
printf '\nFiles: go/*\nCopyright: The Go Authors\nComment: the Go standard library and runtime, %s\n' "$(go version "$bin" | awk '{print $2}')"
printf 'License: %s\n' "$(license_name "$goroot/LICENSE")"
as_field <"$goroot/LICENSE"

# A module replaced by a local directory is part of this tree: skip it.
go version -m "$bin" | awk '
	$1 == "dep" { if (mod != "") print mod, ver; mod = $2; ver = $3 }
	$1 == "=>" { if ($2 ~ /^[.\/]/) mod = ""; else { mod = $2; ver = $3 } }
	END { if (mod != "") print mod, ver }' |
	while read -r mod ver; do
		dir="$modcache/$(printf '%s' "$mod" | sed -E 's/([A-Z])/!\L\1/g')@$ver"
		lic=$(ls "$dir"/LICENSE* "$dir"/COPYING* "$dir"/LICENCE* 2>/dev/null | head -n1 || true)
		[ -n "$lic" ] || { echo "copyright.sh: no licence file for $mod $ver in the module cache" >&2; exit 1; }
		holders=$(grep -hiE '^[[:space:]]*copyright[[:space:]]+(\(c\)|©|[0-9])' "$dir"/LICENSE* "$dir"/NOTICE* 2>/dev/null |
			sed -E 's/^[[:space:]]*[Cc]opyright[[:space:]]*(\([cC]\)|©)?[[:space:]]*//' | sort -u || true)
		[ -n "$holders" ] || holders="the $mod authors"
		name=$(license_name "$lic")
		printf '\nFiles: go/%s/*\nCopyright:' "$mod"
		printf '%s\n' "$holders" | sed 's/^/ /'
		printf 'Comment: Go module %s %s\n' "$mod" "$ver"
		if [ "$name" = Apache-2.0 ]; then
			printf 'License: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
		else
			printf 'License: %s\n' "$name"
			as_field <"$lic"
		fi
	done
