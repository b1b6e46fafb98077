#!/usr/bin/env bash
# `vmm img` against the files it produces and against Debian's qemu-img (qemu-utils): create, info
# (human and JSON field by field), check exit codes, convert (plain and compressed), resize, commit,
# rebase (safe and unsafe), and clear errors for missing, in-use and damaged images.
set -u
. tests/lib.sh

D=$WORK/img
rm -rf "$D" && mkdir -p "$D"

if ! "$VMM" img --help >/dev/null 2>&1; then
    skip img "this vmm has no img command"
    exit 0
fi
if ! command -v qemu-img >/dev/null; then
    skip img "qemu-img is not installed (apt-get install qemu-utils)"
    exit 0
fi
HAVE_QEMU_IO=0
command -v qemu-io >/dev/null && HAVE_QEMU_IO=1

img() { "$VMM" img "$@"; }

# t NAME COMMAND...: ok when the command succeeds.
t() {
    local name=$1
    shift
    local out=$D/$name.out
    if "$@" >"$out" 2>&1; then
        pass "img.$name"
    else
        fail "img.$name" "$(tail -n 4 "$out" | tr '\n' '|')"
    fi
}

# bad NAME EXIT TEXT COMMAND...: the command exits with EXIT and prints TEXT.
bad() {
    local name=$1 want=$2 text=$3
    shift 3
    local out=$D/$name.out
    "$@" >"$out" 2>&1
    local rc=$?
    if [ $rc -eq "$want" ] && grep -qF -- "$text" "$out"; then
        pass "img.$name"
    else
        fail "img.$name" "exit $rc (want $want), output: $(head -c 300 "$out" | tr '\n' '|')"
    fi
}

qsize() { qemu-img info --output json "$1" | grep '"virtual-size"' | tr -dc 0-9; }
fsize() { stat -c %s "$1"; }

# ---- create ----
t create-raw img create -f raw "$D/a.raw" 64M
t create-raw-size test "$(fsize "$D/a.raw")" -eq 67108864
t create-raw-qemu sh -c "qemu-img info '$D/a.raw' | grep -q 'file format: raw'"
t create-qcow2 img create -f qcow2 "$D/a.qcow2" 1G
t create-qcow2-check qemu-img check "$D/a.qcow2"
t create-qcow2-size test "$(qsize "$D/a.qcow2")" -eq 1073741824
t create-qcow2-v2 sh -c "'$VMM' img create -f qcow2 -o compat=0.10,cluster_size=4k '$D/v2.qcow2' 10M &&
    qemu-img check '$D/v2.qcow2' && qemu-img info '$D/v2.qcow2' | grep -q 'compat: 0.10' &&
    qemu-img info '$D/v2.qcow2' | grep -q 'cluster_size: 4096'"
head -c 3M /dev/urandom >"$D/base.raw"
truncate -s 8M "$D/base.raw"
t create-backing img create -f qcow2 -b base.raw -F raw "$D/over.qcow2"
t create-backing-qemu sh -c "qemu-img info '$D/over.qcow2' | grep -q 'backing file: base.raw' &&
    qemu-img info '$D/over.qcow2' | grep -q 'backing file format: raw' && qemu-img check '$D/over.qcow2'"
t create-backing-size test "$(qsize "$D/over.qcow2")" -eq 8388608
t create-backing-reads qemu-img compare "$D/over.qcow2" "$D/base.raw"
bad create-no-size 1 "needs a size" img create -f qcow2 "$D/nosize.qcow2"
bad create-bad-size 1 "'12X' is not a size" img create -f qcow2 "$D/bad.qcow2" 12X
bad create-bad-format 1 "format 'vdi' is not supported" img create -f vdi "$D/bad.vdi" 1M
bad create-missing-backing 1 "nothere.raw" img create -f qcow2 -b nothere.raw -F raw "$D/orphan.qcow2" 1M

