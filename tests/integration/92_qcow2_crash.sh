#!/usr/bin/env bash
# qcow2 crash safety: the vwrite guest (tests/guest/vwrite.c) writes pseudo-random sector ranges
# to a qcow2 disk and flushes every 8 writes; vmm is killed with SIGKILL at a random moment, ten
# times over the same image. After each kill `qemu-img check` must find no corruption (leaked
# clusters are allowed) and every sector must hold what the guest wrote and saw flushed, or a later
# write of its own (tests/integration/vwrite_check.py replays the guest's writes).
set -u
. tests/lib.sh
need_kvm qcow2.crash || exit 0
if ! command -v qemu-img >/dev/null; then
    skip qcow2.crash "qemu-img is not installed (Debian package qemu-utils, see tests/install-deps.sh)"
    exit 0
fi
if ! command -v python3 >/dev/null; then
    skip qcow2.crash "python3 is not installed"
    exit 0
fi

ROUNDS=10
FORMAT=${CRASH_FORMAT:-qcow2}   # raw only to try the checker without the qcow2 engine
CACHE=${CRASH_CACHE:-writeback} # none: data through O_DIRECT
FIRST_FLUSH_SECONDS=30
CHECKER=tests/integration/vwrite_check.py
img=$WORK/crash.$FORMAT
prev=""
vmm_pid=""
trap '[ -n "$vmm_pid" ] && kill -KILL "$vmm_pid" 2>/dev/null' EXIT

if [ "$FORMAT" = qcow2 ]; then
    qemu-img create -q -f qcow2 "$img" 64M
else
    rm -f "$img" && truncate -s 64M "$img"
fi

# wait_flushed LOG PID: until LOG has a complete "flushed" line; 1 if PID exits or time runs out.
wait_flushed() {
    local log=$1 pid=$2 i=0
    while [ $i -lt $((FIRST_FLUSH_SECONDS * 20)) ]; do
        grep -q "^vwrite: flushed up to seq [0-9]*"$'\r'"\?$" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# qemu_img OUT ARGS...: runs qemu-img; retried for up to 5 s while the image lock is still held.
# After SIGKILL the kernel can keep the image's open file (and its OFD lock) alive until the killed
# process's in-flight asynchronous I/O has finished, a moment after the process is reaped.
qemu_img() {
    local out=$1 i=0 rc
    shift
    while :; do
        qemu-img "$@" >"$out" 2>&1
        rc=$?
        grep -q 'Failed to get .*lock' "$out" && [ $i -lt 50 ] || return $rc
        sleep 0.1
        i=$((i + 1))
    done
}

# crash_round N: boots vwrite with seed=N, kills it 1-4 s after its first flush, checks the image.
crash_round() {
    local round=$1 name=qcow2.crash.round$1
    local log=$WORK/crash.$round.log out=$WORK/crash.$round.out raw=$WORK/crash.$round.raw
    local check_note=""
    : >"$log"
    "$VMM" run --kernel "$GUESTS/vwrite.elf" --append "seed=$round" --memory 128M \
        --disk "$img,format=$FORMAT,cache=$CACHE" --serial "file:$log" </dev/null >"$out" 2>&1 &
    vmm_pid=$!
    if ! wait_flushed "$log" "$vmm_pid"; then
        kill -KILL "$vmm_pid" 2>/dev/null
        wait "$vmm_pid" 2>/dev/null
        vmm_pid=""
        fail "$name" "no flushed write within ${FIRST_FLUSH_SECONDS} s: $(tail -n 2 "$out" "$log" | tr '\n' '|')"
        return
    fi
    local delay
    delay=$(printf '%d.%03d' $((1 + RANDOM % 3)) $((RANDOM % 1000)))
    sleep "$delay"
    if ! kill -0 "$vmm_pid" 2>/dev/null; then
        wait "$vmm_pid"
        local rc=$?
        vmm_pid=""
        fail "$name" "vmm exited by itself (status $rc) before the kill: $(tail -n 2 "$out" "$log" | tr '\n' '|')"
        return
    fi
    kill -KILL "$vmm_pid"
    wait "$vmm_pid" 2>/dev/null
    vmm_pid=""

    if [ "$FORMAT" = qcow2 ]; then
        local check_out=$WORK/crash.$round.check rc
        qemu_img "$check_out" check "$img"
        rc=$?
        # qemu-img check: 0 clean, 2 corruption, 3 leaked clusters only (harmless), else an error.
        if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
            fail "$name" "qemu-img check exit $rc after a kill ${delay} s after the first flush: $(head -n 4 "$check_out" | tr '\n' '|')"
            return
        fi
        check_note="; qemu-img check: $(grep -o '[0-9]* leaked clusters' "$check_out" || echo clean)"
        if ! qemu_img "$out.convert" convert -f qcow2 -O raw "$img" "$raw"; then
            fail "$name" "qemu-img convert failed: $(head -c 300 "$out.convert")"
            return
        fi
    else
        cp "$img" "$raw"
    fi

    local verdict
    if verdict=$(python3 "$CHECKER" --seed "$round" --log "$log" --image "$raw" ${prev:+--base "$prev"}); then
        pass "$name"
        echo "    killed ${delay} s after the first flush; $verdict$check_note"
        echo "$verdict" | sed -n 's/^flushed up to seq \([0-9]*\);.*/\1/p' >>"$WORK/crash.flushed"
    else
        fail "$name" "killed ${delay} s after the first flush: $verdict"
    fi
    [ -n "$prev" ] && rm -f "$prev"
    prev=$raw
}

: >"$WORK/crash.flushed"
for round in $(seq 1 $ROUNDS); do
    crash_round "$round"
done

# Progress: every round's guest got writes flushed before its kill.
rounds_flushed=$(grep -c . "$WORK/crash.flushed")
writes=$(awk '{ n += $1 } END { print n + 0 }' "$WORK/crash.flushed")
if [ "$rounds_flushed" -eq $ROUNDS ] && [ "$writes" -ge $((ROUNDS * 8)) ]; then
    pass qcow2.crash.progress
    echo "    $writes flushed writes over $ROUNDS rounds"
else
    fail qcow2.crash.progress "only $rounds_flushed of $ROUNDS rounds verified with flushed writes ($writes writes)"
fi
rm -f "$prev"
