#!/usr/bin/env bash
# virtio-net under KVM with the project's guest driver (tests/guest/vnet.c): over user-mode
# networking (libslirp) the guest resolves the gateway 10.0.2.2 by ARP and pings it; over a tap
# device inside a network namespace this test creates, it exchanges ARP and ICMP with that
# namespace's own stack. No traffic leaves the machine.
set -u
. tests/lib.sh
need_kvm virtio-net || exit 0

for mode in pvh firmware; do
    boot="--kernel $GUESTS/vnet.elf"; [ $mode = firmware ] && boot="--firmware $GUESTS/vnet.rom"
    out=$WORK/vnet-user.$mode.out
    run_vmm 90 "$out" run $boot --memory 128M --network user,mac=52:54:00:12:34:56
    if [ $status -eq 0 ]; then
        check_output "virtio-net.user.$mode" "$out" "mac 52:54:00:12:34:56" \
            "vnet: peer 10.0.2.2 is at 52:55:0a:00:02:02" "vnet: ping 10.0.2.2 ok" "vnet: done"
    else
        fail "virtio-net.user.$mode" "exit $status: $(tail -n 2 "$out" | tr '\n' '|')"
    fi
done

# Two NICs; the default MAC is stable for a VM name and differs between NICs.
out=$WORK/vnet-macs.out
run_vmm 90 "$out" run --kernel "$GUESTS/vnet.elf" --memory 128M --name macs --network user --network user
mac1=$(sed -n 's/.*mac \([0-9a-f:]*\),.*/\1/p' "$out" | head -1)
run_vmm 90 "$out.2" run --kernel "$GUESTS/vnet.elf" --memory 128M --name macs --network user
mac2=$(sed -n 's/.*mac \([0-9a-f:]*\),.*/\1/p' "$out.2" | head -1)
if [ -n "$mac1" ] && [ "$mac1" = "$mac2" ] && [ "${mac1#52:54:00:}" != "$mac1" ] && has_line "$out" "vnet: done"; then
    pass virtio-net.stable-default-mac
else
    fail virtio-net.stable-default-mac "macs '$mac1' '$mac2'"
fi

# tap: the peer is the namespace's own stack on the tap interface.
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
    skip virtio-net.tap "needs root, iproute2 and /dev/net/tun to create a network namespace and a tap"
else
    ns=vmmtest$$
    ip netns add $ns
    ip netns exec $ns ip link set lo up
    ip netns exec $ns ip tuntap add dev vmmtap0 mode tap
    ip netns exec $ns ip addr add 10.99.0.1/24 dev vmmtap0
    ip netns exec $ns ip link set vmmtap0 up
    out=$WORK/vnet-tap.out
    timeout -s KILL 90 ip netns exec $ns "$VMM" run --kernel "$GUESTS/vnet.elf" --memory 128M \
        --append "ip=10.99.0.2 peer=10.99.0.1" --network tap=vmmtap0 </dev/null >"$out" 2>&1
    status=$?
    # tap counters, from the namespace side: tx = frames the guest sent, rx = frames sent to it
    # (tap naming is from the host's point of view: the kernel "receives" what the guest sends).
    rxp=$(ip netns exec $ns cat /sys/class/net/vmmtap0/statistics/rx_packets)
    txp=$(ip netns exec $ns cat /sys/class/net/vmmtap0/statistics/tx_packets)
    ip netns del $ns
    if [ $status -eq 0 ]; then
        check_output virtio-net.tap "$out" "vnet: peer 10.99.0.1 is at" "vnet: ping 10.99.0.1 ok" "vnet: done"
    else
        fail virtio-net.tap "exit $status: $(tail -n 2 "$out" | tr '\n' '|')"
    fi
    # Frames really crossed the tap both ways (at least ARP + ICMP each way).
    if [ "${rxp:-0}" -ge 2 ] && [ "${txp:-0}" -ge 2 ]; then pass virtio-net.tap-counters; else fail virtio-net.tap-counters "tap rx $rxp tx $txp packets"; fi
fi

# Bad network options: one clear line, exit 1.
run_vmm 30 "$WORK/badnet.out" run --kernel "$GUESTS/vnet.elf" --network user,hostfwd=tcp:8.8.8.8:2222-:22
if [ $status -eq 1 ] && [ "$(grep -c '^vmm: error:' "$WORK/badnet.out")" = 1 ]; then pass virtio-net.hostfwd-not-loopback; else fail virtio-net.hostfwd-not-loopback "exit $status: $(head -c 300 "$WORK/badnet.out")"; fi
run_vmm 30 "$WORK/badnet2.out" run --kernel "$GUESTS/vnet.elf" --network bridge
if [ $status -eq 1 ] && grep -q "^vmm: error: --network 'bridge' is not understood" "$WORK/badnet2.out"; then pass virtio-net.bad-kind; else fail virtio-net.bad-kind "exit $status"; fi
run_vmm 30 "$WORK/badnet3.out" run --kernel "$GUESTS/vnet.elf" --network user,mac=01:00:5e:00:00:01
if [ $status -eq 1 ] && grep -q "not a unicast MAC" "$WORK/badnet3.out"; then pass virtio-net.bad-mac; else fail virtio-net.bad-mac "exit $status"; fi