# ---- info ----
t info-human sh -c "'$VMM' img info '$D/over.qcow2' | grep -q 'virtual size: 8 MiB (8388608 bytes)'"
if command -v jq >/dev/null; then
    for f in a.raw a.qcow2 over.qcow2 v2.qcow2; do
        ok=1
        for key in filename format virtual-size actual-size cluster-size backing-filename backing-filename-format dirty-flag; do
            ours=$(img info --output json "$D/$f" | jq -c ".\"$key\"")
            theirs=$(qemu-img info --output json "$D/$f" | jq -c ".\"$key\"")
            if [ "$ours" != "$theirs" ]; then
                fail "img.info-json-$f" "$key: vmm says $ours, qemu-img says $theirs"
                ok=0
                break
            fi
        done
        [ $ok = 1 ] && pass "img.info-json-$f"
    done
else
    skip img.info-json "jq is not installed"
fi
t info-chain sh -c "'$VMM' img info --backing-chain '$D/over.qcow2' | grep -q 'image: $D/base.raw'"
bad info-missing 1 "image $D/nope.qcow2 does not exist" img info "$D/nope.qcow2"

# ---- convert ----
t convert-to-qcow2 img convert -O qcow2 "$D/base.raw" "$D/conv.qcow2"
t convert-to-qcow2-qemu sh -c "qemu-img check '$D/conv.qcow2' && qemu-img compare '$D/conv.qcow2' '$D/base.raw'"
for i in $(seq 0 2000); do echo "line $i of compressible text in a disk image"; done >"$D/text.raw"
truncate -s 4M "$D/text.raw"
t convert-compressed img convert -c -O qcow2 "$D/text.raw" "$D/text.qcow2"
t convert-compressed-qemu sh -c "qemu-img check '$D/text.qcow2' | grep -q 'compressed clusters' &&
    qemu-img compare '$D/text.qcow2' '$D/text.raw' && [ \$(stat -c %s '$D/text.qcow2') -lt 1048576 ]"
qemu-img convert -c -O qcow2 "$D/text.raw" "$D/qtext.qcow2"
t convert-from-qemu-compressed sh -c "'$VMM' img convert -O raw '$D/qtext.qcow2' '$D/qtext.raw' && cmp '$D/qtext.raw' '$D/text.raw'"
t convert-chain-to-raw sh -c "'$VMM' img convert -f qcow2 -O raw '$D/over.qcow2' '$D/flat.raw' && cmp '$D/flat.raw' '$D/base.raw'"
bad convert-c-raw 1 "needs -O qcow2" img convert -c -O raw "$D/base.raw" "$D/x.raw"

# ---- check ----
t check-clean img check "$D/conv.qcow2"
cp "$D/a.qcow2" "$D/leak.qcow2"
# a.qcow2 (1 GiB, 64 KiB clusters): header, refcount table, refcount block, L1 = clusters 0-3.
# Refcount 1 for cluster 5, which nothing uses: a leak. Refcount 0 for the L1 table: corruption.
printf '\000\001' | dd of="$D/leak.qcow2" bs=1 seek=$((2 * 65536 + 5 * 2)) conv=notrunc status=none
truncate -s $((6 * 65536)) "$D/leak.qcow2"
bad check-leak 3 "1 leaked clusters were found" img check "$D/leak.qcow2"
t check-leak-qemu-agrees sh -c "qemu-img check '$D/leak.qcow2'; [ \$? -eq 3 ]"
cp "$D/a.qcow2" "$D/corrupt.qcow2"
printf '\000\000' | dd of="$D/corrupt.qcow2" bs=1 seek=$((2 * 65536 + 3 * 2)) conv=notrunc status=none
bad check-corrupt 2 "errors were found on the image" img check "$D/corrupt.qcow2"
t check-corrupt-qemu-agrees sh -c "qemu-img check '$D/corrupt.qcow2'; [ \$? -eq 2 ]"
bad check-raw 63 "raw images have no metadata" img check "$D/a.raw"
head -c 40 "$D/a.qcow2" >"$D/trunc.qcow2"
bad check-truncated 1 "truncated qcow2 header" img check -f qcow2 "$D/trunc.qcow2"
cp "$D/a.qcow2" "$D/future.qcow2"
printf '\000\000\000\000\000\000\000\200' | dd of="$D/future.qcow2" bs=1 seek=72 conv=notrunc status=none
bad open-unknown-feature 1 "incompatible feature bit 7" img info "$D/future.qcow2"

