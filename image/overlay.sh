#!/usr/bin/env bash
# overlay.sh ROOTFS.tar VEILLE.deb DIR: unpacks the cached rootfs into DIR and
# makes it the veille image: veille installed from its package (enabled,
# through its own maintainer scripts), the image's files from image/rootfs/
# (fstab, network, first-boot units), the Pi boot files regenerated, and
# what must be unique per machine removed (SSH host keys, machine-id).
# Seconds, not minutes: no package is downloaded or built here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"
tarball=${1:?usage: overlay.sh ROOTFS.tar VEILLE.deb DIR}
deb=${2:?usage: overlay.sh ROOTFS.tar VEILLE.deb DIR}
dir=${3:?usage: overlay.sh ROOTFS.tar VEILLE.deb DIR}
need_root "overlay.sh"
enable_binfmt

rm -rf "$dir"
mkdir -p "$dir"
tar -x -p --xattrs --xattrs-include='*' --numeric-owner -f "$tarball" -C "$dir"

# The image's own files, owned by root whoever checked them out.
tar -c --owner=0 --group=0 --numeric-owner -C "$here/rootfs" . | tar -x -p --no-same-owner -C "$dir"
chown -R 0:0 "$dir/usr/lib/veille-image" "$dir/etc/systemd/system/veille-firstboot.service" \
	"$dir/etc/systemd/system/veille-bootconfig.service"

# The image keeps no documentation (dpkg path filters of rootfs.sh), except
# veille's own: its README, image guide and example drop-ins. (dpkg reads
# dpkg.cfg.d in order and the last matching filter wins: after 99mmdebstrap.)
cat >"$dir/etc/dpkg/dpkg.cfg.d/99veille-docs" <<'EOF_DPKG'
# Keep veille's documentation and examples (the image drops other docs).
path-include=/usr/share/doc/veille/*
EOF_DPKG

cp "$deb" "$dir/tmp/veille.deb"
# A private mount namespace: /proc for the maintainer scripts, gone with it.
unshare --mount --propagation private -- sh -euc '
	root=$1
	mount -t proc proc "$root/proc"
	chroot "$root" dpkg -i /tmp/veille.deb
	# config.txt (I2C, consoles) and cmdline.txt from /etc/default/raspi-firmware*.
	chroot "$root" env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
' sh "$dir"
rm -f "$dir/tmp/veille.deb"
[ -L "$dir/etc/systemd/system/multi-user.target.wants/veille.service" ] ||
	die "the package did not enable veille.service"

systemctl --root="$dir" --quiet enable veille-firstboot.service veille-bootconfig.service veille-import-config.service \
	systemd-networkd.service systemd-resolved.service systemd-timesyncd.service ssh.service \
	avahi-daemon.service mosquitto.service
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$dir/etc/resolv.conf"

# Per-machine identity is made at first boot, never shipped.
rm -f "$dir"/etc/ssh/ssh_host_*
: >"$dir/etc/machine-id"
rm -f "$dir/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$dir/var/lib/dbus/machine-id"

# apt on the Pi: IMAGE_APT_URI (the public Debian archive for a release
# build) replaces the build machine's mirror, which a Pi may not reach.
if [ -n "${IMAGE_APT_URI:-}" ]; then
	sed -i -E "s#^(deb(-src)?( \[[^]]*\])? )[^ ]+( bookworm(-updates)? )#\1$IMAGE_APT_URI\4#" "$dir/etc/apt/sources.list"
fi
if [ -n "${IMAGE_APT_SECURITY_URI:-}" ]; then
	sed -i -E "s#^(deb(-src)?( \[[^]]*\])? )[^ ]+( bookworm-security )#\1$IMAGE_APT_SECURITY_URI\4#" "$dir/etc/apt/sources.list"
fi

{
	echo "VEILLE_IMAGE_VERSION=$(dpkg-deb -f "$deb" Version)"
	echo "VEILLE_IMAGE_BUILT=$(date -u +%FT%TZ)"
	echo "KERNEL=$(cd "$dir/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//')"
} >"$dir/etc/veille-image-release"
ls "$dir"/boot/firmware/vmlinuz-* "$dir"/boot/firmware/initrd.img-* "$dir"/boot/firmware/config.txt >/dev/null ||
	die "/boot/firmware lacks the kernel, the initrd or config.txt"
