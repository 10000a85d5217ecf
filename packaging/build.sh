#!/usr/bin/env bash
# build.sh OUTDIR [ARCH...]: cross-builds veille and packages it for each
# Debian architecture (default: arm64 armhf amd64), then runs lintian.
# VERSION (the Makefile's, from git describe) is stamped into the binary;
# the package version is its Debian form (version.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${1:?usage: build.sh OUTDIR [ARCH...]}
shift
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 armhf amd64)
version=${VERSION:-$(git -C "$top" describe --tags --always --dirty 2>/dev/null || echo dev)}
debversion=$("$here/version.sh" "$version")
mkdir -p "$out"

if ! command -v lintian >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || { echo "build.sh: lintian is missing: apt-get install lintian" >&2; exit 1; }
	echo "installing lintian (apt-get)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
fi

# The unit must stay "OK" or better for systemd-analyze security (exposure
# under 5.0; the remaining exposures are explained in the unit).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
	sa=$(mktemp -d)
	mkdir -p "$sa/etc/systemd/system"
	cp "$top/systemd/veille.service" "$sa/etc/systemd/system/"
	if ! systemd-analyze security --offline=true --root="$sa" --threshold=49 veille.service >"$sa/report" 2>&1; then
		cat "$sa/report" >&2
		rm -rf "$sa"
		echo "build.sh: veille.service exposure is above OK (systemd-analyze security)" >&2
		exit 1
	fi
	printf 'veille.service: %s\n' "$(tail -n 1 "$sa/report" | sed 's/^→ //')" >&2
	rm -rf "$sa"
fi

debs=()
for arch in "${arches[@]}"; do
	case $arch in
	arm64) goenv=(GOARCH=arm64) ;;
	armhf) goenv=(GOARCH=arm GOARM=7) ;; # Debian armhf: ARMv7 with VFPv3-D16
	amd64) goenv=(GOARCH=amd64) ;;
	*) echo "build.sh: unsupported architecture $arch" >&2; exit 2 ;;
	esac
	bin="$top/bin/$arch/veille"
	mkdir -p "$(dirname "$bin")"
	(cd "$top" && env CGO_ENABLED=0 GOOS=linux "${goenv[@]}" go build -trimpath \
		-ldflags "-s -w -X main.version=$version" -o "$bin" ./cmd/veille)
	debs+=("$("$here/deb.sh" "$arch" "$debversion" "$bin" "$out")")
done

# Errors fail the build; the overrides in lintian-overrides say why each
# accepted tag is accepted. (lintian warns when run as root: harmless here.)
rc=0
report=$(lintian --fail-on error,warning --tag-display-limit 0 "${debs[@]}" 2>&1) || rc=$?
printf '%s\n' "$report" | grep -v -e 'running with root privileges' -e '^$' >&2 || true
[ "$rc" -eq 0 ] || { echo "build.sh: lintian found errors or warnings (exit $rc)" >&2; exit 1; }
printf '%s\n' "${debs[@]}"
