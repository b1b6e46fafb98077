#!/usr/bin/env bash
# virtio-blk under KVM with the project's guest driver (tests/guest/vblk.c), booted as PVH kernel
# and as firmware: the guest's checksum of each disk equals the host's, a block it writes is in the
# file after exit, a read-only disk rejects the write and stays unchanged, MSI-X interrupts arrive;
# also with a multi-queue device (two vCPUs, four queues: the driver uses queue 0 as the spec allows).
set -u
. tests/lib.sh
need_kvm virtio-blk || exit 0

vblk_case() { # NAME SERIAL BOOT-ARGS CACHE [MORE-DISK-OPTIONS]
    local name=$1 serial=$2 boot=$3 cache=$4 more=${5:-}
    local rw=$WORK/$name.rw.img ro=$WORK/$name.ro.img out=$WORK/$name.out
    head -c $((2 << 20)) /dev/urandom >"$rw"
    head -c $((1 << 20)) /dev/urandom >"$ro"
    local sum_rw sum_ro
    sum_rw=$(cksum <"$rw" | cut -d' ' -f1)
    sum_ro=$(cksum <"$ro" | cut -d' ' -f1)
    run_vmm 120 "$out" run $boot --memory 128M --disk "$rw,cache=$cache,serial=$serial$more" --disk "$ro,readonly=on"
    local why=""
    [ $status -eq 0 ] || why="exit status $status"
    has_line "$out" "vblk: disk 0 serial $serial sectors 4096 cksum $sum_rw" || why="$why; disk 0 checksum/serial differs from the host's ($sum_rw)"
    has_line "$out" "vblk: disk 1 serial vmm-disk1 sectors 2048 cksum $sum_ro" || why="$why; disk 1 checksum differs ($sum_ro)"
    has_line "$out" "vblk: disk 0 wrote last sector" || why="$why; no write"
    [ "$(tail -c 512 "$rw" | head -c 16)" = "vmm-vblk-write-0" ] || why="$why; the written sector is not in the file"
    has_line "$out" "vblk: disk 1 readonly write rejected status 1" || why="$why; read-only write not rejected"
    [ "$(cksum <"$ro" | cut -d' ' -f1)" = "$sum_ro" ] || why="$why; the read-only image changed"
    grep -q "vblk: disk 0 interrupts [1-9]" "$out" || why="$why; no MSI-X interrupts"
    has_line "$out" "vblk: done, 2 disks" || why="$why; not done"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "${why#; } -- $(tail -n 2 "$out" | tr '\n' '|')"; fi
}

vblk_case virtio-blk.pvh pvh-disk "--kernel $GUESTS/vblk.elf" writeback
vblk_case virtio-blk.firmware fw-disk "--firmware $GUESTS/vblk.rom" writeback
vblk_case virtio-blk.cache-none direct-disk "--kernel $GUESTS/vblk.elf" none
vblk_case virtio-blk.multiqueue mq-disk "--kernel $GUESTS/vblk.elf --cpus 2" none ",queues=4"

# Bad disk options: one clear line, exit 1, the image untouched.
out=$WORK/disk-missing.out
run_vmm 30 "$out" run --kernel "$GUESTS/vblk.elf" --disk "$WORK/nope.img"
if [ $status -eq 1 ] && grep -q "^vmm: error: disk image $WORK/nope.img does not exist" "$out"; then
    pass virtio-blk.missing-image
else
    fail virtio-blk.missing-image "exit $status: $(head -c 200 "$out")"
fi
run_vmm 30 "$out" run --kernel "$GUESTS/vblk.elf" --disk "$WORK/x.img,format=vmdk"
if [ $status -eq 1 ] && grep -q "^vmm: error: --disk format=vmdk is not supported" "$out"; then
    pass virtio-blk.bad-format
else
    fail virtio-blk.bad-format "exit $status: $(head -c 200 "$out")"
fi
