#!/usr/bin/env bash
# deb.sh ARCH VERSION BINARY OUTDIR: builds OUTDIR/veille_VERSION_ARCH.deb with
# dpkg-deb from a cross-built binary and the files of this tree.
#   ARCH     Debian architecture: arm64, armhf, amd64
#   VERSION  Debian version (packaging/version.sh)
# DEB_MAINTAINER overrides the Maintainer field (default: git's user).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
arch=${1:?usage: deb.sh ARCH VERSION BINARY OUTDIR}
version=${2:?usage: deb.sh ARCH VERSION BINARY OUTDIR}
bin=${3:?usage: deb.sh ARCH VERSION BINARY OUTDIR}
out=${4:?usage: deb.sh ARCH VERSION BINARY OUTDIR}
maintainer=${DEB_MAINTAINER:-$(git -C "$top" config user.name) <$(git -C "$top" config user.email)>}

case $arch in
arm64 | armhf | amd64) ;;
*) echo "deb.sh: unsupported architecture $arch (arm64, armhf, amd64)" >&2; exit 2 ;;
esac
[ -x "$bin" ] || { echo "deb.sh: $bin is not an executable" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root

# install_file MODE SRC DST (DST relative to the package root)
install_file() { install -D -m "$1" "$2" "$root/$3"; }

install_file 0755 "$bin" usr/bin/veille
install_file 0644 "$top/systemd/veille.service" usr/lib/systemd/system/veille.service
install_file 0644 "$top/systemd/veille.sysusers" usr/lib/sysusers.d/veille.conf
install_file 0644 "$top/systemd/60-veille.rules" usr/lib/udev/rules.d/60-veille.rules
install_file 0644 "$top/systemd/50-veille.rules" usr/share/polkit-1/rules.d/50-veille.rules
install_file 0644 "$top/systemd/veille.modules-load" usr/lib/modules-load.d/veille.conf
# The commented example configuration is the default one (a conffile).
install_file 0644 "$top/internal/config/example.toml" etc/veille/veille.toml
for f in "$top"/systemd/examples/*.conf; do
	install_file 0644 "$f" "usr/share/doc/veille/examples/$(basename "$f")"
done
for f in "$top"/README.md "$top"/docs/*.md "$top"/docs/*.cddl; do
	[ -e "$f" ] || continue
	case $(basename "$f") in ARCHITECTURE.md) continue ;; esac
	install_file 0644 "$f" "usr/share/doc/veille/$(basename "$f")"
done
"$here/copyright.sh" "$bin" "$top/LICENSE" >"$stage/copyright"
install_file 0644 "$stage/copyright" usr/share/doc/veille/copyright
# A native package: its changelog is changelog.gz.
{
	printf 'veille (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from %s.\n\n' "$(git -C "$top" describe --tags --always --dirty 2>/dev/null || echo "an unknown commit")"
	printf ' -- %s  %s\n' "$maintainer" "$(date -R -d "@$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$stage/changelog.gz"
install_file 0644 "$stage/changelog.gz" usr/share/doc/veille/changelog.gz
install_file 0644 "$here/lintian-overrides" usr/share/lintian/overrides/veille

mkdir -p "$root/DEBIAN"
for f in postinst prerm postrm; do install -m 0755 "$here/debian/$f" "$root/DEBIAN/$f"; done
install -m 0644 "$here/debian/conffiles" "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s|@MAINTAINER@|$maintainer|" "$here/debian/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
	sort -z | xargs -0 md5sum >DEBIAN/md5sums)

mkdir -p "$out"
deb="$out/veille_${version}_${arch}.deb"
# Reproducible: every file dated at the last commit, owned by root.
SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
