#!/usr/bin/env bash
# Network boot: iPXE (ipxe-qemu's virtio ROM, vmm's virtio-net option ROM) takes a DHCP lease
# from user-mode networking, whose boot file name points at an HTTP server this test runs on
# 127.0.0.1 (10.0.2.2 from the guest). The iPXE script echoes a marker and boots the hello guest
# fetched over HTTP (multiboot; it powers off: vmm exits 0).
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm ipxe.dhcp || exit 0
if [ ! -s "$GUESTS/hello.elf" ]; then
    fail ipxe.dhcp "$GUESTS/hello.elf missing: make guests"
    exit 0
fi

www=$WORK/78.www
mkdir -p "$www"
cp "$GUESTS/hello.elf" "$www/hello.elf"
port=$(free_port)
cat >"$www/boot.ipxe" <<IPXE
#!ipxe
echo vmm-ipxe-marker: script fetched, address \${net0/ip}
kernel http://10.0.2.2:$port/hello.elf noinput && echo vmm-ipxe-marker: image fetched
boot
IPXE
python3 -m http.server --bind 127.0.0.1 --directory "$www" "$port" >"$WORK/78.http.log" 2>&1 &
http_pid=$!
if ! wait_port "$port" 10 && ! kill -0 $http_pid 2>/dev/null; then
    fail ipxe.dhcp "the test's HTTP server did not start: $(tail -n 2 "$WORK/78.http.log" | tr '\n' '|')"
    exit 0
fi

out=$WORK/78.out
vmm_start $((SEABIOS_WAIT + 90)) "$out" --memory 256M \
    --network "user,bootfile=http://10.0.2.2:$port/boot.ipxe"
wait_for_vmm "$out" "hello: vmm guest up (multiboot)" $((SEABIOS_WAIT + 60))
booted=$?
if [ $booted -eq 0 ]; then
    vmm_wait 30
else
    vmm_kill
fi
kill $http_pid 2>/dev/null
wait $http_pid 2>/dev/null
grep -aE 'iPXE|net0|DHCP|Configuring' "$out" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tr -d '\r' | head -n 6 | sed 's/^/# /'

# On the nested kvm_pvm host this needs two things from vmm: the IRET assist's flat-frame quirk (that
# host writes protected-mode interrupt frames without SS's base; iPXE's SS is based at its relocation
# offset) and 16-bit reads of virtio's 32-bit feature words (iPXE 1.0.0's vpm_ioread32 uses readw).
# iPXE's own console lines on serial: its banner and the DHCP configuration of net0.
if grep -qaE 'Configuring \(net0|net0: 10\.0\.2\.[0-9]+' "$out"; then
    pass ipxe.dhcp
else
    fail ipxe.dhcp "no iPXE DHCP lines (Configuring (net0 ... / net0: 10.0.2.x) on serial: $(tail_of "$out")"
fi
if grep -qa 'vmm-ipxe-marker: script fetched, address 10.0.2.' "$out"; then
    pass ipxe.script-marker
else
    fail ipxe.script-marker "no marker from the iPXE script on serial: $(tail_of "$out")"
fi
if grep -q 'GET /boot.ipxe' "$WORK/78.http.log" && grep -q 'GET /hello.elf' "$WORK/78.http.log"; then
    pass ipxe.http-fetch
else
    fail ipxe.http-fetch "HTTP server log: $(tail -n 3 "$WORK/78.http.log" | tr '\n' '|')"
fi
if [ $booted -eq 0 ] && [ "$status" -eq 0 ]; then
    pass ipxe.boots-guest
else
    fail ipxe.boots-guest "no hello guest (or exit status ${status:-?}): $(tail_of "$out")"
fi
