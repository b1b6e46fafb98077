#!/usr/bin/env bash
# Booting from a virtio-blk disk under SeaBIOS: a raw disk whose MBR boot sector prints through
# the video BIOS and COM1, and a disk with GRUB (boot.img + core.img with a memdisk) whose menu
# auto-boots the hello guest after 30 s (it powers off: vmm exits 0).
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm disk.bootsector || exit 0
media_ready disk.bootsector disk-bootsector.img || exit 0

out=$WORK/76.out
vmm_start $((SEABIOS_WAIT + 10)) "$out" --memory 64M --disk build/media/disk-bootsector.img,readonly=on
if wait_for_vmm "$out" "vmm: booted from disk" "$SEABIOS_WAIT"; then
    pass disk.bootsector
else
    fail disk.bootsector "no 'vmm: booted from disk' on serial within ${SEABIOS_WAIT}s: $(tail_of "$out")"
fi
vmm_kill

if [ ! -s build/media/grub-disk.img ]; then
    skip disk.grub "build/media/grub-disk.img not built (needs grub-pc-bin)"
    exit 0
fi
out=$WORK/76.grub.out
vmm_start $((SEABIOS_WAIT + 90)) "$out" --memory 128M --disk build/media/grub-disk.img,readonly=on
if ! wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"; then
    fail disk.grub "no GRUB menu from the disk within ${SEABIOS_WAIT}s: $(tail_of "$out")"
    vmm_kill
elif ! wait_for_vmm "$out" "hello: vmm guest up (multiboot)" 60; then
    fail disk.grub "menu shown, but no auto-boot of the hello guest: $(tail_of "$out")"
    vmm_kill
else
    vmm_wait 30
    if [ "$status" -eq 0 ]; then pass disk.grub; else fail disk.grub "guest up, exit status $status"; fi
fi
