#!/usr/bin/env bash
# inject.sh [options] BASE VEILLE.deb OUT: adds veille to an existing SD-card
# image (Raspberry Pi OS Lite, OpenMediaVault on Pi OS, or a veille image)
# without mounting it: the package's files, the enable symlinks and the
# first-boot units go into the ext4 root with debugfs, the config onto the
# FAT boot partition with mtools. BASE is never modified; OUT is a copy.
#
#   --config FILE       veille.toml put on the boot partition; imported at
#                       first boot (veille-import-config)
#   --omv-repo URI      add the OpenMediaVault first-boot layer, installing
#                       openmediavault from this apt repository
#   --omv-suite NAME    its suite (default: sandworm, OMV 7 on bookworm)
#   --omv-keyring FILE  the repository's signing key (binary keyring)
#   --omv-trusted       no key: trust the repository (local test repos only)
#   --tree DIR          also write the files of DIR into the root (test
#                       overlays)
#
# On the first boot, veille-inject-setup registers the package with dpkg so
# its maintainer scripts (user, groups, config owner) run on the Pi itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"

config="" omv_repo="" omv_suite=sandworm omv_keyring="" omv_trusted=0 trees=()
while [ $# -gt 0 ]; do
	case $1 in
	--config) config=$2; shift 2 ;;
	--omv-repo) omv_repo=$2; shift 2 ;;
	--omv-suite) omv_suite=$2; shift 2 ;;
	--omv-keyring) omv_keyring=$2; shift 2 ;;
	--omv-trusted) omv_trusted=1; shift ;;
	--tree) trees+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) die "inject: unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -eq 3 ] || die "usage: inject.sh [--config F] [--omv-repo URI [--omv-keyring F|--omv-trusted]] [--tree DIR] BASE VEILLE.deb OUT"
base=$1 deb=$2 out=$3
[ -f "$base" ] || die "inject: no base image $base"
[ -f "$deb" ] || die "inject: no package $deb"
[ -z "$config" ] || [ -f "$config" ] || die "inject: no config file $config"
if [ -n "$omv_repo" ] && [ -z "$omv_keyring" ] && [ "$omv_trusted" -eq 0 ]; then
	die "inject: --omv-repo needs --omv-keyring FILE (or --omv-trusted for a local test repository)"
fi
need_tools debugfs:e2fsprogs e2fsck:e2fsprogs mcopy:mtools sfdisk:fdisk dpkg-deb:dpkg xz:xz-utils

stage "copy the base image"
mkdir -p "$(dirname "$out")"
case $base in
*.xz) xz -dc "$base" >"$out.part" ;;
*) cp --sparse=always "$base" "$out.part" ;;
esac
mv "$out.part" "$out"
stage_done

# The FAT boot and ext4 root partitions, from the dos partition table.
read -r boot_n root_n < <(sfdisk -d "$out" | awk -F'[:,]' '
	/^[^ ]+ : start=/ { n++; for (k = 2; k <= NF; k++) if ($k ~ /type=/) { t = $k; sub(/.*type= */, "", t)
		if ((t == "c" || t == "b" || t == "e") && !boot) boot = n
		if (t == "83" && !root) root = n } }
	END { print boot + 0, root + 0 }')
if [ "$boot_n" -eq 0 ] || [ "$root_n" -eq 0 ]; then die "inject: $base has no FAT + Linux partition pair (dos label expected)"; fi
root_off=$(part_offset "$out" "$root_n")
boot_off=$(part_offset "$out" "$boot_n")
rootfs="$out?offset=$root_off"
e2fsck -fn "$rootfs" >/dev/null 2>&1 || die "inject: the root filesystem of $base does not pass e2fsck -fn"

stage "stage the files"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
dpkg-deb -x "$deb" "$tree"
install -D -m 0644 "$deb" "$tree/var/cache/veille/veille.deb"
install -D -m 0755 "$here/rootfs/usr/lib/veille-image/import-config" "$tree/usr/lib/veille-image/import-config"
install -D -m 0755 "$here/inject/inject-setup" "$tree/usr/lib/veille-image/inject-setup"
install -D -m 0644 "$here/rootfs/etc/systemd/system/veille-import-config.service" "$tree/etc/systemd/system/veille-import-config.service"
install -D -m 0644 "$here/inject/veille-inject-setup.service" "$tree/etc/systemd/system/veille-inject-setup.service"
wants=$tree/etc/systemd/system/multi-user.target.wants
mkdir -p "$wants"
ln -s /usr/lib/systemd/system/veille.service "$wants/veille.service"
ln -s /etc/systemd/system/veille-import-config.service "$wants/veille-import-config.service"
ln -s /etc/systemd/system/veille-inject-setup.service "$wants/veille-inject-setup.service"
# Without polkit, logind and systemd obey root only: then veille runs as
# root (the less strict drop-in), and says why in the drop-in.
if ! debugfs -R "stat /usr/lib/polkit-1/polkitd" "$rootfs" 2>/dev/null | grep -q '^Inode:'; then
	printf 'image: %s has no polkitd: veille will run as root (drop-in 10-no-polkit.conf)\n' "$base" >&2
	{
		echo "# Written by make image-inject: this image had no polkitd, so logind and"
		echo "# systemd would refuse power-off and unit control to the veille user."
		echo "# Install polkitd and delete this file to run veille as its own user."
		cat "$here/../systemd/examples/less-strict.conf"
	} | install -D -m 0644 /dev/stdin "$tree/etc/systemd/system/veille.service.d/10-no-polkit.conf"
fi
if [ -n "$omv_repo" ]; then
	install -D -m 0755 "$here/inject/omv-install" "$tree/usr/lib/veille-image/omv-install"
	install -D -m 0644 "$here/inject/veille-omv-install.service" "$tree/etc/systemd/system/veille-omv-install.service"
	ln -s /etc/systemd/system/veille-omv-install.service "$wants/veille-omv-install.service"
	keyring=""
	if [ -n "$omv_keyring" ]; then
		keyring=/usr/share/keyrings/veille-omv-archive-keyring.gpg
		install -D -m 0644 "$omv_keyring" "$tree$keyring"
	fi
	printf 'OMV_REPO=%s\nOMV_SUITE=%s\nOMV_KEYRING=%s\n' "$omv_repo" "$omv_suite" "$keyring" |
		install -D -m 0644 /dev/stdin "$tree/etc/veille-image/omv.conf"
fi
for t in "${trees[@]}"; do
	tar -c --owner=0 --group=0 -C "$t" . | tar -x -p --no-same-owner -C "$tree"
done
stage_done "$(find "$tree" -type f | wc -l) files"

stage "write the root filesystem (debugfs)"
"$here/ext4put.sh" --keep /etc/veille/veille.toml "$rootfs" "$tree"
e2fsck -fn "$rootfs" >/dev/null 2>&1 || die "inject: the root filesystem does not pass e2fsck -fn after writing"
stage_done

if [ -n "$config" ]; then
	stage "config onto the boot partition (mtools)"
	MTOOLS_SKIP_CHECK=1 mcopy -o -i "$out@@$boot_off" "$config" ::veille.toml
	stage_done
fi
echo "$out"
