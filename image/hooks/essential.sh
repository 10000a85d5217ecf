#!/bin/sh
# mmdebstrap essential hook ($1 = the new root): defer every initramfs build.
#
# Installing the kernel and then udev, kmod, busybox... makes initramfs-tools
# rebuild the initramfs several times, each run minutes long under qemu-user.
# update-initramfs is diverted to a no-op here; the customize hook puts it
# back and builds the initramfs once, with every package in place.
set -eu
root=$1
chroot "$root" dpkg-divert --quiet --local --rename \
	--divert /usr/sbin/update-initramfs.veille-deferred --add /usr/sbin/update-initramfs
cat >"$root/usr/sbin/update-initramfs" <<'STUB'
#!/bin/sh
echo "update-initramfs: deferred to the end of the image build ($*)" >&2
STUB
chmod 0755 "$root/usr/sbin/update-initramfs"
