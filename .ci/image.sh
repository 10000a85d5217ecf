#!/usr/bin/env bash
# CI stage "image": builds the Raspberry Pi SD-card image and boots it under
# QEMU (make image, make image-test). Runs as root on Debian 12 (2 cores);
# installs what it needs with apt-get. The package-install part of the image
# is cached in image/cache/ (keep that directory between runs to save about
# 10 minutes); the rest is rebuilt every time. Timings: BENCHMARKS.md,
# "Image build and boot test".
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stage() { echo "== image: $1 ($(($(date +%s) - start))s)"; }
stage "make image"
make image
stage "make image-test"
make image-test
stage "done"
