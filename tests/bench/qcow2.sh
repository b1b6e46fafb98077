#!/usr/bin/env bash
# qcow2 beside raw, fio and QEMU's own block layer, in one run on the same data (1 GiB, O_DIRECT where
# the path has it): 4k random read and write at queue depth 32 through vmm's virtio-blk harness on a
# raw file and on qcow2 images (fully allocated; an overlay on a raw backing file), fio on the raw
# file as the host's limit, and `qemu-img bench` (aio=native, cache=none) on the same qcow2 image.
set -u
cd "$(dirname "$0")/../.."
SECS=${SECS:-4}
D=${BENCH_DIR:-/var/tmp}
RAW=$D/vmm-bench.img
make -s build/bench/blk_bench || exit 1
command -v qemu-img >/dev/null || { echo "qcow2 bench: qemu-img (qemu-utils) is needed"; exit 1; }
[ -s "$RAW" ] || dd if=/dev/urandom of="$RAW" bs=1M count=1024 status=none
qemu-img convert -f raw -O qcow2 "$RAW" "$D/vmm-bench.qcow2"
rm -f "$D/vmm-bench-overlay.qcow2"
qemu-img create -q -f qcow2 -b "$RAW" -F raw "$D/vmm-bench-overlay.qcow2"

iops_vmm() { build/bench/blk_bench "$1" "$2" 4096 32 "$SECS" | sed -n 's/.*iops=\([0-9]*\).*/\1/p'; }
iops_fio() {
    fio --name=j --filename="$RAW" --direct=1 --ioengine=libaio --rw="$1" --bs=4k --iodepth=32 --runtime="$SECS" \
        --time_based --output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{ if ($8 > 0) print $8; else print $49 }'
}
iops_qemu() { # IMAGE rw -> IOPS from "Run completed in S seconds" for a fixed count
    local n=40000 w=""
    [ "$2" = randwrite ] && w=-w
    local s
    s=$(qemu-img bench -q -f qcow2 -t none -i native -d 32 -s 4096 -c $n $w "$1" 2>/dev/null |
        sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    awk -v n=$n -v s="$s" 'BEGIN { if (s > 0) printf "%d", n / s; else print "n/a" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else print "n/a" }'; }

printf '%-10s %10s %12s %14s %15s %12s\n' job "fio raw" "vmm raw" "vmm qcow2" "vmm qcow2+bk" "qemu-img qcow2"
for rw in randread randwrite; do
    f=$(iops_fio $rw); r=$(iops_vmm "$RAW" $rw); q=$(iops_vmm "$D/vmm-bench.qcow2" $rw)
    o=$(iops_vmm "$D/vmm-bench-overlay.qcow2" $rw); b=$(iops_qemu "$D/vmm-bench.qcow2" $rw)
    printf '%-10s %10s %12s %14s %15s %12s\n' $rw "$f" "$r ($(ratio "$r" "$f"))" "$q ($(ratio "$q" "$f"))" \
        "$o ($(ratio "$o" "$f"))" "$b ($(ratio "$b" "$f"))"
done
echo "(IOPS, 4k, QD 32; in brackets the ratio to fio on the raw file)"
rm -f "$D/vmm-bench.qcow2" "$D/vmm-bench-overlay.qcow2"
