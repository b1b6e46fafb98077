#!/usr/bin/env bash
# Builds a bootable raw disk for `make check-linux`: an MBR with GRUB's boot.img, GRUB's core.img
# in the gap before sector 2048, and one ext4 partition (mke2fs -d, no loop devices, no mounts)
# holding Debian's kernel, an initramfs and grub.cfg (serial console).
# Usage: tests/media/linux-disk.sh OUT.img KERNEL INITRD [KERNEL-ARGS]. Packages: grub-pc-bin, e2fsprogs.
set -eu
out=$1 kernel=$2 initrd=$3 args=${4:-console=ttyS0}
GRUB_PC=/usr/lib/grub/i386-pc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/boot/grub"
cp "$kernel" "$tmp/root/boot/vmlinuz"
cp "$initrd" "$tmp/root/boot/initrd.img"
cat >"$tmp/root/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=1
menuentry "Debian kernel (vmm check-linux)" {
    echo "Loading Linux"
    linux /boot/vmlinuz $args
    initrd /boot/initrd.img
}
CFG
fs_mib=$(( ($(du -sm "$tmp/root" | cut -f1) + 16) ))
mke2fs -q -F -t ext4 -L vmmroot -d "$tmp/root" "$tmp/fs.img" "${fs_mib}M"
grub-mkimage -O i386-pc -d "$GRUB_PC" -p '(hd0,msdos1)/boot/grub' -o "$tmp/core.img" \
    biosdisk part_msdos ext2 normal linux serial terminal echo configfile
core_sectors=$(( ($(stat -c %s "$tmp/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || { echo "core.img ($core_sectors sectors) does not fit before sector 2048" >&2; exit 1; }
sectors=$((fs_mib * 2048))
truncate -s 1M "$tmp/disk.img"
dd if="$GRUB_PC/boot.img" of="$tmp/disk.img" bs=440 count=1 conv=notrunc status=none
# One MBR entry: type 0x83 from LBA 2048, CHS fields saying "use LBA", size in sectors (little endian).
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
{ printf '\x00\x20\x21\x00\x83\xfe\xff\xff\x00\x08\x00\x00'; le32 $sectors; } |
    dd of="$tmp/disk.img" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$tmp/disk.img" bs=1 seek=510 conv=notrunc status=none
dd if="$tmp/core.img" of="$tmp/disk.img" bs=512 seek=1 conv=notrunc status=none
cat "$tmp/fs.img" >>"$tmp/disk.img"
mv "$tmp/disk.img" "$out"
