#!/usr/bin/env bash
# Builds build/media/grub.iso (grub-mkrescue: hybrid, El Torito + isohybrid MBR) and
# build/media/grub-noboot-mbr.iso (xorriso, El Torito only: grub-mkimage -O i386-pc-eltorito).
# Both hold tests/media/grub.cfg and the hello guest (booted with `multiboot`).
# Debian packages: grub-pc-bin grub-common xorriso mtools. Idempotent; run from the repo root.
. tests/media/common.sh
media_need grub-mkrescue "grub-pc-bin grub-common"
media_need grub-mkimage grub-common
media_need xorriso xorriso
media_guests
GRUB_PC=/usr/lib/grub/i386-pc
[ -d "$GRUB_PC" ] || media_die "$GRUB_PC missing: apt-get install grub-pc-bin"
inputs=(tests/media/grub.cfg tests/media/grub-iso.sh "$GUESTS/hello.elf")

# grub_tree DIR: the ISO contents shared by both images.
grub_tree() {
    rm -rf "$1"
    mkdir -p "$1/boot/grub"
    cp tests/media/grub.cfg "$1/boot/grub/grub.cfg"
    cp "$GUESTS/hello.elf" "$1/boot/hello.elf"
}

build_hybrid() {
    local tree=$MEDIA/grub-tree out=$MEDIA/grub.iso
    media_fresh "$out" "${inputs[@]}" && return 0
    grub_tree "$tree"
    grub-mkrescue --directory="$GRUB_PC" -o "$out.tmp" "$tree" -- -volid VMMTEST >"$MEDIA/grub-iso.log" 2>&1 ||
        media_die "grub-mkrescue failed: $(tail -n 3 "$MEDIA/grub-iso.log" | tr '\n' '|')"
    mv "$out.tmp" "$out"
    echo "media: $out"
}

# El Torito "no emulation" boot image with the boot info table GRUB's cdboot reads (no MBR).
build_eltorito_only() {
    local tree=$MEDIA/grub-noboot-mbr-tree out=$MEDIA/grub-noboot-mbr.iso
    media_fresh "$out" "${inputs[@]}" && return 0
    grub_tree "$tree"
    mkdir -p "$tree/boot/grub/i386-pc"
    cp "$GRUB_PC"/*.mod "$GRUB_PC"/*.lst "$tree/boot/grub/i386-pc/"
    grub-mkimage -O i386-pc-eltorito -d "$GRUB_PC" -p /boot/grub -o "$tree/boot/grub/eltorito.img" \
        biosdisk iso9660 normal multiboot serial terminal echo sleep configfile ||
        media_die "grub-mkimage failed"
    xorriso -as mkisofs -quiet -R -J -V VMMTEST -b boot/grub/eltorito.img -no-emul-boot \
        -boot-load-size 4 -boot-info-table -o "$out.tmp" "$tree" >"$MEDIA/grub-noboot-mbr.log" 2>&1 ||
        media_die "xorriso failed: $(tail -n 3 "$MEDIA/grub-noboot-mbr.log" | tr '\n' '|')"
    mv "$out.tmp" "$out"
    echo "media: $out"
}

build_hybrid
build_eltorito_only
