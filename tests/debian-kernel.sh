# Locates Debian's cloud kernel (linux-image-cloud-amd64) and its extracted ELF vmlinux.
# Sourced by tests; sets DEBIAN_BZIMAGE and DEBIAN_VMLINUX, or returns 1 with a message in $why.
debian_kernel() {
    DEBIAN_BZIMAGE=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$DEBIAN_BZIMAGE" ]; then
        why="no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64 (make check does this as root)"
        return 1
    fi
    local cache=${BUILD:-build}/linux
    mkdir -p "$cache"
    DEBIAN_VMLINUX=$cache/vmlinux-$(basename "$DEBIAN_BZIMAGE" | sed 's/^vmlinuz-//')
    if [ ! -s "$DEBIAN_VMLINUX" ]; then
        if ! tests/extract-vmlinux.sh "$DEBIAN_BZIMAGE" "$DEBIAN_VMLINUX.tmp"; then
            why="cannot extract vmlinux from $DEBIAN_BZIMAGE (is lz4/xz/zstd installed?)"
            return 1
        fi
        mv "$DEBIAN_VMLINUX.tmp" "$DEBIAN_VMLINUX"
    fi
    return 0
}