# ---- resize ----
t resize-grow sh -c "'$VMM' img resize '$D/conv.qcow2' +1G && [ \$(qemu-img info --output json '$D/conv.qcow2' | grep '\"virtual-size\"' | tr -dc 0-9) -eq $((8388608 + 1073741824)) ] && qemu-img check '$D/conv.qcow2'"
bad resize-shrink-qcow2 1 "shrinking a qcow2 image is not supported" img resize "$D/conv.qcow2" 1M
cp "$D/base.raw" "$D/shrink.raw"
bad resize-shrink-raw-unconfirmed 1 "add --shrink" img resize "$D/shrink.raw" 4M
t resize-shrink-raw sh -c "'$VMM' img resize --shrink '$D/shrink.raw' 4M && [ \$(stat -c %s '$D/shrink.raw') -eq 4194304 ]"

# ---- commit and rebase (data written by qemu-io when present, else by vmm img convert) ----
cp "$D/base.raw" "$D/cbase.raw"
img create -f qcow2 -b cbase.raw -F raw "$D/cover.qcow2" >/dev/null
cp "$D/base.raw" "$D/expect.raw"
if [ $HAVE_QEMU_IO = 1 ]; then
    qemu-io -c "write -P 0x5a 1M 200k" -c "write -P 0x6b 7M 4k" "$D/cover.qcow2" >/dev/null
    qemu-io -f raw -c "write -P 0x5a 1M 200k" -c "write -P 0x6b 7M 4k" "$D/expect.raw" >/dev/null
    t commit img commit "$D/cover.qcow2"
    t commit-base-holds-data cmp "$D/cbase.raw" "$D/expect.raw"
    t commit-overlay-emptied sh -c "qemu-img check '$D/cover.qcow2' && ! qemu-img map --output json '$D/cover.qcow2' | grep -q '\"depth\": 0'"
    t commit-reads-same qemu-img compare "$D/cover.qcow2" "$D/expect.raw"
    # Safe rebase onto a different file: contents unchanged; unsafe rebase: header only.
    img create -f qcow2 -b cbase.raw -F raw "$D/rover.qcow2" >/dev/null
    qemu-io -c "write -P 0x33 2M 64k" "$D/rover.qcow2" >/dev/null
    qemu-img convert -O raw "$D/rover.qcow2" "$D/rover-before.raw"
    head -c 8M /dev/urandom >"$D/other.raw"
    t rebase-safe img rebase -b other.raw -F raw "$D/rover.qcow2"
    t rebase-safe-same-data qemu-img compare "$D/rover.qcow2" "$D/rover-before.raw"
    t rebase-safe-header sh -c "qemu-img info '$D/rover.qcow2' | grep -q 'backing file: other.raw' && qemu-img check '$D/rover.qcow2'"
    t rebase-unsafe img rebase -u -b cbase.raw -F raw "$D/rover.qcow2"
    t rebase-unsafe-header sh -c "qemu-img info '$D/rover.qcow2' | grep -q 'backing file: cbase.raw' && qemu-img check '$D/rover.qcow2'"
    # In use by QEMU: refused with the holder named.
    (sleep 5 | qemu-io "$D/rover.qcow2" >/dev/null 2>&1) &
    sleep 1
    bad in-use 1 "is in use by another process" img resize "$D/rover.qcow2" +1M
    t in-use-force-share-info img info -U "$D/rover.qcow2"
    wait
else
    skip img.commit "qemu-io is not installed"
fi
bad commit-no-backing 1 "has no backing file" img commit "$D/a.qcow2"
bad rebase-no-b 1 "needs -b" img rebase "$D/over.qcow2"
bad unknown-command 1 "unknown vmm img command 'frob'" img frob
