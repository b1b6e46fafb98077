#!/usr/bin/env bash
# Firmware boot, side by side with QEMU (-M pc, KVM, Debian's SeaBIOS, the same GRUB ISO): ms from exec
# to SeaBIOS handing over to the boot loader (its "Booting from" line on debug port 0x402) and to the
# GRUB menu on the serial console. vmm runs twice: with its default virtio-scsi CD and with
# --cdrom ISO,bus=ide (the IDE ATAPI drive QEMU's -cdrom gives). Medians of RUNS runs.
# VMM_BEFORE=path/to/an/older/vmm adds that binary as another row, for before/after figures.
set -u
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
ISO=build/media/grub.iso
[ -s "$ISO" ] || tests/media/grub-iso.sh >/dev/null 2>&1 || { echo "firmware bench: cannot build $ISO"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

now_ms() { date +%s%3N; }

# run NAME COMMAND...: prints "handover_ms menu_ms"
run_one() {
    local name=$1
    shift
    rm -f "$T/serial" "$T/debug"
    local start pid handover=nan menu=nan
    start=$(now_ms)
    "$@" </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 1800); do
        [ "$handover" = nan ] && grep -q "Booting from" "$T/debug" 2>/dev/null && handover=$(( $(now_ms) - start ))
        grep -q "GNU GRUB" "$T/serial" 2>/dev/null && { menu=$(( $(now_ms) - start )); break; }
        sleep 0.05
    done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    echo "$handover $menu"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }

declare -A H M
names="vmm vmm-ide qemu-pc"
[ -n "${VMM_BEFORE:-}" ] && names="vmm-before vmm vmm-ide qemu-pc"
for name in $names; do
    : >"$T/h"; : >"$T/m"
    for _ in $(seq "$RUNS"); do
        if [ $name != qemu-pc ]; then
            bin=build/vmm cd=$ISO
            [ $name = vmm-before ] && bin=$VMM_BEFORE
            [ $name = vmm-ide ] && cd=$ISO,bus=ide
            read -r h m < <(run_one vmm "$bin" run --memory 256M --cdrom "$cd" --serial "file:$T/serial" \
                --debugcon "file:$T/debug")
        else
            read -r h m < <(run_one qemu qemu-system-x86_64 -M pc -accel kvm -m 256 -display none -nodefaults \
                -cdrom "$ISO" -serial "file:$T/serial" -debugcon "file:$T/debug" -global isa-debugcon.iobase=0x402)
        fi
        echo "$h" >>"$T/h"; echo "$m" >>"$T/m"
    done
    H[$name]=$(median <"$T/h"); M[$name]=$(median <"$T/m")
done
printf '%-10s %22s %16s\n' VMM "SeaBIOS hand-over ms" "GRUB menu ms"
for name in $names; do printf '%-10s %22s %16s\n' "$name" "${H[$name]}" "${M[$name]}"; done
for name in vmm vmm-ide; do
    awk -v n="$name" -v a="${H[$name]}" -v b="${H[qemu-pc]}" -v c="${M[$name]}" -v d="${M[qemu-pc]}" \
        'BEGIN { if (b > 0 && d > 0) printf "%s/qemu: hand-over %.2f, GRUB menu %.2f\n", n, a / b, c / d }'
done
