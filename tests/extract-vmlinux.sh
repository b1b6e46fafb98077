#!/usr/bin/env bash
# Extracts the ELF vmlinux from a bzImage: the setup header's payload_offset/payload_length
# (Linux boot protocol 2.08+) locate the compressed kernel; its magic picks the decompressor.
set -eu
in=$1 out=$2
setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$in" | tr -d ' ')
[ "$setup_sects" -eq 0 ] && setup_sects=4
payload_offset=$(od -An -tu4 -j $((0x248)) -N4 "$in" | tr -d ' ')
payload_length=$(od -An -tu4 -j $((0x24c)) -N4 "$in" | tr -d ' ')
start=$(( (setup_sects + 1) * 512 + payload_offset ))
magic=$(od -An -tx1 -j "$start" -N4 "$in" | tr -d ' ')
payload() { tail -c +$((start + 1)) "$in" | head -c "$payload_length"; }
case "$magic" in
    02214c18) payload | lz4 -dc >"$out" 2>/dev/null || true ;;   # lz4 legacy frame: trailing size word
    fd377a58) payload | xz -dc >"$out" 2>/dev/null || true ;;
    28b52ffd) payload | zstd -dc >"$out" 2>/dev/null || true ;;
    1f8b08*)  payload | gzip -dc >"$out" 2>/dev/null || true ;;
    *) echo "extract-vmlinux: unknown compression (magic $magic) in $in" >&2; exit 1 ;;
esac
if [ "$(od -An -tx1 -N4 "$out" | tr -d ' ')" != 7f454c46 ]; then
    echo "extract-vmlinux: decompressing $in did not give an ELF file" >&2
    exit 1
fi
