#!/usr/bin/env bash
# Side-by-side boot benchmark: vmm, QEMU (pc and microvm, -bios) and, if on PATH, kvmtool (lkvm),
# on the same guest program. Reports medians of RUNS runs and vmm/QEMU ratios:
#   first byte: ms from exec to the guest's first serial byte ('B' from the reset vector or PVH entry)
#   exit:       ms from exec to process exit after guest poweroff
#   RSS:        peak resident set of the VMM process (guest touches < 1 MiB of its 64 MiB)
#   exit cost:  (exit time of the 100k-OUT guest - exit time of the 0-OUT guest) / 100000
#   Ir/exit:    userspace instructions per port-I/O exit from callgrind, same difference / 100000
# These machines are shared and noisy: read the ratios, not the absolute times.
set -u
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
B=build/bench
mkdir -p "$B"
cc -O2 -Wall -Wextra -Werror -o "$B/timeit" tests/bench/timeit.c || exit 1
G=build/guest
QEMU=$(command -v qemu-system-x86_64)
QEMU_COMMON="-accel kvm -m 64 -display none -serial stdio -nodefaults -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4"

declare -A CMD
CMD[vmm-firmware]="build/vmm run --firmware @ROM@ --memory 64M"
CMD[vmm-pvh]="build/vmm run --kernel @ELF@ --memory 64M"
[ -n "$QEMU" ] && CMD[qemu-pc]="$QEMU -M pc $QEMU_COMMON -bios @ROM@"
[ -n "$QEMU" ] && CMD[qemu-microvm]="$QEMU -M microvm $QEMU_COMMON -bios @ROM@"
command -v lkvm >/dev/null && CMD[kvmtool]="lkvm run --firmware @ROM@ -m 64 -c 1"
ORDER="vmm-firmware vmm-pvh qemu-pc qemu-microvm kvmtool"

cmd_for() { # NAME GUEST
    local c=${CMD[$1]}
    c=${c//@ROM@/$G/$2.rom}
    echo "${c//@ELF@/$G/$2.elf}"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }

measure() { # NAME GUEST -> "first exit rss" medians
    local f=$B/$1.$2.runs
    : >"$f"
    for _ in $(seq "$RUNS"); do
        "$B/timeit" -o "$B/out.txt" $(cmd_for "$1" "$2") >>"$f" 2>/dev/null
    done
    local first exit rss
    first=$(sed -n 's/.*first_byte_ms=\([0-9.-]*\).*/\1/p' "$f" | median)
    exit=$(sed -n 's/.*exit_ms=\([0-9.]*\).*/\1/p' "$f" | median)
    rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' "$f" | median)
    echo "$first $exit $rss"
}

callgrind_ir() { # NAME GUEST
    valgrind --tool=callgrind --callgrind-out-file=/dev/null $(cmd_for "$1" "$2") </dev/null 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A FIRST EXIT RSS COST IR
for name in $ORDER; do
    [ -n "${CMD[$name]:-}" ] || continue
    read -r FIRST[$name] EXIT[$name] RSS[$name] < <(measure "$name" bench)
    read -r _ exit0 _ < <(measure "$name" bench0)
    COST[$name]=$(awk -v a="${EXIT[$name]}" -v b="$exit0" 'BEGIN {printf "%.2f", (a - b) * 1000 / 100000}')
    if command -v valgrind >/dev/null && [ "${BENCH_CALLGRIND:-1}" = 1 ]; then
        ir1=$(callgrind_ir "$name" bench); ir0=$(callgrind_ir "$name" bench0)
        IR[$name]=$(awk -v a="$ir1" -v b="$ir0" 'BEGIN {if (a && b) printf "%d", (a - b) / 100000; else print "n/a"}')
    else
        IR[$name]=n/a
    fi
done

printf '\n%-14s %14s %10s %10s %16s %10s\n' VMM "first byte ms" "exit ms" "RSS KiB" "us per I/O exit" "Ir/exit"
for name in $ORDER; do
    [ -n "${FIRST[$name]:-}" ] || continue
    printf '%-14s %14s %10s %10s %16s %10s\n' "$name" "${FIRST[$name]}" "${EXIT[$name]}" "${RSS[$name]}" "${COST[$name]}" "${IR[$name]}"
done
if [ -n "${FIRST[qemu-pc]:-}" ]; then :; fi
if [ -n "${FIRST[qemu-pc]:-}" ]; then
    echo
    awk -v a="${FIRST[vmm-firmware]}" -v b="${FIRST[qemu-pc]}" 'BEGIN {printf "first byte: vmm/qemu-pc = %.3f\n", a / b}'
    awk -v a="${RSS[vmm-firmware]}" -v b="${RSS[qemu-pc]}" 'BEGIN {printf "peak RSS:   vmm/qemu-pc = %.3f\n", a / b}'
    awk -v a="${COST[vmm-firmware]}" -v b="${COST[qemu-pc]}" 'BEGIN {if (b > 0) printf "I/O exit:   vmm/qemu-pc = %.3f\n", a / b}'
    [ "${IR[qemu-pc]}" != n/a ] && awk -v a="${IR[vmm-firmware]}" -v b="${IR[qemu-pc]}" 'BEGIN {if (b > 0) printf "Ir/exit:    vmm/qemu-pc = %.3f\n", a / b}'
fi

echo
echo "== virtio-blk device level (harness) beside fio"
[ "${BENCH_BLK:-1}" = 1 ] && tests/bench/blk.sh
echo
echo "== qcow2 beside raw, fio and qemu-img bench"
[ "${BENCH_BLK:-1}" = 1 ] && tests/bench/qcow2.sh
echo
echo "== firmware boot beside QEMU"
[ "${BENCH_FIRMWARE:-1}" = 1 ] && tests/bench/firmware.sh
