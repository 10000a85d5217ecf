#!/bin/sh
# mmdebstrap customize hook of the cached rootfs stage ($1 = the new root):
# restore update-initramfs and build the initramfs once, now that every
# package whose initramfs hook matters (udev, kmod, busybox, zstd) is there.
# raspi-firmware's post-update hook then copies it to /boot/firmware.
set -eu
root=$1
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
[ -x "$root/usr/sbin/update-initramfs" ] || { echo "update-initramfs missing after undivert" >&2; exit 1; }
chroot "$root" update-initramfs -c -k all
ls "$root"/boot/initrd.img-* >/dev/null
