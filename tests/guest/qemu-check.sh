#!/bin/bash
# Boots every test guest under QEMU (both as -bios ROM and as PVH -kernel) and checks its verdict
# lines: a reference run that does not need vmm. Usage: tests/guest/qemu-check.sh [tcg|kvm]
# Needs qemu-system-x86_64 (Debian: qemu-system-x86). Run from the repository root.
set -u
ACCEL=${1:-tcg}
BUILD=${BUILD:-build}
G=$BUILD/guest
QEMU=${QEMU:-qemu-system-x86_64}
pass=0
fail=0

if ! command -v "$QEMU" >/dev/null; then
    echo "qemu-check: $QEMU not found, skipped"
    exit 0
fi
make -s -f tests/guest/guest.mk BUILD="$BUILD" guests || exit 1

# feed TEXT: the guest's serial input, typed once it had time to boot (nothing if TEXT is empty).
feed() {
    if [ -n "$1" ]; then
        sleep 3
        printf '%s' "$1"
    fi
}

# run NAME MODE INPUT EXTRA-ARGS... : boots and leaves the serial output in $out.
run() {
    local name=$1 mode=$2 input=$3
    shift 3
    local boot
    if [ "$mode" = fw ]; then boot=(-bios "$G/$name.rom"); else boot=(-kernel "$G/$name.elf"); fi
    out=$(feed "$input" | timeout 120 "$QEMU" -accel "$ACCEL" -m 128 \
        -display none -serial stdio -monitor none \
        -device isa-debug-exit,iobase=0xf4,iosize=4 "${boot[@]}" "$@" 2>/dev/null | tr -d '\r')
}

# expect NAME MODE LINE... : every LINE must appear in $out (fixed string).
expect() {
    local name=$1 mode=$2
    shift 2
    local line
    for line in "$@"; do
        if ! grep -qF -- "$line" <<<"$out"; then
            echo "not ok $name ($mode): missing \"$line\""
            printf '%s\n' "$out" | tail -5 | sed 's/^/    /'
            fail=$((fail + 1))
            return
        fi
    done
    echo "ok $name ($mode)"
    pass=$((pass + 1))
}

for mode in fw pvh; do
    run hello $mode $'abc\r' -no-reboot
    # QEMU's -kernel takes a multiboot header before a PVH note, so "pvh" runs boot as multiboot.
    if [ $mode = fw ]; then up=firmware; else up=multiboot; fi
    expect hello $mode "hello: vmm guest up ($up)" "hello: type a line" "hello: got abc"

    run longmode $mode "" -no-reboot
    if [ $mode = fw ]; then
        expect longmode $mode "longmode: real mode entered" "longmode: protected mode" "longmode: long mode ok (cs=0x18"
    else
        expect longmode $mode "longmode: protected mode" "longmode: long mode ok (cs=0x18"
    fi

    run reset $mode ""
    expect reset $mode "reset: boot 1, resetting" "reset: boot 2, powering off"

    if [ "$ACCEL" = tcg ]; then
        run assist $mode "" -cpu max -no-reboot
        expect assist $mode "assist: iret32 ok" "assist: int3 ok" "assist: popcnt ok" "assist: cmpxchg16b ok" \
            "assist: fwait ok" "assist: iretq ok" "assist: all ok"
    else
        # QEMU has no emulation assist: where KVM's emulator runs guest ring 0 it stops at iret.
        echo "skip assist ($mode): needs TCG or vmm"
    fi

    run panic $mode "" -device pvpanic -action panic=exit-failure -no-reboot
    expect panic $mode "panic: signalling guest panic"

    run triple $mode "" -no-reboot
    expect triple $mode "triple: faulting"

    run bench $mode "" -no-reboot
    expect bench $mode "bench: 100000 port writes done"

    run bench0 $mode "" -no-reboot
    expect bench0 $mode "bench: 0 port writes done"
done

# Without ACPI (QEMU -bios has no tables): the fallbacks.
run hello pvh "" -append noinput -no-reboot
expect hello pvh-noinput "hello: vmm guest up (multiboot)" "hello: noinput"
run bench fw "" -no-reboot
if [ "${out:0:1}" = B ]; then echo "ok bench (fw): first byte B"; pass=$((pass + 1));
else echo "not ok bench (fw): first byte is not B"; fail=$((fail + 1)); fi
run smp fw "" -smp 2 -no-reboot
expect smp fw "smp: no MADT, assuming 1 cpu" "smp: 1 of 1 cpus up"
run acpi fw "" -no-reboot
expect acpi fw "acpi: FAIL no RSDP"

# PVH through SeaBIOS has ACPI tables: SMP and the table checks.
for n in 1 2 4; do
    run smp pvh "" -smp $n -no-reboot
    expect smp "pvh-smp$n" "smp: $n of $n cpus up"
done
run acpi pvh "" -smp 2 -no-reboot
expect acpi pvh "acpi: ok ("

# virtio: two disks (the second read-only) and user-mode networking, both boot paths. The ROM
# path has no firmware, so the runtime places the BARs itself (the 64-bit one at 32 GiB).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 1048576 /dev/urandom >"$tmp/d0.img"
head -c 2097152 /dev/urandom >"$tmp/d1.img"
sum0=$(cksum <"$tmp/d0.img" | cut -d' ' -f1)
sum1=$(cksum <"$tmp/d1.img" | cut -d' ' -f1)
for mode in fw pvh; do
    run vblk $mode "" -no-reboot \
        -device virtio-blk-pci,drive=d0,disable-legacy=on,serial=vblk0 \
        -drive if=none,id=d0,file="$tmp/d0.img",format=raw \
        -device virtio-blk-pci,drive=d1,disable-legacy=on \
        -drive if=none,id=d1,file="$tmp/d1.img",format=raw,readonly=on
    expect vblk $mode "vblk: disk 0 serial vblk0 sectors 2048 cksum $sum0" "vblk: disk 0 wrote last sector" \
        "vblk: disk 1 serial - sectors 4096 cksum $sum1" "vblk: disk 1 readonly write rejected status 1" \
        "vblk: done, 2 disks"
    if grep -q "interrupts 0" <<<"$out"; then echo "not ok vblk ($mode): no interrupts"; fail=$((fail + 1)); fi
    # The next run reads the sector written by this one.
    sum0=$(cksum <"$tmp/d0.img" | cut -d' ' -f1)

    run vnet $mode "" -no-reboot -device virtio-net-pci,netdev=n0,disable-legacy=on -netdev user,id=n0
    expect vnet $mode "vnet: peer 10.0.2.2 is at 52:55:0a:00:02:02" "vnet: ping 10.0.2.2 ok" "vnet: done"
done

echo "qemu-check: $pass passed, $fail failed"
[ $fail -eq 0 ]
