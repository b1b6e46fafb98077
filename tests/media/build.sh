#!/usr/bin/env bash
# Builds every boot medium the firmware-path tests use into build/media/ (each step idempotent):
# grub.iso, grub-noboot-mbr.iso, installer.iso, disk-bootsector.img, grub-disk.img.
# Run from the repository root: tests/media/build.sh
set -eu
cd "$(dirname "$0")/../.."
bash tests/media/grub-iso.sh
bash tests/media/installer-iso.sh
bash tests/media/disk-images.sh
