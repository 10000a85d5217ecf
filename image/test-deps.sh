#!/usr/bin/env bash
# test-deps.sh: installs what `make image-test` needs when missing (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/lib.sh
source "$here/lib.sh"
need_tools qemu-system-aarch64:qemu-system-arm mcopy:mtools debugfs:e2fsprogs sfdisk:fdisk \
	dpkg-deb:dpkg apt-ftparchive:apt-utils gpg:gpg xz:xz-utils
