#!/usr/bin/env bash
# Installs the Debian 12 packages that building vmm, its tests, the demo and the benchmark need.
# As root it runs apt-get; otherwise it names what is missing and how to install it.
set -eu
packages=(
    gcc make binutils libc6-dev pkg-config     # build
    libaio-dev libslirp-dev libglib2.0-dev     # disk AIO, user-mode networking (slirp.pc needs glib)
    libvncserver-dev zlib1g-dev                # VNC display, PNG screendumps
    libjson-c-dev socat                        # the QMP control socket and its socat check
    qemu-utils jq                              # qemu-img/qemu-io: the reference for qcow2 images
    iproute2 fio                               # tap tests in network namespaces; the disk benchmark
    dnsmasq-base nftables                      # vmm net-create: DHCP and NAT of private networks
    util-linux procps                          # setpriv, script, ps in tests
    linux-image-cloud-amd64 lz4 xz-utils       # Debian's kernel, booted in the tests
    acpica-tools                               # iasl checks the ACPI tables vmm generates
    seabios                                    # firmware images
    busybox-static cpio                        # initramfs for the full-Linux tier and the demo
    grub-pc-bin grub-common xorriso mtools     # boot media: GRUB ISOs and disk (tests/media)
    isolinux syslinux-common                   # the installer ISO's boot loader and menu
    debian-installer-12-netboot-amd64          # the installer ISO's kernel, initrd and menu
    ipxe-qemu                                  # iPXE, the virtio-net option ROM
    python3 tesseract-ocr tesseract-ocr-eng    # the test VNC client; reading screenshots
    gvncviewer                                 # gvnccapture: a stock VNC client's screenshot
)
[ "${1:-}" = --bench ] && packages+=(qemu-system-x86 valgrind time)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "vmm: missing Debian packages: ${missing[*]}" >&2
    echo "vmm: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "vmm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
