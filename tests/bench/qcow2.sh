#!/usr/bin/env bash
# Raw and qcow2 side by side, in one run on the same 1 GiB of data, O_DIRECT everywhere:
#   host     fio (libaio, direct) on the raw file: the limit
#   vmm      the in-process virtio-blk harness (tests/bench/blk_bench.c: real device model, real
#            engine, cache=none) on the raw file and on qcow2 images: fresh (empty, no backing file),
#            fully allocated (qemu-img convert -S 0 of the raw file), and an empty overlay on the raw
#            file as backing file
#   qemu     `qemu-img bench -t none -i native` (QEMU's own block layer) on the same images
# Jobs: 4k random read and write at queue depth 32, 1M sequential read and write at queue depth 8.
# The raw file and the allocated qcow2 are written anew at the start (this machine's disk writes
# into some files at half the speed of others, depending on where and when they were written), and
# fio also runs on the allocated qcow2 file itself, one job per data extent of it (no metadata is
# touched; the queue depth is split between them), as the host limit for that file ("fio same file").
# qemu-img bench has no random mode: its 4k jobs step through the disk by a large prime number of
# 4 KiB blocks, which touches the disk as scattered as random offsets do. Fresh and overlay images
# are made anew before every run. IOPS and MB/s are medians of ROUNDS runs of SECS seconds each;
# ratios are to the host (fio on the raw file), vmm qcow2 also to vmm raw and to qemu-img bench.
set -u
cd "$(dirname "$0")/../.."
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-3}
D=${BENCH_DIR:-/var/tmp}
RAW=$D/vmm-bench.img
ALLOC=$D/vmm-bench-alloc.qcow2
FRESH=$D/vmm-bench-fresh.qcow2
OVER=$D/vmm-bench-overlay.qcow2
make -s build/bench/blk_bench || exit 1
for tool in fio qemu-img; do
    command -v $tool >/dev/null || { echo "qcow2 bench: $tool is needed (bash tests/install-deps.sh --bench)"; exit 1; }
done
dd if=/dev/urandom of="$RAW" bs=1M count=1024 status=none
qemu-img convert -S 0 -f raw -O qcow2 "$RAW" "$ALLOC"
sync
WORK=$(mktemp -d)
trap 'rm -rf "$WORK" "$ALLOC" "$FRESH" "$OVER"' EXIT
# The host extents of the allocated image's data clusters ("HOST-OFFSET LENGTH" lines).
qemu-img map --output=json "$ALLOC" | sed -n 's/.*"length": *\([0-9]*\).*"data": *true.*"offset": *\([0-9]*\).*/\2 \1/p' \
    >"$WORK/extents"

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else print "n/a" }'; }
mbps() { awk -v i="$1" -v bs="$2" 'BEGIN { printf "%.0f", i * bs / 1e6 }'; }

image_of() { # KIND -> path, made anew for fresh and overlay
    case $1 in
    raw) echo "$RAW" ;;
    alloc) echo "$ALLOC" ;;
    fresh) rm -f "$FRESH"; qemu-img create -q -f qcow2 "$FRESH" 1G; echo "$FRESH" ;;
    overlay) rm -f "$OVER"; qemu-img create -q -f qcow2 -b "$RAW" -F raw "$OVER"; echo "$OVER" ;;
    esac
}

run_fio() { # FILE RW BS QD [fio options] -> IOPS
    local f=$1 rw=$2 bs=$3 qd=$4
    shift 4
    fio --name=j --filename="$f" --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" --iodepth="$qd" "$@" \
        --runtime="$SECS" --time_based --output-format=terse --terse-version=3 2>/dev/null |
        awk -F';' '{ if ($8 > 0) print $8; else print $49 }'
}

run_fio_extents() { # RW BS QD -> IOPS of fio on the allocated image's data extents together
    local n qd job=$WORK/extents.fio
    n=$(wc -l <"$WORK/extents")
    qd=$(( $3 / n > 0 ? $3 / n : 1 ))
    printf '[global]\nfilename=%s\ndirect=1\nioengine=libaio\nrw=%s\nbs=%s\niodepth=%s\nruntime=%s\ntime_based\ngroup_reporting\n' \
        "$ALLOC" "$1" "$2" "$qd" "$SECS" >"$job"
    local i=0
    while read -r off len; do
        printf '[e%d]\noffset=%s\nsize=%s\n' $i "$off" "$len" >>"$job"
        i=$((i + 1))
    done <"$WORK/extents"
    fio "$job" --output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{ if ($8 > 0) print $8; else print $49 }'
}

