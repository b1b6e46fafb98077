#!/usr/bin/env bash
# Builds a busybox-static initramfs (newc cpio, gzip) whose /init runs MODE:
#   shell  - greets and starts an interactive shell on the serial console (make demo)
#   check  - prints facts the full-Linux tests check, then powers off
set -eu
out=$1 mode=${2:-shell}
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
if [ "$mode" = check ]; then
    echo 'poweroff -f' >>"$root/init"
else
    cat >>"$root/init" <<'INIT'
echo "Welcome to a Debian kernel booted by vmm. Type 'poweroff -f' to leave (or Ctrl-A x)."
exec setsid cttyhack sh
INIT
fi
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
