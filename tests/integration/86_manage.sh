#!/usr/bin/env bash
# Managed VMs on a throwaway VMM_HOME: create (direct kernel and ISO), list, console, suspend/resume,
# shutdown through the ACPI power button, start again, reboot, destroy, state after a crash,
# undefine, clone (full and linked), attach-disk, autostart units, and bad input that leaves nothing
# behind. Guests: prompt (serial prompt + power button) and vblk (reports its disks and sizes).
set -u
. tests/lib.sh
need_kvm manage || exit 0

export VMM_HOME=$WORK/manage-home
export VMM_SYSTEMD_DIR=$WORK/units
cleanup() {
    for vm in $("$VMM" list --all 2>/dev/null | awk 'NR > 1 { print $1 }'); do
        "$VMM" destroy "$vm" >/dev/null 2>&1
    done
}
trap cleanup EXIT

state_of() { "$VMM" list --all | awk -v n="$1" '$1 == n { print $2 == "shut" ? "shut off" : $2 }'; }
console_log() { cat "$VMM_HOME/run/$1/console.log" 2>/dev/null; }
# wait_state NAME STATE SECONDS
wait_state() {
    local i=0
    while [ $i -lt $(($3 * 10)) ]; do
        [ "$(state_of "$1")" = "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# wait_console NAME TEXT SECONDS
wait_console() { wait_for "$VMM_HOME/run/$1/console.log" "$2" "$3"; }

# ---- the life cycle of a direct-kernel VM ----
out=$WORK/manage-create.out
"$VMM" create cyc --boot kernel="$GUESTS/prompt.elf" --memory 64 --vcpus 2 --graphics none --noautoconsole >"$out" 2>&1
rc=$?
def=$VMM_HOME/vms/cyc.json
if [ $rc = 0 ] && [ "$(stat -c %a "$def")" = 600 ] && jq -e '.name == "cyc" and .vcpus == 2 and .memory_mib == 64' "$def" >/dev/null &&
    wait_console cyc "prompt> " 20; then
    pass manage.create-kernel
else
    fail manage.create-kernel "rc $rc: $(tr '\n' '|' <"$out") $(console_log cyc | tail -n 2 | tr '\n' '|')"
fi

uuid=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-uuid"}' |
    socat -t 3 - "UNIX-CONNECT:$VMM_HOME/run/cyc/qmp.sock" 2>/dev/null | jq -r 'select(.return.UUID) | .return.UUID')
if [ -n "$uuid" ] && [ "$uuid" = "$(jq -r .uuid "$def")" ]; then
    pass manage.uuid
else
    fail manage.uuid "query-uuid gave '$uuid', definition has '$(jq -r .uuid "$def")'"
fi

line=$("$VMM" list | awk '$1 == "cyc"')
if echo "$line" | grep -q "cyc *running *2 *64 MiB"; then
    pass manage.list-running
else
    fail manage.list-running "list: $("$VMM" list --all | tr '\n' '|')"
fi

out=$WORK/manage-console.out
(sleep 1; printf 'hello from the console\r'; sleep 2; printf '\035') | timeout 20 "$VMM" console cyc >"$out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "prompt: you said 'hello from the console'" "$out" && grep -q "Detached" "$out"; then
    pass manage.console
else
    fail manage.console "rc $rc: $(tr '\n' '|' <"$out" | tail -c 300)"
fi

(sleep 3) | timeout 10 "$VMM" console cyc >"$WORK/manage-console1.out" 2>&1 &
holder=$!
sleep 1
timeout 10 "$VMM" console cyc </dev/null >"$WORK/manage-console2.out" 2>&1
rc=$?
wait $holder
if [ $rc = 1 ] && grep -q "another client is attached" "$WORK/manage-console2.out"; then
    pass manage.console-busy
else
    fail manage.console-busy "second console rc $rc: $(tr '\n' '|' <"$WORK/manage-console2.out")"
fi

"$VMM" suspend cyc >/dev/null 2>&1
s1=$(state_of cyc)
"$VMM" resume cyc >/dev/null 2>&1
s2=$(state_of cyc)
if [ "$s1" = paused ] && [ "$s2" = running ]; then
    pass manage.suspend-resume
else
    fail manage.suspend-resume "after suspend '$s1', after resume '$s2'"
fi

"$VMM" reboot cyc >/dev/null 2>&1
i=0
while [ $i -lt 100 ] && [ "$(console_log cyc | grep -c "prompt: ready")" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(console_log cyc | grep -c "prompt: ready")" = 2 ] && [ "$(state_of cyc)" = running ]; then
    pass manage.reboot
else
    fail manage.reboot "console: $(console_log cyc | tr '\n' '|' | tail -c 300)"
fi

start=$(date +%s)
"$VMM" shutdown cyc --timeout 30 >"$WORK/manage-shutdown.out" 2>&1
rc=$?
if [ $rc = 0 ] && [ "$(state_of cyc)" = "shut off" ] && console_log cyc | grep -q "power button, powering off" &&
    [ $(($(date +%s) - start)) -lt 30 ]; then
    pass manage.shutdown
else
    fail manage.shutdown "rc $rc, state '$(state_of cyc)': $(tr '\n' '|' <"$WORK/manage-shutdown.out")"
fi

"$VMM" start cyc >/dev/null 2>&1
s1=$(state_of cyc)
"$VMM" start cyc >"$WORK/manage-start2.out" 2>&1
rc2=$?
"$VMM" destroy cyc >/dev/null 2>&1
s2=$(state_of cyc)
if [ "$s1" = running ] && [ $rc2 = 1 ] && grep -q "already running" "$WORK/manage-start2.out" && [ "$s2" = "shut off" ]; then
    pass manage.start-destroy
else
    fail manage.start-destroy "after start '$s1', second start rc $rc2 ($(cat "$WORK/manage-start2.out")), after destroy '$s2'"
fi

# A VM whose process dies without cleaning up is shut off at once, and starts again.
"$VMM" start cyc >/dev/null 2>&1
kill -9 "$(cat "$VMM_HOME/run/cyc/pid")" 2>/dev/null
sleep 0.5
s1=$(state_of cyc)
"$VMM" start cyc >/dev/null 2>&1
s2=$(state_of cyc)
"$VMM" destroy cyc >/dev/null 2>&1
if [ "$s1" = "shut off" ] && [ "$s2" = running ]; then
    pass manage.state-after-kill
else
    fail manage.state-after-kill "after SIGKILL '$s1', after start '$s2'"
fi

"$VMM" autostart cyc >/dev/null 2>&1
unit=$VMM_SYSTEMD_DIR/vmm-cyc.service
a1=$(jq -r .autostart "$def")
grep -q "^ExecStart=.* start cyc$" "$unit" 2>/dev/null && grep -q "^ExecStop=.* shutdown cyc" "$unit" && u1=yes || u1=no
"$VMM" autostart cyc --disable >/dev/null 2>&1
if [ "$a1" = true ] && [ $u1 = yes ] && [ ! -e "$unit" ] && [ "$(jq -r .autostart "$def")" = false ]; then
    pass manage.autostart
else
    fail manage.autostart "autostart flag '$a1', unit written: $u1, unit after --disable: $(ls "$unit" 2>&1)"
fi

"$VMM" undefine cyc >/dev/null 2>&1
if [ ! -e "$def" ] && ! "$VMM" list --all | grep -q "^cyc "; then
    pass manage.undefine
else
    fail manage.undefine "definition still there: $("$VMM" list --all | tr '\n' '|')"
fi

# ---- an ISO with a new disk image and a VNC display ----
iso=$WORK/manage.iso
mkdir -p "$WORK/isotree" && echo "vmm manage test" >"$WORK/isotree/README"
xorriso -as mkisofs -quiet -o "$iso" "$WORK/isotree" >/dev/null 2>&1 || truncate -s 1M "$iso"
out=$WORK/manage-iso.out
"$VMM" create isovm --cdrom "$iso" --disk size=64M --memory 128 --graphics vnc,listen=127.0.0.1,password=pw$$x \
    --noautoconsole >"$out" 2>&1
rc=$?
disp=$("$VMM" vncdisplay isovm 2>&1)
port=$(echo "$disp" | sed -n 's/.*(port \([0-9]*\)).*/\1/p')
banner=""
# The RFB greeting, then the security types offered: one, VNC authentication (2).
[ -n "$port" ] && banner=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; head -c 12 <&3; printf 'RFB 003.008\n' >&3;
    head -c 2 <&3 | od -An -tu1 | tr -s ' '" 2>/dev/null | tr '\n' ' ')
cmdline=$(tr '\0' ' ' <"/proc/$(cat "$VMM_HOME/run/isovm/pid" 2>/dev/null)/cmdline" 2>/dev/null)
img=$VMM_HOME/images/isovm-vda.qcow2
if [ $rc = 0 ] && [ "$(state_of isovm)" = running ] && [ "$banner" = "RFB 003.008  1 2 " ] &&
    [ -n "$cmdline" ] && ! echo "$cmdline" | grep -q "pw$$x" && [ "$(stat -c %a "$VMM_HOME/run/isovm/vnc.pass")" = 600 ] &&
    qemu-img info -U "$img" 2>/dev/null | grep -q "virtual size: 64 MiB" && jq -e ".cdrom == \"$iso\"" "$VMM_HOME/vms/isovm.json" >/dev/null; then
    pass manage.create-iso
else
    fail manage.create-iso "rc $rc, state '$(state_of isovm)', vncdisplay '$disp', banner '$banner': $(tr '\n' '|' <"$out")"
fi
"$VMM" destroy isovm >/dev/null 2>&1
"$VMM" undefine isovm --remove-all-storage >/dev/null 2>&1
if [ ! -e "$img" ] && [ -e "$iso" ] && [ ! -e "$VMM_HOME/vms/isovm.json" ]; then
    pass manage.undefine-storage
else
    fail manage.undefine-storage "image left: $(ls "$img" 2>&1), ISO kept: $(ls "$iso" 2>&1)"
fi

# ---- clones ----
base=$WORK/manage-base.img
head -c 4M /dev/urandom >"$base"
sum0=$(cksum <"$base" | awk '{ print $1 }')
"$VMM" define base --boot kernel="$GUESTS/vblk.elf" --disk path="$base",format=raw --network user --graphics none >/dev/null 2>&1
"$VMM" clone base full >"$WORK/manage-clone.out" 2>&1 &&
    "$VMM" clone base linked --linked >>"$WORK/manage-clone.out" 2>&1
rc=$?
uuids=$(jq -r .uuid "$VMM_HOME"/vms/{base,full,linked}.json | sort -u | wc -l)
macs=$(jq -r '.nics[0].mac' "$VMM_HOME"/vms/{base,full,linked}.json | sort -u | wc -l)
boots=""
for vm in full linked; do
    "$VMM" start "$vm" >/dev/null 2>&1
    wait_state "$vm" "shut off" 60
    console_log "$vm" | grep -q "vblk: disk 0 serial vda sectors 8192 cksum $sum0" && console_log "$vm" | grep -q "vblk: done, 1 disks" &&
        boots="$boots $vm"
done
backing=$(qemu-img info -U --output json "$VMM_HOME/images/linked-vda.qcow2" 2>/dev/null | jq -r '.["backing-filename"]')
if [ $rc = 0 ] && [ "$uuids" = 3 ] && [ "$macs" = 3 ] && [ "$boots" = " full linked" ] && [ "$backing" = "$base" ] &&
    [ "$(cksum <"$base" | awk '{ print $1 }')" = "$sum0" ] && qemu-img check "$VMM_HOME/images/linked-vda.qcow2" >/dev/null 2>&1; then
    pass manage.clone
else
    fail manage.clone "rc $rc, uuids $uuids, macs $macs, booted:$boots, backing '$backing': $(tr '\n' '|' <"$WORK/manage-clone.out") $(console_log linked | tail -n 3 | tr '\n' '|')"
fi

# ---- attach-disk: the guest sees the new disk with its size after a restart ----
"$VMM" attach-disk full size=3M --target vdb >"$WORK/manage-attach.out" 2>&1
rc=$?
"$VMM" start full >/dev/null 2>&1
wait_state full "shut off" 60
if [ $rc = 0 ] && console_log full | grep -q "vblk: disk 1 serial vdb sectors 6144 " && console_log full | grep -q "vblk: done, 2 disks"; then
    pass manage.attach-disk
else
    fail manage.attach-disk "rc $rc: $(tr '\n' '|' <"$WORK/manage-attach.out") $(console_log full | grep vblk | tr '\n' '|')"
fi
"$VMM" detach-disk full vdb >/dev/null 2>&1
if [ "$(jq '.disks | length' "$VMM_HOME/vms/full.json")" = 1 ] && [ -e "$VMM_HOME/images/full-vdb.qcow2" ]; then
    pass manage.detach-disk
else
    fail manage.detach-disk "disks: $(jq -c .disks "$VMM_HOME/vms/full.json")"
fi

# ---- without --noautoconsole, create attaches the console (as virt-install does) ----
(sleep 2; printf 'typed at create\r'; sleep 2; printf '\035') |
    timeout 30 "$VMM" create auto --boot kernel="$GUESTS/prompt.elf" --memory 64 --graphics none >"$WORK/manage-auto.out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "prompt: you said 'typed at create'" "$WORK/manage-auto.out" && [ "$(state_of auto)" = running ]; then
    pass manage.create-autoconsole
else
    fail manage.create-autoconsole "rc $rc: $(tr '\n' '|' <"$WORK/manage-auto.out" | tail -c 300)"
fi
"$VMM" destroy auto >/dev/null 2>&1

# ---- the base of a linked clone is not started (its writes would corrupt the clone) ----
"$VMM" start base >"$WORK/manage-base-start.out" 2>&1
rc1=$?
"$VMM" undefine linked --remove-all-storage >/dev/null 2>&1
"$VMM" start base >"$WORK/manage-base-start2.out" 2>&1
rc2=$?
wait_state base "shut off" 60
if [ $rc1 = 1 ] && grep -q "is the base of linked clone 'linked'" "$WORK/manage-base-start.out" && [ $rc2 = 0 ] &&
    [ ! -e "$VMM_HOME/images/linked-vda.qcow2" ] && [ -e "$base" ]; then
    pass manage.linked-base-protected
else
    fail manage.linked-base-protected "first start rc $rc1 ($(cat "$WORK/manage-base-start.out")), after undefine rc $rc2 ($(cat "$WORK/manage-base-start2.out"))"
fi

# ---- cloning a running VM is refused ----
"$VMM" create runner --boot kernel="$GUESTS/prompt.elf" --memory 64 --graphics none --noautoconsole >/dev/null 2>&1
"$VMM" clone runner runner2 >"$WORK/manage-clone-running.out" 2>&1
rc=$?
"$VMM" destroy runner >/dev/null 2>&1
if [ $rc = 1 ] && grep -q "is running" "$WORK/manage-clone-running.out" && [ ! -e "$VMM_HOME/vms/runner2.json" ]; then
    pass manage.clone-running-refused
else
    fail manage.clone-running-refused "rc $rc: $(cat "$WORK/manage-clone-running.out")"
fi

# ---- bad input: one clear error, exit 1, nothing created ----
bad_case() { # NAME EXPECTED-TEXT VM ARGS...
    local name=$1 text=$2 vm=$3
    shift 3
    local before after
    before=$(ls "$VMM_HOME/vms" "$VMM_HOME/images" | sort | md5sum)
    "$VMM" create "$vm" "$@" --noautoconsole >"$WORK/manage-bad.out" 2>&1
    local rc=$?
    after=$(ls "$VMM_HOME/vms" "$VMM_HOME/images" | sort | md5sum)
    if [ $rc = 1 ] && [ "$(grep -c "vmm: error:" "$WORK/manage-bad.out")" = 1 ] && grep -q -- "$text" "$WORK/manage-bad.out" &&
        [ "$before" = "$after" ]; then
        pass "manage.bad.$name"
    else
        fail "manage.bad.$name" "rc $rc, files changed: $([ "$before" = "$after" ] && echo no || echo yes): $(tr '\n' '|' <"$WORK/manage-bad.out")"
    fi
}
bad_case duplicate-name "already exists" base --boot kernel="$GUESTS/prompt.elf"
bad_case missing-iso "No such file" nociso --cdrom "$WORK/nothing.iso" --disk size=1M
bad_case bad-mac "not a unicast MAC" badmac --disk size=1M --network user,mac=zz:00:00:00:00:00
bad_case bad-name "not a valid VM name" "bad/name" --boot kernel="$GUESTS/prompt.elf"
bad_case missing-network "network nosuchnet is not defined" nonet --disk size=1M --network network=nosuchnet
bad_case bad-memory "is not a size in MiB" badmem --memory lots
bad_case start-fails "did not start" notakernel --boot kernel="$base" --disk size=1M
