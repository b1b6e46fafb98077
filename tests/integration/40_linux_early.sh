#!/usr/bin/env bash
# Debian's own kernel as a consumer of vmm's boot protocol and tables: its early log must show
# vmm's e820 map, the ACPI tables vmm built and the CPU count from the MADT. The VM is stopped
# (SIGTERM) as soon as those lines are read; this host's KVM cannot run the rest at a useful speed.
set -u
. tests/lib.sh
. tests/debian-kernel.sh

name=linux.early-log
need_kvm "$name" || exit 0
if ! debian_kernel; then fail "$name" "$why"; exit 0; fi

out=$WORK/linux-early.out
timeout -s KILL 90 "$VMM" run --kernel "$DEBIAN_VMLINUX" --memory 512M --cpus 3 \
    --append "earlyprintk=serial,ttyS0,115200 console=ttyS0 panic=-1" --no-reboot </dev/null >"$out" 2>&1 &
pid=$!
if wait_for "$out" "smpboot: Allowing 3 CPUs" 60; then
    kill -TERM $pid
fi
wait $pid
rc=$?
check_output "$name" "$out" \
    "BIOS-e820: [mem 0x0000000000000000-0x000000000009bfff] usable" \
    "BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable" \
    "ACPI: RSDP 0x000000000009C000" "ACPI: XSDT" "ACPI: FACP" "ACPI: DSDT" "ACPI: APIC" \
    "ACPI: PM-Timer IO Port: 0x608" "smpboot: Allowing 3 CPUs"
if [ $rc -eq 143 ] && has_line "$out" "stopped by signal (SIGTERM), exit status 143"; then
    pass linux.sigterm-teardown
else
    fail linux.sigterm-teardown "exit status $rc after SIGTERM, wanted 143"
fi
