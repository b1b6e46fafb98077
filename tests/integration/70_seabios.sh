#!/usr/bin/env bash
# SeaBIOS as vmm's default firmware: one boot with a virtio-blk disk, a virtio-scsi CD-ROM (the
# GRUB ISO) and SeaBIOS's debug port (0x402) logged to a file. The log must show SeaBIOS's version,
# the RAM it found, the CPUs, both virtio devices on PCI, the ACPI tables, and no warnings; the
# boot must reach GRUB on the CD-ROM.
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm seabios || exit 0
media_ready seabios grub.iso disk-bootsector.img || exit 0

out=$WORK/70.out log=$WORK/70.debugcon
cp build/media/disk-bootsector.img "$WORK/70.disk"
vmm_start $((SEABIOS_WAIT + 30)) "$out" --memory 256M --cpus 2 --debugcon "file:$log" \
    --disk "$WORK/70.disk" --cdrom build/media/grub.iso
wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"
reached=$?
vmm_kill

if [ ! -s "$log" ]; then
    fail seabios.debugcon "no SeaBIOS debug output in $log; vmm: $(tail_of "$out")"
    exit 0
fi
pass seabios.debugcon
# What SeaBIOS said about the machine, for the record.
grep -aE 'SeaBIOS \(version|RamSize|Ram Size|qemu/e820|Found [0-9]+ cpu|id=1af4:|ACPI|RSDP|table\(' "$log" |
    head -n 20 | sed 's/^/# /'

check_log() { # NAME WHAT EXTENDED-REGEX
    if grep -qaE -- "$3" "$log"; then pass "$1"; else fail "$1" "no $2 in the SeaBIOS log (pattern: $3)"; fi
}
check_log seabios.version "version line" '^SeaBIOS \(version [^)]+\)'
# 256 MiB: from CMOS ("RamSize: 0x10000000 [cmos]") or the sum of fw_cfg e820 RAM entries
# ("qemu/e820: addr A len L [RAM]"), allowing for holes (at least 250 MiB, at most 256 MiB).
ram_mib=$(python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
m = re.search(r"RamSize: 0x([0-9a-f]+)", text)
total = int(m.group(1), 16) if m else sum(int(x, 16) for x in re.findall(r"qemu/e820: addr 0x[0-9a-f]+ len 0x([0-9a-f]+) \[RAM\]", text))
print(total >> 20)
PY
)
if [ "${ram_mib:-0}" -ge 250 ] && [ "${ram_mib:-0}" -le 256 ]; then
    pass seabios.ram
else
    fail seabios.ram "SeaBIOS saw ${ram_mib:-no} MiB of RAM (RamSize or qemu/e820 lines), wanted 256"
fi
check_log seabios.cpus "2 CPUs" 'Found 2 cpu\(s\)'
check_log seabios.pci-virtio-blk "virtio-blk (1af4:1042) on PCI" '1af4:1042'
check_log seabios.pci-virtio-scsi "virtio-scsi (1af4:1048) on PCI" '1af4:1048'
check_log seabios.virtio-blk-found "virtio-blk driver start" 'found virtio-blk at'
check_log seabios.virtio-scsi-cdrom "the virtio-scsi CD-ROM" "virtio-scsi .*type=5"
check_log seabios.acpi "ACPI tables" 'ACPI tables: RSDP=|table\([0-9a-f]+\)=|ACPI: parse DSDT|Copying ACPI RSDP|RSDP'
concern=$(grep -aiE 'unable to unlock ram|WARNING|panic|failed' "$log" | head -n 3 | tr '\n' '|')
if [ -z "$concern" ]; then pass seabios.no-warnings; else fail seabios.no-warnings "$concern"; fi
if [ $reached -eq 0 ]; then
    pass seabios.boots-cdrom
else
    fail seabios.boots-cdrom "no GRUB menu on serial within ${SEABIOS_WAIT}s; log tail: $(tail -n 3 "$log" | tr '\n' '|') vmm: $(tail_of "$out")"
fi
