#!/usr/bin/env bash
# make check-linux: Debian's kernel with a busybox initramfs reaching /init, on hardware KVM hosts.
set -u
. tests/lib.sh
. tests/debian-kernel.sh
. tests/host-kvm.sh

reason="this host's /dev/kvm is not hardware-assisted (no vmx/svm CPU flag: a nested kvm_pvm host whose instruction emulator stops full Linux guests at XRSTOR and runs them 50-100x slower)"
if ! hardware_kvm; then
    for t in init-shell.bzimage init-shell.vmlinux virtio-blk-sha256 dhcp-and-host-loopback tap-ping network-lab.ping network-lab.router disk-login-powerbutton installer-first-dialog cdrom-sha256.scsi cdrom-sha256.ide; do
        skip linux.$t "$reason"
    done
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

# virtio-blk: the guest's sha256 of /dev/vda equals the host's.
disk=$WORK/linux-disk.img
head -c $((8 << 20)) /dev/urandom >"$disk"
want=$(sha256sum "$disk" | cut -d' ' -f1)
out=$WORK/linux-blk.out
run_vmm 120 "$out" run --kernel "$DEBIAN_BZIMAGE" --initrd "$initrd" --memory 1G --append "console=ttyS0" --disk "$disk"
check_output linux.virtio-blk-sha256 "$out" "vmm-linux: /dev/vda sha256 $want"

# Both CD drives: Linux's sr driver (through virtio_scsi, and through libata's ata_piix in PIO mode)
# reads the whole medium; its sha256 equals the host's.
iso=build/media/grub.iso
[ -s "$iso" ] || tests/media/grub-iso.sh >/dev/null 2>&1
want=$(sha256sum "$iso" | cut -d' ' -f1)
for bus in scsi ide; do
    out=$WORK/linux-cd.$bus.out
    run_vmm 120 "$out" run --kernel "$DEBIAN_BZIMAGE" --initrd "$initrd" --memory 1G \
        --append "console=ttyS0 vmmtest.cdrom" --cdrom "$iso,bus=$bus"
    check_output linux.cdrom-sha256.$bus "$out" "vmm-linux: /dev/sr0 sha256 $want"
done

