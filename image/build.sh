#!/usr/bin/env bash
# build.sh: `make image`. A bootable Raspberry Pi (3, 3+, 4, 400, CM4,
# Zero 2 W) SD-card image of Debian bookworm arm64 with veille, from Debian's
# archive alone. Prints one line per stage with its duration.
#
# Outputs in DIST (default dist/):
#   veille-<version>-rpi-arm64.img       raw image (the QEMU test boots it)
#   veille-<version>-rpi-arm64.img.xz    what you flash (Imager, bmaptool)
#   veille-<version>-rpi-arm64.img.bmap  block map for `bmaptool copy`
#   veille-<version>-rpi-arm64.img.xz.sha256
# Environment: DIST, VERSION (git describe), IMAGE_CACHE (image/cache),
# IMAGE_XZ_LEVEL (6), IMAGE_COMPRESS=no (skip xz while developing), IMAGE_APT_URI / IMAGE_APT_SECURITY_URI (apt sources
# written into the image; default: this machine's mirror).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"
dist=${DIST:-$top/dist}
build=${IMAGE_BUILD:-$here/build}
mkdir -p "$dist" "$build"
total_start=$(date +%s)

need_root "make image"

stage "host tools"
need_tools mmdebstrap:mmdebstrap qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
	arch-test:arch-test mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk bmaptool:bmap-tools \
	xz:xz-utils mkfs.ext4:e2fsprogs debugfs:e2fsprogs lintian:lintian dpkg-deb:dpkg unshare:util-linux
enable_binfmt
stage_done

stage "veille package (arm64)"
deb=$("$here/../packaging/build.sh" "$dist" arm64 | tail -n 1)
version=$(dpkg-deb -f "$deb" Version)
name=veille-$version-rpi-arm64
stage_done "$(basename "$deb")"

stage "root filesystem (mmdebstrap; cached in image/cache)"
"$here/rootfs.sh" "$build/rootfs.tar"
stage_done

stage "overlay (veille, image files, boot files)"
"$here/overlay.sh" "$build/rootfs.tar" "$deb" "$build/root"
rm -f "$build/rootfs.tar"
stage_done

stage "partitions and image (no loop devices)"
img=$dist/$name.img
"$here/mkimage.sh" "$build/root" "$img"
rm -rf "$build/root"
stage_done "$(du -h --apparent-size "$img" | cut -f1)"

stage "block map"
bmaptool -q create "$img" -o "$img.bmap"
stage_done

if [ "${IMAGE_COMPRESS:-yes}" = no ]; then
	printf 'image: IMAGE_COMPRESS=no: no .img.xz (development build)\n' >&2
	rm -f "$img.xz" "$img.xz.sha256"
else
	stage "compress (xz)"
	xz -T0 "-${IMAGE_XZ_LEVEL:-6}" -k -f "$img"
	(cd "$dist" && sha256sum "$name.img.xz" >"$name.img.xz.sha256")
	stage_done "$(du -h "$img.xz" | cut -f1)"
fi

printf 'image: %s ready in %ds\n' "$(ls "$img"*)" $(($(date +%s) - total_start)) >&2
echo "$img"
