#!/usr/bin/env bash
# Debian's own kernel as a consumer of vmm's boot protocol and tables: its early log must show
# vmm's e820 map, the ACPI tables vmm built and the CPU count from the MADT. The VM is stopped
# (SIGTERM) as soon as those lines are read; this host's KVM cannot run the rest at a useful speed.
# Both boot paths: the ELF vmlinux through PVH, and the bzImage through the 64-bit boot protocol
# (its decompressor alone takes about a minute under this host's emulating KVM).
set -u
. tests/lib.sh
. tests/debian-kernel.sh

need_kvm linux.early-log || exit 0
if ! debian_kernel; then fail linux.early-log "$why"; exit 0; fi

early_log() { # NAME KERNEL CPUS MEMORY E820-LINE SECONDS
    local name=$1 kernel=$2 cpus=$3 mem=$4 e820=$5 secs=$6 out=$WORK/$1.out
    timeout -s KILL $((secs + 30)) "$VMM" run --kernel "$kernel" --memory "$mem" --cpus "$cpus" \
        --append "earlyprintk=serial,ttyS0,115200 console=ttyS0 panic=-1" --no-reboot --shutdown-timeout 0 \
        </dev/null >"$out" 2>&1 &
    local pid=$!
    # This early the kernel cannot act on the power button: --shutdown-timeout 0 makes SIGTERM stop
    # the VM at once (tests/integration/30_serial.sh covers the power-button form of SIGTERM).
    wait_for "$out" "smpboot: Allowing $cpus CPUs" "$secs" && kill -TERM $pid
    wait $pid
    status=$?
    check_output "$name" "$out" \
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009bfff] usable" "$e820" \
        "ACPI: RSDP 0x000000000009C000" "ACPI: XSDT" "ACPI: FACP" "ACPI: DSDT" "ACPI: APIC" \
        "ACPI: PM-Timer IO Port: 0x608" "smpboot: Allowing $cpus CPUs"
}

early_log linux.early-log.vmlinux-pvh "$DEBIAN_VMLINUX" 3 512M \
    "BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable" 60
if [ $status -eq 143 ] && has_line "$WORK/linux.early-log.vmlinux-pvh.out" "stopped by signal (SIGTERM), exit status 143"; then
    pass linux.sigterm-teardown
else
    fail linux.sigterm-teardown "exit status $status after SIGTERM, wanted 143"
fi
# 4 GiB: RAM above the PCI hole appears at 4 GiB in the kernel's map.
early_log linux.early-log.bzimage "$DEBIAN_BZIMAGE" 2 4G \
    "BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable" 150
