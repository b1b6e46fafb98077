#!/usr/bin/env bash
# make demo: boots the default guest. On a hardware KVM host: Debian's kernel to a busybox shell.
# On a host whose KVM cannot run Linux at speed: a guest program that greets and powers off.
set -u
cd "$(dirname "$0")/.."
. tests/host-kvm.sh
. tests/debian-kernel.sh
if hardware_kvm && debian_kernel; then
    initrd=build/linux/demo.cpio.gz
    tests/make-initramfs.sh "$initrd" shell
    echo "vmm demo: booting $DEBIAN_BZIMAGE with a busybox shell (Ctrl-A x quits)"
    exec build/vmm run --kernel "$DEBIAN_BZIMAGE" --initrd "$initrd" --memory 1G --cpus 2 --append "console=ttyS0 quiet"
fi
echo "vmm demo: this host's KVM is not hardware-assisted, so the demo boots vmm's own guest program"
echo "vmm demo: (full Linux guests need VT-x/AMD-V; see README). Type a line when it asks."
args=(); [ -t 0 ] || args=(--append noinput)
build/vmm run --kernel build/guest/hello.elf --memory 64M --cpus 2 "${args[@]}"
status=$?
echo "vmm demo: guest exited with status $status"
exit $status
