#!/usr/bin/env bash
# Bad input gets one clear error line naming the problem and the fix, and a non-zero exit;
# --help lists every option; --version answers.
set -u
. tests/lib.sh

# bad_input NAME EXPECTED-TEXT ARGS...: exit status 1 and exactly one "vmm: error:" line containing TEXT.
# AS_USER="setpriv ..." runs vmm as another user.
bad_input() {
    local name=$1 text=$2
    shift 2
    local out=$WORK/$name.out
    timeout -s KILL 30 ${AS_USER:-} "$VMM" "$@" </dev/null >"$out" 2>&1
    local rc=$?
    local lines
    lines=$(grep -c '^vmm: error:' "$out")
    if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && grep -q "^vmm: error:.*$text" "$out"; then
        pass "cli.$name"
    else
        fail "cli.$name" "exit $rc, $lines error lines, output: $(head -c 300 "$out" | tr '\n' '|')"
    fi
}

printf 'this is not a kernel' >"$WORK/notakernel"
head -c 12345 /dev/zero >"$WORK/badsize.rom"
mkdir -p "$WORK/adir"
touch "$WORK/unreadable" && chmod 000 "$WORK/unreadable"
K=$GUESTS/hello.elf

bad_input missing-kernel "kernel file $WORK/nope does not exist" run --kernel "$WORK/nope"
bad_input missing-initrd "initrd file $WORK/nope.img does not exist" run --kernel "$K" --initrd "$WORK/nope.img"
bad_input missing-firmware "firmware file $WORK/nope.rom does not exist" run --firmware "$WORK/nope.rom"
bad_input missing-cdrom "the CD image $WORK/nope.iso does not exist: give the path of an ISO file" run --cdrom "$WORK/nope.iso,bus=ide"
bad_input bad-cdrom-bus "--cdrom bus=sata is not supported: use bus=scsi (virtio-scsi) or bus=ide" run --cdrom "$WORK/nope.iso,bus=sata"
bad_input not-a-kernel "not a Linux kernel: expected a bzImage (vmlinuz) or an ELF vmlinux" run --kernel "$WORK/notakernel"
bad_input kernel-is-directory "is not a regular, non-empty file" run --kernel "$WORK/adir"
bad_input firmware-size "must be a multiple of 4 KiB" run --firmware "$WORK/badsize.rom"
bad_input memory-abc "--memory 'abc' is not a size: write e.g. 512M or 2G" run --kernel "$K" --memory abc
bad_input memory-tiny "--memory 1M is out of range" run --kernel "$K" --memory 1M
bad_input cpus-zero "--cpus '0' is not a vCPU count: give a number from 1 to 255" run --kernel "$K" --cpus 0
bad_input cpus-word "--cpus 'two' is not a vCPU count" run --kernel "$K" --cpus two
bad_input unknown-option "unknown option '--frobnicate' (see vmm run --help)" run --kernel "$K" --frobnicate
bad_input missing-value "option --memory needs a value" run --kernel "$K" --memory
bad_input unknown-command "unknown command 'boot'" boot
bad_input initrd-without-kernel "--initrd and --append need --kernel" run --firmware "$GUESTS/hello.rom" --initrd "$K"
bad_input bad-serial "--serial 'tcp' is not understood: use stdio, file:PATH, pty, socket:PATH" run --kernel "$K" --serial tcp
bad_input bad-cpu-model "unknown CPU model 'pentium': use host or baseline" run --kernel "$K" --cpu pentium
bad_input bad-cpu-feature "unknown CPU feature 'warp'" run --kernel "$K" --cpu host,+warp
VMM_KVM_DEVICE=/nonexistent/kvm bad_input no-kvm-device "/nonexistent/kvm does not exist: load the kvm module" run --kernel "$K"
truncate -s 20M "$WORK/big.initrd"
bad_input memory-too-small-for-initrd "does not fit in guest RAM below 16 MiB with the kernel: raise --memory" run --kernel "$K" --memory 16M --initrd "$WORK/big.initrd"

# Permission problems as an unprivileged user (root reads everything).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
    chmod 711 "$WORK"
    cp "$K" "$WORK/hello.elf" && chmod 644 "$WORK/hello.elf"
    if [ -e /dev/kvm ] && [ "$(( 0$(stat -c %a /dev/kvm) & 6 ))" = 0 ]; then
        AS_USER=$nobody bad_input no-kvm-permission "no permission to open /dev/kvm: add your user to the 'kvm' group" \
            run --kernel "$WORK/hello.elf"
    else
        skip cli.no-kvm-permission "/dev/kvm is open to every user here, so an unprivileged user may open it"
    fi
    AS_USER=$nobody bad_input unreadable-kernel "cannot read kernel file $WORK/unreadable: permission denied" \
        run --kernel "$WORK/unreadable"
else
    skip cli.no-kvm-permission "needs root and setpriv to act as an unprivileged user"
    skip cli.unreadable-kernel "needs root and setpriv to act as an unprivileged user"
fi

# --help lists every option the parser knows.
help=$WORK/help.out
"$VMM" run --help >"$help" 2>&1
missing=""
for opt in $(grep -o '{ "[a-z-]*"' vmm/main.c | tr -d '{" '); do
    grep -q -- "--$opt" "$help" || missing="$missing --$opt"
done
if [ -z "$missing" ] && [ -s "$help" ]; then pass cli.help-lists-every-option; else fail cli.help-lists-every-option "not in --help:$missing"; fi

if "$VMM" --version | grep -q '^vmm '; then pass cli.version; else fail cli.version "no 'vmm VERSION' line"; fi
