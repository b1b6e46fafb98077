#!/usr/bin/env bash
# Builds a busybox-static initramfs (newc cpio, gzip) whose /init runs MODE (with the virtio
# modules of kernel version KVER, default: the newest cloud kernel in /lib/modules):
#   shell  - greets and starts an interactive shell on the serial console (make demo)
#   check  - prints facts the full-Linux tests check, then powers off
#   login  - a login prompt (getty) on the serial console; the ACPI power button (busybox acpid on
#            the kernel's button driver) powers off
set -eu
out=$1 mode=${2:-shell}
kver=${3:-$(ls -1 /lib/modules 2>/dev/null | grep cloud-amd64 | sort -V | tail -n 1)}
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --help 2>&1 | head -1 | grep -q static || busybox=$(command -v busybox)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,usr/bin,usr/sbin}
cp "$busybox" "$root/bin/busybox"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "vmm-linux: init reached"
echo "vmm-linux: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "vmm-linux: memory $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
INIT
mkdir -p "$root/etc/udhcpc"
cat >"$root/etc/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
bound|renew)
    ifconfig "$interface" "$ip" netmask "$subnet" up
    [ -n "$router" ] && route add default gw "$router" dev "$interface"
    echo "vmm-linux: dhcp $interface $ip router $router" ;;
esac
DHCP
chmod +x "$root/etc/udhcpc/default.script"
if [ "$mode" = check ]; then
    cat >>"$root/init" <<'INIT'
# Checks driven by the kernel command line: vmmtest.http=PORT, vmmtest.ip=A/N (else DHCP),
# vmmtest.ip2=A/N (eth1), vmmtest.gw=A (default route), vmmtest.forward (route between NICs),
# vmmtest.ping=A (retried up to 30 s), vmmtest.stay=S (stay up S seconds before powering off),
# vmmtest.cdrom (hash /dev/sr0).
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
for d in /dev/vda /dev/vdb; do
    [ -b $d ] && echo "vmm-linux: $d sha256 $(sha256sum $d | cut -d' ' -f1)"
done
# vmmtest.cdrom: wait for the CD drive (virtio-scsi or IDE ATAPI, both /dev/sr0) and hash its medium.
if [ -n "$(arg vmmtest.cdrom)" ]; then
    for i in $(seq 1 20); do [ -b /dev/sr0 ] && break; sleep 0.5; done
    [ -b /dev/sr0 ] && echo "vmm-linux: /dev/sr0 sha256 $(sha256sum /dev/sr0 | cut -d' ' -f1)"
    [ -b /dev/sr0 ] || echo "vmm-linux: no /dev/sr0"
fi
if ip link show eth0 >/dev/null 2>&1; then
    ip link set eth0 up
    if [ -n "$(arg vmmtest.ip)" ]; then
        ip addr add "$(arg vmmtest.ip)" dev eth0
    else
        udhcpc -i eth0 -n -q -t 5
    fi
    if [ -n "$(arg vmmtest.ip2)" ] && ip link show eth1 >/dev/null 2>&1; then
        ip link set eth1 up
        ip addr add "$(arg vmmtest.ip2)" dev eth1
    fi
    [ -n "$(arg vmmtest.gw)" ] && ip route add default via "$(arg vmmtest.gw)"
    if grep -q vmmtest.forward /proc/cmdline; then
        echo 1 >/proc/sys/net/ipv4/ip_forward && echo "vmm-linux: forwarding on"
    fi
    port=$(arg vmmtest.http)
    [ -n "$port" ] && echo "vmm-linux: http $(wget -q -O - http://10.0.2.2:$port/probe.txt)"
    peer=$(arg vmmtest.ping)
    if [ -n "$peer" ]; then
        for i in $(seq 1 30); do
            ping -c 1 -W 1 "$peer" >/dev/null && { echo "vmm-linux: ping $peer ok"; break; }
        done
    fi
fi
stay=$(arg vmmtest.stay)
[ -n "$stay" ] && echo "vmm-linux: staying up $stay s" && sleep "$stay"
poweroff -f
INIT
elif [ "$mode" = login ]; then
    mkdir -p "$root/etc/acpi/PWRF"
    printf '#!/bin/sh\necho "vmm-linux: power button, powering off" >/dev/console\nsync\npoweroff -f\n' \
        >"$root/etc/acpi/PWRF/00000080"
    chmod +x "$root/etc/acpi/PWRF/00000080"
    echo "root::0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    cat >>"$root/init" <<'INIT'
for m in button evdev; do [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko; done
acpid -c /etc/acpi
echo "vmm-linux: acpid on $(ls /dev/input 2>/dev/null | tr '\n' ' ')"
hostname vmm-guest
getty -L 115200 ttyS0 vt100 &
while :; do sleep 60; done
INIT
else
    cat >>"$root/init" <<'INIT'
echo "Welcome to a Debian kernel booted by vmm. Type 'poweroff -f' to leave (or Ctrl-A x)."
exec setsid cttyhack sh
INIT
fi
# Debian's cloud kernel builds virtio as modules: load them in dependency order (modules.dep).
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net"
mods="$mods scsi_common scsi_mod cdrom sr_mod virtio_scsi libata ata_piix"   # the CD drives
mkdir -p "$root/lib/modules"
for m in $mods button evdev; do
    f=$(find "/lib/modules/$kver" -name "$m.ko" 2>/dev/null | head -n 1)
    [ -n "$f" ] && cp "$f" "$root/lib/modules/"
done
sed -i "s|^/bin/busybox --install -s$|/bin/busybox --install -s\nfor m in $mods; do [ -f /lib/modules/\$m.ko ] \&\& insmod /lib/modules/\$m.ko; done|" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
