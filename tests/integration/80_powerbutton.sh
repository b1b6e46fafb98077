#!/usr/bin/env bash
# SIGTERM presses the ACPI power button: the powerbtn guest (tests/guest/powerbtn.c) enables
# PWRBTN_EN, routes the SCI through the IOAPIC and waits; on SIGTERM vmm sets PWRBTN_STS and
# raises the SCI, the guest sees it, clears it and powers off through S5: vmm exits 0.
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm powerbutton || exit 0
if [ ! -s "$GUESTS/powerbtn.elf" ]; then
    fail powerbutton "$GUESTS/powerbtn.elf missing: make guests"
    exit 0
fi

out=$WORK/80.out
vmm_start 90 "$out" --memory 64M --kernel "$GUESTS/powerbtn.elf"
if ! wait_for_vmm "$out" "powerbtn: waiting for the power button" 30; then
    fail powerbutton "guest not waiting: $(tail_of "$out")"
    vmm_kill
    exit 0
fi
grep -a "powerbtn: SCI" "$out" | sed 's/^/# /'
kill -TERM "$VMM_PID"
if wait_for_vmm "$out" "powerbtn: pressed" 20; then
    vmm_wait 20
    if [ "$status" -eq 0 ]; then
        pass powerbutton
    else
        fail powerbutton "guest saw the press, but vmm exited with status $status: $(tail_of "$out")"
    fi
else
    fail powerbutton "no 'powerbtn: pressed' after SIGTERM: $(tail_of "$out")"
    vmm_kill
fi
