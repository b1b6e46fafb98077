#!/usr/bin/env bash
# The project's own guest programs under KVM, booted both as firmware (real mode at the reset
# vector) and as a PVH kernel: serial I/O, long mode, ACPI, SMP, poweroff, reset, panic, triple fault.
set -u
. tests/lib.sh

modes="firmware kernel"
boot_args() { # MODE PROGRAM
    if [ "$1" = firmware ]; then echo "--firmware $GUESTS/$2.rom"; else echo "--kernel $GUESTS/$2.elf"; fi
}

# Serial output and input: the guest prints a prompt, reads a line, echoes it back, powers off.
test_hello() {
    local mode=$1 name="guest.hello.$1" out=$WORK/hello.$1.out fifo=$WORK/hello.$1.fifo
    need_kvm "$name" || return
    rm -f "$fifo"; mkfifo "$fifo"
    timeout -s KILL 60 "$VMM" run $(boot_args "$mode" hello) --memory 64M <"$fifo" >"$out" 2>&1 &
    local pid=$!
    exec 9>"$fifo"
    if wait_for "$out" "hello: type a line" 30; then
        printf 'line from the host\r' >&9
    fi
    exec 9>&-
    wait $pid
    local rc=$?
    if [ $rc -eq 0 ] && has_line "$out" "hello: got line from the host"; then
        pass "$name"
    else
        fail "$name" "exit $rc, output: $(tail -n 3 "$out" | tr '\n' '|')"
    fi
}

# Runs PROGRAM and checks the exit status and the lines it must print.
guest_case() { # NAME MODE PROGRAM EXPECTED-STATUS EXTRA-ARGS TEXT...
    local name=$1 mode=$2 prog=$3 want=$4 extra=$5
    shift 5
    need_kvm "$name" || return
    local out=$WORK/$name.out
    run_vmm 90 "$out" run $(boot_args "$mode" "$prog") --memory 64M $extra
    if [ "$status" -ne "$want" ]; then
        fail "$name" "exit status $status, wanted $want; output: $(tail -n 4 "$out" | tr '\n' '|')"
        return
    fi
    check_output "$name" "$out" "$@"
}

for mode in $modes; do
    test_hello "$mode"
    guest_case "guest.longmode.$mode" "$mode" longmode 0 "" "longmode: protected mode" "longmode: long mode ok"
    guest_case "guest.acpi.$mode" "$mode" acpi 0 "--cpus 2" "acpi: ok" "acpi: MADT 2 local APICs, 1 IOAPICs"
    guest_case "guest.smp1.$mode" "$mode" smp 0 "--cpus 1" "smp: 1 of 1 cpus up"
    guest_case "guest.smp4.$mode" "$mode" smp 0 "--cpus 4" "smp: cpu 3 up" "smp: 4 of 4 cpus up"
    guest_case "guest.poweroff.$mode" "$mode" acpi 0 "" "acpi: ok"
    guest_case "guest.reset.$mode" "$mode" reset 0 "" "reset: boot 1, resetting" "reset: boot 2, powering off"
    guest_case "guest.reset-no-reboot.$mode" "$mode" reset 2 "--no-reboot" "reset: boot 1, resetting" "guest reset (--no-reboot), exit status 2"
    guest_case "guest.panic.$mode" "$mode" panic 4 "" "panic: signalling guest panic" "guest panicked (pvpanic), exit status 4"
    guest_case "guest.triple-fault.$mode" "$mode" triple 3 "" "triple: faulting" "guest triple fault, exit status 3"
    guest_case "guest.assist.$mode" "$mode" assist 0 "--stats" "assist: all ok"
done
