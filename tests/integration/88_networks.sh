#!/usr/bin/env bash
# Private networks (vmm net-create/net-list/net-info/net-start/net-destroy) inside a network
# namespace this test creates, with a throwaway VMM_HOME: a network with NAT and DHCP (nftables
# table, dnsmasq bound to its bridge alone, a lease for a client in a second namespace) and a
# plain one; two vping guests on the first hear each other's beacons, a third on the second hears
# neither (started with vmm run --network bridge=, and again as managed VMs with network=NAME); net-destroy leaves nothing behind;
# bad input (duplicate name, bad subnets, no privilege, a missing bridge) and a step failing late
# give one clear error and leave nothing half-created. No traffic leaves the namespace.
set -u
. tests/lib.sh
TESTS="create list definition dnsmasq dhcp-lease nat frames-same-network isolated taps-gone managed-vms destroy-in-use duplicate-name bad-subnet
       not-root rollback bridge-missing start-again destroy"

skip_all() {
    for t in $TESTS; do skip "networks.$t" "$1"; done
    exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root to create a network namespace, bridges and taps"
for tool in ip nft dnsmasq ss setpriv jq busybox; do
    command -v $tool >/dev/null || skip_all "$tool is not installed (tests/install-deps.sh installs it)"
done
[ -c /dev/net/tun ] || skip_all "/dev/net/tun is missing (modprobe tun)"
need_kvm networks || exit 0

ns=vmmnet$$ client=vmmcli$$
export VMM_HOME=$WORK/nethome
nobody_home=$(mktemp -d /tmp/vmm-nobody.XXXXXX)
chown 65534:65534 "$nobody_home"
vm_pids=()
cleanup() {
    for p in "${vm_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    # dnsmasq (or anything else) still running in the namespace, then the namespace itself.
    for p in $(ip netns pids $ns 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del $ns 2>/dev/null
    ip netns del $client 2>/dev/null
    rm -rf "$nobody_home"
}
trap cleanup EXIT
ip netns add $ns
ip netns exec $ns ip link set lo up

in_ns() { ip netns exec $ns "$@"; }
# vmm in the namespace: OUTFILE ARGS... -> $status
nvmm() {
    local out=$1
    shift
    timeout -s KILL 60 ip netns exec $ns "$VMM" "$@" </dev/null >"$out" 2>&1
    status=$?
}
one_error() { # FILE TEXT: exit 1 and exactly one error line, which contains TEXT
    [ "$status" -eq 1 ] && [ "$(grep -c '^vmm: error:' "$1")" = 1 ] && grep -q "^vmm: error: .*$2" "$1"
}
bridges() { in_ns ip -o link show type bridge | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' '; }

# ---- create two networks ----
nvmm "$WORK/na.out" net-create lab --subnet 10.77.1.0/24 --nat --dhcp
s1=$status
nvmm "$WORK/nb.out" net-create other --subnet 10.77.2.0/24
if [ $s1 -eq 0 ] && [ $status -eq 0 ] && in_ns ip -br addr show vmmbr-lab | grep -q "10.77.1.1/24" &&
    in_ns ip -br link show vmmbr-other | grep -q UP; then
    pass networks.create
else
    fail networks.create "exits $s1 $status: $(cat "$WORK/na.out" "$WORK/nb.out" | tr '\n' '|')"
fi

nvmm "$WORK/list.out" net-list
if [ $status -eq 0 ] && grep -Eq '^lab +vmmbr-lab +10\.77\.1\.0/24 +yes +yes +yes$' "$WORK/list.out" &&
    grep -Eq '^other +vmmbr-other +10\.77\.2\.0/24 +no +no +yes$' "$WORK/list.out"; then
    pass networks.list
else
    fail networks.list "$(tr '\n' '|' <"$WORK/list.out")"
fi

def=$VMM_HOME/networks/lab.json
if [ "$(jq -r '[.name, .bridge, .subnet, .gateway, .nat, .dhcp, .dhcp_range.start, .dhcp_range.end] | join(" ")' "$def" 2>&1)" = \
    "lab vmmbr-lab 10.77.1.0/24 10.77.1.1 true true 10.77.1.2 10.77.1.254" ] && [ "$(stat -c %a "$def")" = 600 ]; then
    pass networks.definition
else
    fail networks.definition "$(tr '\n' ' ' <"$def" 2>&1)"
fi

# dnsmasq runs from its pidfile, reads no system configuration and listens on the bridge alone.
pidfile=$VMM_HOME/run/net-lab/dnsmasq.pid
dpid=$(cat "$pidfile" 2>/dev/null)
socks=$(in_ns ss -lnup 2>/dev/null | grep "pid=${dpid:-none}," | awk '{print $4}' | sort | tr '\n' ' ')
if [ -n "$dpid" ] && [ "$(cat /proc/$dpid/comm 2>/dev/null)" = dnsmasq ] &&
    tr '\0' ' ' </proc/$dpid/cmdline | grep -q -- "--conf-file=/dev/null .*--interface=vmmbr-lab" &&
    [ "$socks" = "0.0.0.0%vmmbr-lab:67 10.77.1.1:53 " ]; then
    pass networks.dnsmasq
else
    fail networks.dnsmasq "pid '${dpid:-}' sockets '$socks'"
fi

# A DHCP client in a second namespace, on a veth whose other end is a port of the bridge, gets a
# lease from the range, and dnsmasq records it under the state directory.
ip netns add $client
in_ns ip link add vmmv0 type veth peer name vmmv1
in_ns ip link set vmmv1 netns $client
in_ns ip link set vmmv0 master vmmbr-lab up
ip netns exec $client ip link set vmmv1 up
lease=$(timeout -s KILL 30 ip netns exec $client busybox udhcpc -i vmmv1 -n -q -t 10 -s /bin/true 2>&1)
if echo "$lease" | grep -Eq "lease of 10\.77\.1\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4]) obtained from 10\.77\.1\.1" &&
    grep -q " 10\.77\.1\." "$VMM_HOME/run/net-lab/dnsmasq.leases"; then
    pass networks.dhcp-lease
else
    fail networks.dhcp-lease "$(echo "$lease" | tail -n 2 | tr '\n' '|')"
fi
in_ns ip link del vmmv0
ip netns del $client

if in_ns nft list table ip vmm-lab 2>/dev/null | grep -q "ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 masquerade" &&
    [ "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 1 ] && ! in_ns nft list table ip vmm-other >/dev/null 2>&1; then
    pass networks.nat
else
    fail networks.nat "$(in_ns nft list ruleset 2>&1 | tr '\n' ' ' | head -c 300)"
fi

# ---- guests: two on lab (one PVH, one firmware ROM), one on other ----
start_vping() { # NAME BRIDGE BOOT...
    local name=$1 br=$2
    shift 2
    timeout -s KILL 120 ip netns exec $ns "$VMM" run "$@" --memory 64M --name "$name" \
        --network bridge="$br" --serial file:"$WORK/$name.serial" </dev/null >"$WORK/$name.out" 2>&1 &
    vm_pids+=($!)
}
start_vping p1 vmmbr-lab --kernel "$GUESTS/vping.elf" --append secs=20
start_vping p2 vmmbr-lab --firmware "$GUESTS/vping.rom"     # beacons for 60 s: stopped below
start_vping p3 vmmbr-other --kernel "$GUESTS/vping.elf" --append secs=20
mac_of() { sed -n 's/^vping: mac \([0-9a-f:]*\),.*/\1/p' "$WORK/$1.serial" 2>/dev/null | head -1; }
for p in p1 p2 p3; do wait_for "$WORK/$p.serial" "vping: mac" 60; done
m1=$(mac_of p1) m2=$(mac_of p2) m3=$(mac_of p3)
wait_for "$WORK/p1.serial" "vping: heard $m2" 60
wait_for "$WORK/p2.serial" "vping: heard $m1" 30
wait "${vm_pids[0]}" "${vm_pids[2]}"
kill "${vm_pids[1]}" 2>/dev/null
wait "${vm_pids[1]}" 2>/dev/null
vm_pids=()
if [ -n "$m1" ] && [ -n "$m2" ] && [ "$m1" != "$m2" ] && has_line "$WORK/p1.serial" "vping: heard $m2" &&
    has_line "$WORK/p2.serial" "vping: heard $m1"; then
    pass networks.frames-same-network
else
    fail networks.frames-same-network "p1: $(tr '\n' '|' <"$WORK/p1.serial" 2>&1) p2: $(tr '\n' '|' <"$WORK/p2.serial" 2>&1) $(cat "$WORK/p1.out")"
fi
if [ -n "$m3" ] && has_line "$WORK/p3.serial" "vping: done, sent" && ! grep -q "vping: heard" "$WORK/p3.serial" &&
    ! grep -q "heard $m3" "$WORK/p1.serial" "$WORK/p2.serial"; then
    pass networks.isolated
else
    fail networks.isolated "p3: $(tr '\n' '|' <"$WORK/p3.serial" 2>&1) $(cat "$WORK/p3.out")"
fi
# Each guest's tap was its own and went away with it.
if ! in_ns ip -o link show | grep -q vmmtap; then pass networks.taps-gone; else fail networks.taps-gone "$(in_ns ip -br link)"; fi

# ---- managed VMs join networks by name (vmm create --network network=NAME) ----
for vm in m1:lab m2:lab m3:other; do
    nvmm "$WORK/${vm%%:*}.create" create "${vm%%:*}" --boot kernel="$GUESTS/vping.elf",kernel_args=secs=15 --memory 64 \
        --network network="${vm#*:}" --graphics none --noautoconsole
done
for vm in m1 m2 m3; do
    for i in $(seq 1 300); do [ -z "$(in_ns "$VMM" list | awk -v n=$vm '$1 == n')" ] && break; sleep 0.1; done
done
mac_def() { jq -r '.nics[0].mac' "$VMM_HOME/vms/$1.json" 2>/dev/null; }
log_of() { cat "$VMM_HOME/run/$1/console.log" 2>/dev/null; }
if log_of m1 | grep -q "vping: heard $(mac_def m2)" && log_of m2 | grep -q "vping: heard $(mac_def m1)" &&
    log_of m3 | grep -q "vping: done, sent" && ! log_of m3 | grep -q "vping: heard" &&
    log_of m1 | grep -q "vping: mac $(mac_def m1)"; then
    pass networks.managed-vms
else
    fail networks.managed-vms "m1: $(log_of m1 | tr '\n' '|' | tail -c 200) m3: $(log_of m3 | tr '\n' '|' | tail -c 200) $(cat "$WORK/m1.create")"
fi
for vm in m1 m2 m3; do nvmm "$WORK/undef.out" undefine $vm; done

# A network a running VM uses is not destroyed under it.
nvmm "$WORK/m4.create" create m4 --boot kernel="$GUESTS/prompt.elf" --memory 64 --network network=lab --graphics none --noautoconsole
nvmm "$WORK/busy.out" net-destroy lab
busy_status=$status
nvmm "$WORK/m4.destroy" destroy m4
nvmm "$WORK/undef.out" undefine m4
status=$busy_status
if one_error "$WORK/busy.out" "network lab is in use by running VM m4" && in_ns ip link show vmmbr-lab >/dev/null 2>&1 &&
    [ -e "$VMM_HOME/networks/lab.json" ]; then
    pass networks.destroy-in-use
else
    fail networks.destroy-in-use "exit $status: $(cat "$WORK/busy.out" "$WORK/m4.create")"
fi

# ---- bad input: one clear error, nothing created ----
before=$(ls "$VMM_HOME/networks")
nvmm "$WORK/dup.out" net-create lab --subnet 10.77.9.0/24
if one_error "$WORK/dup.out" "network lab already exists" && [ "$(ls "$VMM_HOME/networks")" = "$before" ] &&
    jq -e '.subnet == "10.77.1.0/24"' "$def" >/dev/null; then
    pass networks.duplicate-name
else
    fail networks.duplicate-name "exit $status: $(cat "$WORK/dup.out")"
fi

ok=1
for bad in 10.77.3.0 10.77.3.0/33 10.77.3.5/24 300.1.1.0/24 10.77.1.128/25 10.77.3.0/31 banana; do
    nvmm "$WORK/cidr.out" net-create badnet --subnet "$bad"
    one_error "$WORK/cidr.out" "subnet" || { ok=0; fail networks.bad-subnet "$bad: exit $status: $(cat "$WORK/cidr.out")"; }
done
if [ $ok = 1 ] && [ ! -e "$VMM_HOME/networks/badnet.json" ] && ! in_ns ip link show vmmbr-badnet >/dev/null 2>&1; then
    pass networks.bad-subnet
fi

brs_before=$(bridges)
timeout -s KILL 30 ip netns exec $ns setpriv --reuid=65534 --regid=65534 --clear-groups \
    env VMM_HOME="$nobody_home" "$VMM" net-create mine --subnet 10.77.4.0/24 --nat --dhcp </dev/null >"$WORK/nobody.out" 2>&1
status=$?
if one_error "$WORK/nobody.out" "creating bridge vmmbr-mine needs root (CAP_NET_ADMIN)" &&
    [ -z "$(find "$nobody_home/networks" "$nobody_home/run" -mindepth 1)" ] && [ "$(bridges)" = "$brs_before" ] &&
    ! in_ns nft list table ip vmm-mine >/dev/null 2>&1; then
    pass networks.not-root
else
    fail networks.not-root "exit $status: $(cat "$WORK/nobody.out"); bridges now $(bridges)"
fi

# A step failing late (here dnsmasq, replaced by one that cannot bind) undoes the earlier ones.
mkdir -p "$WORK/fakebin"
printf '#!/bin/sh\necho "dnsmasq: failed to create listening socket for 10.77.5.1: Address in use" >&2\nexit 2\n' \
    >"$WORK/fakebin/dnsmasq"
chmod +x "$WORK/fakebin/dnsmasq"
brs_before=$(bridges)
timeout -s KILL 30 ip netns exec $ns env PATH="$WORK/fakebin:$PATH" "$VMM" net-create late --subnet 10.77.5.0/24 --nat --dhcp \
    </dev/null >"$WORK/late.out" 2>&1
status=$?
if one_error "$WORK/late.out" "dnsmasq could not start on bridge vmmbr-late: dnsmasq: failed to create listening socket" &&
    [ "$(bridges)" = "$brs_before" ] && ! in_ns nft list table ip vmm-late >/dev/null 2>&1 &&
    [ ! -e "$VMM_HOME/networks/late.json" ] && [ ! -e "$VMM_HOME/run/net-late" ]; then
    pass networks.rollback
else
    fail networks.rollback "exit $status: $(cat "$WORK/late.out"); bridges now $(bridges)"
fi

nvmm "$WORK/nobr.out" run --kernel "$GUESTS/vping.elf" --network bridge=vmmbr-nonesuch
if one_error "$WORK/nobr.out" "bridge vmmbr-nonesuch does not exist: create it with vmm net-create"; then
    pass networks.bridge-missing
else
    fail networks.bridge-missing "exit $status: $(cat "$WORK/nobr.out")"
fi

# ---- a network whose bridge vanished (as after a reboot) comes back with net-start ----
in_ns ip link del vmmbr-other
nvmm "$WORK/l2.out" net-list
lost=$(grep -c '^other .* no$' "$WORK/l2.out")
nvmm "$WORK/start.out" net-start other
if [ "$lost" = 1 ] && [ $status -eq 0 ] && in_ns ip -br addr show vmmbr-other | grep -q "10.77.2.1/24"; then
    pass networks.start-again
else
    fail networks.start-again "lost=$lost exit $status: $(cat "$WORK/start.out")"
fi

# ---- destroy undoes everything ----
nvmm "$WORK/d1.out" net-destroy lab
s1=$status
nvmm "$WORK/d2.out" net-destroy other
nvmm "$WORK/l3.out" net-list
sleep 0.2
if [ $s1 -eq 0 ] && [ $status -eq 0 ] && [ -z "$(bridges | tr -d ' ')" ] && ! kill -0 "$dpid" 2>/dev/null &&
    [ -z "$(in_ns nft list tables)" ] && [ -z "$(find "$VMM_HOME/networks" "$VMM_HOME/run" -mindepth 1)" ] &&
    [ "$(wc -l <"$WORK/l3.out")" = 1 ] && [ "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 0 ]; then
    pass networks.destroy
else
    fail networks.destroy "exits $s1 $status; bridges '$(bridges)'; tables '$(in_ns nft list tables | tr '\n' ' ')'; $(cat "$WORK/d1.out" "$WORK/d2.out" | tr '\n' '|')"
fi
