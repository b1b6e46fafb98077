#!/usr/bin/env bash
# make check-linux: Debian's kernel with a busybox initramfs reaching /init, on hardware KVM hosts.
set -u
. tests/lib.sh
. tests/debian-kernel.sh
. tests/host-kvm.sh

reason="this host's /dev/kvm is not hardware-assisted (no vmx/svm CPU flag: a nested kvm_pvm host whose instruction emulator stops full Linux guests at XRSTOR and runs them 50-100x slower)"
if ! hardware_kvm; then
    skip linux.init-shell.bzimage "$reason"
    skip linux.init-shell.vmlinux "$reason"
    exit 0
fi
need_kvm linux.init-shell || exit 0
if ! debian_kernel; then fail linux.init-shell "$why"; exit 0; fi
initrd=$WORK/check.cpio.gz
tests/make-initramfs.sh "$initrd" check
for bzimage in yes no; do
    kernel=$DEBIAN_VMLINUX; [ $bzimage = yes ] && kernel=$DEBIAN_BZIMAGE
    out=$WORK/full.$bzimage.out
    run_vmm 120 "$out" run --kernel "$kernel" --initrd "$initrd" --memory 1G --cpus 2 \
        --append "console=ttyS0 panic=-1" --no-reboot
    name=linux.init-shell.$([ $bzimage = yes ] && echo bzimage || echo vmlinux)
    if [ $status -eq 0 ]; then
        check_output "$name" "$out" "vmm-linux: init reached" "vmm-linux: cpus 2"
    else
        fail "$name" "exit status $status: $(tail -n 3 "$out" | tr '\n' '|')"
    fi
done
