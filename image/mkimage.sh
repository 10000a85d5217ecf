#!/usr/bin/env bash
# mkimage.sh DIR IMG: a partitioned SD-card image of the tree DIR, without
# loop devices or mounts:
#   p1  FAT32 "RASPIFIRM" at 4 MiB (Pi firmware, kernel, config.txt),
#       built with mkfs.vfat -C and filled with mcopy
#   p2  ext4 "RASPIROOT" (the rest), built with mkfs.ext4 -d, sized to the
#       tree plus headroom; the first boot grows it to the card
# The partitions are made as files and written into the image with dd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"
dir=${1:?usage: mkimage.sh DIR IMG}
img=${2:?usage: mkimage.sh DIR IMG}
boot_mib=${IMAGE_BOOT_MIB:-256}
[ -f "$dir/boot/firmware/config.txt" ] || die "$dir/boot/firmware/config.txt missing: not an image tree"

work=$(mktemp -d "${img%/*}/.mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Boot partition.
export MTOOLS_SKIP_CHECK=1
mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -s -p -m -i "$work/boot.img" "$dir"/boot/firmware/* ::/
fsck.vfat -n "$work/boot.img" >/dev/null || die "the boot partition does not pass fsck.vfat"

# Root partition: the tree without the boot files (they are on p1 and
# mounted over /boot/firmware).
mkdir "$work/bootfw"
mv "$dir"/boot/firmware/* "$work/bootfw/"
restore() { mv "$work"/bootfw/* "$dir/boot/firmware/" 2>/dev/null || true; rm -rf "$work"; }
trap restore EXIT
used_mib=$(du -s -x --block-size=1M "$dir" | cut -f1)
# Headroom: 25% + 256 MiB (journal, inodes, apt's first update). Rounded to
# 4 MiB so the next partition boundary stays aligned.
root_mib=$(((used_mib * 125 / 100 + 256 + 3) / 4 * 4))
truncate -s "${root_mib}M" "$work/root.img"
mkfs.ext4 -q -L RASPIROOT -d "$dir" -E root_owner=0:0 "$work/root.img"
e2fsck -fn "$work/root.img" >/dev/null 2>&1 || die "the root filesystem does not pass e2fsck"

# Partition table and assembly.
start1=8192 # 4 MiB in 512-byte sectors
size1=$((boot_mib * 2048))
start2=$((start1 + size1))
size2=$((root_mib * 2048))
rm -f "$img"
truncate -s $(((start2 + size2) * 512)) "$img"
sfdisk --quiet "$img" <<PT
label: dos
unit: sectors
start=$start1, size=$size1, type=c, bootable
start=$start2, size=$size2, type=83
PT
dd if="$work/boot.img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((start2 / 2048)) conv=notrunc,sparse status=none
printf 'image: %s: boot %d MiB, root %d MiB (%d MiB used)\n' "$img" "$boot_mib" "$root_mib" "$used_mib" >&2