# User networking: DHCP from slirp, then a host loopback HTTP service through the gateway.
mkdir -p "$WORK/www" && echo "served-by-the-host-$$" >"$WORK/www/probe.txt"
port=$((20000 + $$ % 20000))
(cd "$WORK/www" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
httpd=$!
sleep 1
out=$WORK/linux-net.out
run_vmm 120 "$out" run --kernel "$DEBIAN_BZIMAGE" --initrd "$initrd" --memory 1G --network user \
    --append "console=ttyS0 vmmtest.http=$port"
kill $httpd 2>/dev/null
check_output linux.dhcp-and-host-loopback "$out" "vmm-linux: dhcp eth0 10.0.2.15" "vmm-linux: http served-by-the-host-$$"

# tap: ping a peer in a network namespace this test creates.
ns=vmmlinux$$
ip netns add $ns && ip netns exec $ns ip tuntap add dev vmmtap0 mode tap &&
    ip netns exec $ns ip addr add 10.98.0.1/24 dev vmmtap0 && ip netns exec $ns ip link set vmmtap0 up
out=$WORK/linux-tap.out
timeout -s KILL 120 ip netns exec $ns "$VMM" run --kernel "$DEBIAN_BZIMAGE" --initrd "$initrd" --memory 1G \
    --network tap=vmmtap0 --append "console=ttyS0 vmmtest.ip=10.98.0.2/24 vmmtest.ping=10.98.0.1" </dev/null >"$out" 2>&1
ip netns del $ns
check_output linux.tap-ping "$out" "vmm-linux: ping 10.98.0.1 ok"

# The lab libvirt users build: two vmm networks in a namespace this test creates (no NAT, so the
# namespace itself does not route), a router VM with a NIC on each, Debian guests on both. A guest
# with a DHCP lease from lan1's dnsmasq pings a neighbour; a guest on lan1 pings one on lan2 through
# the router.
ns=vmmlab$$
ip netns add $ns
export VMM_HOME=$WORK/lab-home
lab() { timeout -s KILL 60 ip netns exec $ns "$VMM" "$@" </dev/null >>"$WORK/lab.out" 2>&1; }
labvm() { # NAME KERNEL-ARGS NETWORK...
    local name=$1 args=$2 nets=()
    shift 2
    for n in "$@"; do nets+=(--network "network=$n"); done
    lab create "$name" --boot "kernel=$DEBIAN_BZIMAGE,initrd=$initrd,kernel_args=\"console=ttyS0 $args\"" \
        --memory 512 --graphics none --noautoconsole "${nets[@]}"
}
lab net-create lan1 --subnet 10.97.1.0/24 --dhcp
lab net-create lan2 --subnet 10.97.2.0/24
labvm router "vmmtest.ip=10.97.1.254/24 vmmtest.ip2=10.97.2.254/24 vmmtest.forward vmmtest.stay=150" lan1 lan2
labvm far "vmmtest.ip=10.97.2.10/24 vmmtest.gw=10.97.2.254 vmmtest.stay=150" lan2
labvm near "vmmtest.ip=10.97.1.10/24 vmmtest.gw=10.97.1.254 vmmtest.ping=10.97.2.10 vmmtest.stay=60" lan1
labvm dhcp "vmmtest.ping=10.97.1.10" lan1
labwait() { wait_for "$VMM_HOME/run/$1/console.log" "$2" 150; }
labwait dhcp "vmm-linux: ping 10.97.1.10"
labwait near "vmm-linux: ping 10.97.2.10"
check_output linux.network-lab.ping "$VMM_HOME/run/dhcp/console.log" "vmm-linux: dhcp eth0 10.97.1." "vmm-linux: ping 10.97.1.10 ok"
check_output linux.network-lab.router "$VMM_HOME/run/near/console.log" "vmm-linux: ping 10.97.2.10 ok"
for vm in router far near dhcp; do lab destroy $vm; done
lab net-destroy lan1
lab net-destroy lan2
for p in $(ip netns pids $ns 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
ip netns del $ns
unset VMM_HOME

# A disk that SeaBIOS boots through GRUB (grub-pc) to Debian's kernel and a login prompt on the
# serial console; the ACPI power button (SIGTERM) makes the guest power off and vmm exit 0. The
# disk is built from local packages (tests/media/linux-disk.sh: no debootstrap, which would fetch
# from a network mirror that tests may not reach).
login_initrd=$WORK/login.cpio.gz
tests/make-initramfs.sh "$login_initrd" login
bash tests/media/linux-disk.sh "$WORK/linux-disk.img" "$DEBIAN_BZIMAGE" "$login_initrd" "console=ttyS0"
out=$WORK/linux-disk.out
timeout -s KILL 300 "$VMM" run --disk "$WORK/linux-disk.img" --memory 1G --serial file:"$WORK/linux-disk.serial" \
    </dev/null >"$out" 2>&1 &
vmm_pid=$!
if wait_for "$WORK/linux-disk.serial" "login:" 240; then
    sleep 2
    kill -TERM $vmm_pid
    wait $vmm_pid
    status=$?
    if [ $status -eq 0 ] && has_line "$WORK/linux-disk.serial" "vmm-linux: power button, powering off"; then
        pass linux.disk-login-powerbutton
    else
        fail linux.disk-login-powerbutton "exit status $status after the power button: $(tail -n 3 "$WORK/linux-disk.serial" | tr '\n' '|')"
    fi
else
    kill -9 $vmm_pid 2>/dev/null
    fail linux.disk-login-powerbutton "no login prompt within 240 s: $(tail -n 3 "$WORK/linux-disk.serial" | tr '\n' '|')"
fi

# The Debian installer ISO (tests/media/installer-iso.sh) boots through SeaBIOS and isolinux to its
# first dialog, seen over VNC (OCR) -- here the installer itself really runs.
. tests/media/testlib.sh
if media_ready linux.installer-first-dialog installer.iso; then
    display=$(free_display)
    out=$WORK/installer.out
    vmm_start 600 "$out" --memory 2G --cdrom build/media/installer.iso --vnc ":$display"
    sleep 20
    "${VNCCLIENT[@]}" ":$display" key Return >/dev/null 2>&1   # the stock first entry: Install
    found=no
    for _ in $(seq 1 60); do
        sleep 5
        "${VNCCLIENT[@]}" ":$display" capture "$WORK/installer.png" >/dev/null 2>&1
        if ocr_has "$WORK/installer.png" "language"; then found=yes; break; fi
    done
    vmm_kill
    if [ $found = yes ]; then pass linux.installer-first-dialog; else fail linux.installer-first-dialog "no 'Select a language' dialog over VNC within 5 minutes"; fi
fi

