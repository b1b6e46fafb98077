#!/usr/bin/env bash
# qcow2 compatibility with Debian's qemu-img, both ways, through vmm's virtio-blk and a guest driver:
# images qemu-img makes (plain, with a backing file, compressed) read back with the host's checksum;
# what the guest writes passes `qemu-img check` and reads back identically through `qemu-img
# convert`; SeaBIOS boots a qcow2 overlay whose backing file holds a GRUB disk.
set -u
. tests/lib.sh
need_kvm qcow2.guest || exit 0
if ! command -v qemu-img >/dev/null; then
    for t in plain backing compressed write-check seabios-boot; do skip qcow2.guest.$t "qemu-img (qemu-utils) is not installed"; done
    exit 0
fi

raw=$WORK/base.raw
head -c $((2 << 20)) /dev/urandom >"$raw"
sum=$(cksum <"$raw" | cut -d' ' -f1)
qemu-img convert -f raw -O qcow2 "$raw" "$WORK/plain.qcow2"
qemu-img create -q -f qcow2 -b base.raw -F raw "$WORK/overlay.qcow2"        # relative backing path
qemu-img convert -c -f raw -O qcow2 "$raw" "$WORK/compressed.qcow2"

read_case() { # NAME IMAGE
    local out=$WORK/$1.out
    run_vmm 120 "$out" run --kernel "$GUESTS/vblk.elf" --memory 128M --disk "$2,readonly=on"
    if [ $status -eq 0 ] && has_line "$out" "sectors 4096 cksum $sum"; then
        pass "qcow2.guest.$1"
    else
        fail "qcow2.guest.$1" "exit $status, wanted cksum $sum: $(grep 'vblk:' "$out" | tail -n 2 | tr '\n' '|')"
    fi
}
read_case plain "$WORK/plain.qcow2"
read_case backing "$WORK/overlay.qcow2"
read_case compressed "$WORK/compressed.qcow2"

# The guest writes its last sector into the overlay (copy-on-write from the raw base).
out=$WORK/write.out
run_vmm 120 "$out" run --kernel "$GUESTS/vblk.elf" --memory 128M --disk "$WORK/overlay.qcow2"
qemu-img check -q "$WORK/overlay.qcow2" >"$WORK/check.out" 2>&1
crc=$?
qemu-img convert -O raw "$WORK/overlay.qcow2" "$WORK/overlay.raw"
if [ $status -eq 0 ] && [ $crc -eq 0 ] && [ "$(tail -c 512 "$WORK/overlay.raw" | head -c 16)" = "vmm-vblk-write-0" ] &&
    cmp -s <(head -c $(((2 << 20) - 512)) "$WORK/overlay.raw") <(head -c $(((2 << 20) - 512)) "$raw") &&
    [ "$(cksum <"$raw" | cut -d' ' -f1)" = "$sum" ]; then
    pass qcow2.guest.write-check
else
    fail qcow2.guest.write-check "exit $status, qemu-img check $crc: $(tr '\n' '|' <"$WORK/check.out")"
fi

# SeaBIOS boots a qcow2 overlay on a GRUB disk (tests/media/disk-images.sh) and GRUB boots the guest.
if [ -s build/media/grub-disk.img ] || tests/media/disk-images.sh >/dev/null 2>&1; then
    qemu-img convert -f raw -O qcow2 build/media/grub-disk.img "$WORK/grub-base.qcow2"
    qemu-img create -q -f qcow2 -b "$WORK/grub-base.qcow2" -F qcow2 "$WORK/grub-overlay.qcow2"
    out=$WORK/boot.out
    run_vmm 240 "$out" run --memory 128M --disk "$WORK/grub-overlay.qcow2"
    if [ $status -eq 0 ] && has_line "$out" "hello: vmm guest up (multiboot)"; then
        pass qcow2.guest.seabios-boot
    else
        fail qcow2.guest.seabios-boot "exit $status: $(tail -n 3 "$out" | tr '\n' '|')"
    fi
else
    fail qcow2.guest.seabios-boot "cannot build build/media/grub-disk.img (tests/media/disk-images.sh)"
fi
