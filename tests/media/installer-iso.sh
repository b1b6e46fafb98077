#!/usr/bin/env bash
# Builds build/media/installer.iso the way Debian builds its netboot mini ISO: isolinux with the
# installer's graphical boot menu (vesamenu, boot-screens/ from debian-installer-12-netboot-amd64),
# the installer kernel and initrd, an isohybrid MBR. One entry is added to the stock menu,
# "vmm test guest" (tests/media/vmmtest.cfg, second row), which boots the hello guest via
# mboot.c32. The speech-synthesis menu's 30 s auto-boot is turned off (timeout 0): loading the
# 40 MB initrd through BIOS calls takes minutes, so the tests never boot the installer itself.
# Debian packages: isolinux syslinux-common xorriso debian-installer-12-netboot-amd64.
# Idempotent; run from the repo root.
. tests/media/common.sh
media_need xorriso xorriso
media_guests
DI=/usr/lib/debian-installer/images/12/amd64
ISOLINUX=/usr/lib/ISOLINUX
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
out=$MEDIA/installer.iso

netboot=""
for flavour in gtk text; do
    if [ -f "$DI/$flavour/debian-installer/amd64/boot-screens/menu.cfg" ]; then
        netboot=$DI/$flavour
        break
    fi
done
[ -n "$netboot" ] || media_die "no netboot tree under $DI: apt-get install debian-installer-12-netboot-amd64"
[ -f "$ISOLINUX/isolinux.bin" ] || media_die "$ISOLINUX/isolinux.bin missing: apt-get install isolinux"
[ -f "$SYSLINUX_BIOS/mboot.c32" ] || media_die "$SYSLINUX_BIOS missing: apt-get install syslinux-common"

inputs=(tests/media/installer-iso.sh tests/media/vmmtest.cfg "$GUESTS/hello.elf" "$netboot/version.info"
    "$ISOLINUX/isolinux.bin")
media_fresh "$out" "${inputs[@]}" && exit 0

tree=$MEDIA/installer-tree
screens=$tree/debian-installer/amd64/boot-screens
rm -rf "$tree"
mkdir -p "$tree"
# The netboot tree with its paths (debian-installer/amd64/...), relative to isolinux.bin's directory.
cp -rL "$netboot/debian-installer" "$tree/"
rm -f "$tree"/debian-installer/amd64/*.efi "$tree"/debian-installer/amd64/pxelinux.0
rm -rf "$tree/debian-installer/amd64/pxelinux.cfg" "$tree/debian-installer/amd64/grub"
cp "$netboot/version.info" "$tree/"
# isolinux and its modules from one syslinux build (modules must match isolinux.bin's version).
cp "$ISOLINUX/isolinux.bin" "$SYSLINUX_BIOS/ldlinux.c32" "$tree/"
for module in ldlinux vesamenu libcom32 libutil mboot; do
    cp "$SYSLINUX_BIOS/$module.c32" "$screens/"
done
# The netboot PXE configuration is the ISO's isolinux.cfg, as in Debian's mini ISO.
{
    cat "$netboot/debian-installer/amd64/pxelinux.cfg/default"
    echo "# vmm tests: no auto-boot of the installer (the speech menu's timeout 300)"
    echo "timeout 0"
} >"$tree/isolinux.cfg"
# The added entry, second row: right after the stock text "Install" entry.
cp tests/media/vmmtest.cfg "$screens/vmmtest.cfg"
sed -i 's|^include debian-installer/amd64/boot-screens/txt.cfg$|&\ninclude debian-installer/amd64/boot-screens/vmmtest.cfg|' \
    "$screens/menu.cfg"
grep -q vmmtest.cfg "$screens/menu.cfg" || media_die "menu.cfg of $netboot has no txt.cfg include to follow"
mkdir -p "$tree/vmm"
cp "$GUESTS/hello.elf" "$tree/vmm/hello.elf"

xorriso -as mkisofs -r -J -V "Debian 12 amd64 n vmm" -isohybrid-mbr "$ISOLINUX/isohdpfx.bin" \
    -b isolinux.bin -c boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    -o "$out.tmp" "$tree" >"$MEDIA/installer-iso.log" 2>&1 ||
    media_die "xorriso failed: $(tail -n 3 "$MEDIA/installer-iso.log" | tr '\n' '|')"
mv "$out.tmp" "$out"
rm -rf "$tree"
echo "media: $out"
