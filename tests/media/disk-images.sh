#!/usr/bin/env bash
# Builds build/media/disk-bootsector.img (1 MiB raw disk whose MBR is tests/media/bootsector.S)
# and build/media/grub-disk.img (4 MiB raw disk, one partition from sector 2048, GRUB's boot.img
# in the MBR and a core.img in the gap after it that carries its own memdisk with grub.cfg and
# the hello guest: no loop devices, no grub-install). Debian packages: binutils, grub-pc-bin,
# grub-common. Idempotent; run from the repo root.
. tests/media/common.sh
media_need as binutils
media_need ld binutils
media_need objcopy binutils

build_bootsector() {
    local out=$MEDIA/disk-bootsector.img tmp=$MEDIA/bootsector
    media_fresh "$out" tests/media/bootsector.S tests/media/disk-images.sh && return 0
    mkdir -p "$tmp"
    as --32 -o "$tmp/bootsector.o" tests/media/bootsector.S || media_die "as failed on bootsector.S"
    ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/bootsector.bin" "$tmp/bootsector.o" ||
        media_die "ld failed on bootsector.o"
    [ "$(stat -c %s "$tmp/bootsector.bin")" = 512 ] || media_die "boot sector is not 512 bytes"
    cp "$tmp/bootsector.bin" "$out.tmp"
    truncate -s 1M "$out.tmp"
    mv "$out.tmp" "$out"
    echo "media: $out"
}

# GRUB for BIOS (i386-pc): boot.img reads core.img from sector 1 (its default kernel sector);
# core.img's first sector (diskboot) lists the rest from sector 2 on, as grub-mkimage writes it.
build_grub_disk() {
    local out=$MEDIA/grub-disk.img tmp=$MEDIA/grub-disk GRUB_PC=/usr/lib/grub/i386-pc
    command -v grub-mkimage >/dev/null && [ -f "$GRUB_PC/boot.img" ] || {
        echo "media: grub-disk.img skipped: grub-pc-bin not installed" >&2
        return 0
    }
    media_guests
    media_fresh "$out" tests/media/grub.cfg tests/media/disk-images.sh "$GUESTS/hello.elf" && return 0
    rm -rf "$tmp"
    mkdir -p "$tmp/memdisk/boot/grub"
    # The disk boots its default entry by itself (the ISO's menu waits for keys).
    sed 's/^set timeout=-1$/set timeout=1/' tests/media/grub.cfg >"$tmp/memdisk/boot/grub/grub.cfg"
    cp "$GUESTS/hello.elf" "$tmp/memdisk/boot/hello.elf"
    tar -C "$tmp/memdisk" --format=ustar -cf "$tmp/memdisk.tar" boot
    grub-mkimage -O i386-pc -d "$GRUB_PC" -p '(memdisk)/boot/grub' -m "$tmp/memdisk.tar" \
        -o "$tmp/core.img" biosdisk part_msdos memdisk tar normal multiboot serial terminal echo \
        sleep configfile || media_die "grub-mkimage failed"
    local core_sectors=$(( ($(stat -c %s "$tmp/core.img") + 511) / 512 ))
    [ "$core_sectors" -lt 2047 ] || media_die "core.img ($core_sectors sectors) does not fit before sector 2048"
    truncate -s 4M "$tmp/disk.img"
    # The boot code only (440 bytes) of boot.img, then a partition table of one entry (MBR:
    # type 0x83, LBA 2048 to the end, CHS fields saying "use LBA") and the 0x55AA signature.
    dd if="$GRUB_PC/boot.img" of="$tmp/disk.img" bs=440 count=1 conv=notrunc status=none
    printf '\x00\x20\x21\x00\x83\xfe\xff\xff\x00\x08\x00\x00\x00\x18\x00\x00' |
        dd of="$tmp/disk.img" bs=1 seek=446 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$tmp/disk.img" bs=1 seek=510 conv=notrunc status=none
    dd if="$tmp/core.img" of="$tmp/disk.img" bs=512 seek=1 conv=notrunc status=none
    mv "$tmp/disk.img" "$out"
    rm -rf "$tmp"
    echo "media: $out"
}

build_bootsector
build_grub_disk
