#!/usr/bin/env bash
# Device-level virtio-blk benchmark beside fio, in one run on the same 1 GiB file (O_DIRECT, libaio):
# the in-process harness (tests/harness/vblk.c: real device model, real raw backend, the device on
# its own thread and interrupts through MSI-X as in a VM) against fio with the same job shapes.
# Also: userspace instructions per request on the device side, from callgrind. qcow2 beside raw, with
# QEMU's own block layer: tests/bench/qcow2.sh.
set -u
cd "$(dirname "$0")/../.."
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-3}   # vmm and fio alternate, medians reported: the shared disk swings +-15% run to run
IMG=${BENCH_IMG:-/var/tmp/vmm-bench.img}
make -s build/bench/blk_bench || exit 1
if [ ! -s "$IMG" ] || [ "$(stat -c %s "$IMG")" -ne $((1 << 30)) ]; then
    dd if=/dev/urandom of="$IMG" bs=1M count=1024 status=none
fi
WORK_V=$(mktemp); WORK_F=$(mktemp)
trap 'rm -f "$WORK_V" "$WORK_F"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
printf '%-22s %12s %12s %8s\n' job "vmm IOPS" "fio IOPS" "ratio"
for job in "randread 4096 32" "randwrite 4096 32" "read 1048576 8" "write 1048576 8"; do
    set -- $job
    : >"$WORK_V"; : >"$WORK_F"
    for _ in $(seq "$ROUNDS"); do
        build/bench/blk_bench "$IMG" "$1" "$2" "$3" "$SECS" | sed -n 's/.*iops=\([0-9]*\).*/\1/p' >>"$WORK_V"
        fio --name=j --filename="$IMG" --direct=1 --ioengine=libaio --rw="$1" --bs="$2" --iodepth="$3" \
            --runtime="$SECS" --time_based --output-format=terse --terse-version=3 2>/dev/null |
            awk -F';' '{ if ($8 > 0) print $8; else print $49 }' >>"$WORK_F"
    done
    vmm=$(median <"$WORK_V")
    fio=$(median <"$WORK_F")
    ratio=$(awk -v a="$vmm" -v b="$fio" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    mbps=$(awk -v a="$vmm" -v bs="$2" 'BEGIN { printf "%.0f", a * bs / 1e6 }')
    fmbps=$(awk -v a="$fio" -v bs="$2" 'BEGIN { printf "%.0f", a * bs / 1e6 }')
    printf '%-22s %12s %12s %8s   (MB/s: vmm %s, fio %s)\n' "$1 bs=$2 qd=$3" "$vmm" "$fio" "$ratio" "$mbps" "$fmbps"
done
if command -v valgrind >/dev/null; then
    n=20000
    ir=$(BLK_BENCH_SINGLE_THREAD=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect=on_kick --toggle-collect=on_completion \
        build/bench/blk_bench "$IMG" randread 4096 32 600 $n 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "device-side userspace instructions per 4k read request (callgrind): $((ir / n))"
fi