run_vmm() { # IMAGE RW BS QD -> IOPS
    build/bench/blk_bench "$1" "$2" "$3" "$4" "$SECS" | sed -n 's/.*iops=\([0-9]*\).*/\1/p'
}

run_qemu() { # IMAGE FORMAT RW BS QD EXPECTED-IOPS -> IOPS (a request count sized to take about SECS)
    local img=$1 fmt=$2 rw=$3 bs=$4 qd=$5 n
    n=$(awk -v e="$6" -v s="$SECS" 'BEGIN { n = int(e * s); if (n < 2000) n = 2000; print n }')
    local args=(-q -f "$fmt" -t none -i native -d "$qd" -s "$bs" -c "$n")
    case $rw in rand*) args+=(-S $((4096 * 104729))) ;; esac
    case $rw in *write) args+=(-w) ;; esac
    local s
    s=$(qemu-img bench "${args[@]}" "$img" 2>/dev/null | sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    awk -v n="$n" -v s="$s" 'BEGIN { if (s > 0) printf "%d\n", n / s; else print 0 }'
}

JOBS=("randread 4096 32" "randwrite 4096 32" "read 1048576 8" "write 1048576 8")
KINDS="raw fresh alloc overlay"
for job in "${JOBS[@]}"; do
    set -- $job
    rw=$1 bs=$2 qd=$3
    for _ in $(seq "$ROUNDS"); do
        run_fio "$RAW" "$rw" "$bs" "$qd" >>"$WORK/fio.$rw"
        run_fio_extents "$rw" "$bs" "$qd" >>"$WORK/fio-alloc.$rw"
        for k in $KINDS; do
            fmt=qcow2; [ $k = raw ] && fmt=raw
            v=$(run_vmm "$(image_of $k)" "$rw" "$bs" "$qd")
            echo "$v" >>"$WORK/vmm.$rw.$k"
            run_qemu "$(image_of $k)" $fmt "$rw" "$bs" "$qd" "${v:-0}" >>"$WORK/qemu.$rw.$k"
        done
    done
done

printf '%-18s %-8s %15s %15s %8s %7s %15s %9s %15s %9s %8s\n' job image "host fio (raw)" vmm vmm/host vmm/raw \
    "fio same file" vmm/same "qemu-img bench" qemu/host vmm/qemu
for job in "${JOBS[@]}"; do
    set -- $job
    rw=$1 bs=$2 qd=$3
    host=$(median <"$WORK/fio.$rw")
    vraw=$(median <"$WORK/vmm.$rw.raw")
    for k in $KINDS; do
        v=$(median <"$WORK/vmm.$rw.$k")
        q=$(median <"$WORK/qemu.$rw.$k")
        same=- same_ratio=-
        [ $k = raw ] && same=$host
        [ $k = alloc ] && same=$(median <"$WORK/fio-alloc.$rw")
        [ "$same" != - ] && { same_ratio=$(ratio "$v" "$same"); same="$same ($(mbps "$same" "$bs"))"; }
        label="$rw $([ "$bs" = 4096 ] && echo 4k || echo 1M) qd$qd"
        printf '%-18s %-8s %15s %15s %8s %7s %15s %9s %15s %9s %8s\n' "$label" $k "$host ($(mbps "$host" "$bs"))" \
            "$v ($(mbps "$v" "$bs"))" "$(ratio "$v" "$host")" "$(ratio "$v" "$vraw")" "$same" "$same_ratio" \
            "$q ($(mbps "$q" "$bs"))" "$(ratio "$q" "$host")" "$(ratio "$v" "$q")"
    done
done
echo "(IOPS (MB/s), medians of $ROUNDS runs of ${SECS} s; fresh: an empty qcow2, alloc: fully allocated,"
echo " overlay: an empty qcow2 on the raw file as backing file; reads of a fresh image touch no data)"
