#!/usr/bin/env bash
# Debian's installer ISO (isolinux, the stock graphical vesamenu) from a CD-ROM: the menu is seen
# over VNC (OCR finds "Debian" and "Install"), a Down key moves the selection to the added
# "vmm test guest" entry and Return boots the hello guest through mboot.c32 (it powers off,
# vmm exits 0). The installer itself is never booted (its initrd takes minutes through the BIOS).
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm installer.menu || exit 0
media_ready installer.menu installer.iso || exit 0
need_tool installer.menu tesseract tesseract-ocr || exit 0

out=$WORK/74.out
display=$(free_display)
vmm_start $((SEABIOS_WAIT + 150)) "$out" --memory 256M --cdrom build/media/installer.iso --vnc ":$display"
if ! wait_port $((5900 + display)) 30; then
    fail installer.menu "no VNC server on port $((5900 + display)): $(tail_of "$out")"
    vmm_kill
    exit 0
fi
# isolinux writes nothing to serial: wait for the menu on the screen.
if ! ocr_wait "$display" $((SEABIOS_WAIT + 60)) "$WORK/74.menu" "debian" "install"; then
    fail installer.menu "no Debian installer menu on the screen (OCR) within $((SEABIOS_WAIT + 60))s: $(ocr_text "$WORK/74.menu.png" 2>/dev/null | tr '\n' '|' | head -c 200) vmm: $(tail_of "$out")"
    vmm_kill
    exit 0
fi
pass installer.menu
ocr_text "$WORK/74.menu.png" | grep -v '^\s*$' | head -n 8 | sed 's/^/# ocr: /'

if need_tool installer.menu-stock-client gvnccapture gvncviewer; then
    if stock_capture "$display" "$WORK/74.stock.png" && ocr_has "$WORK/74.stock.png" "debian" "installer menu"; then
        pass installer.menu-stock-client
    else
        fail installer.menu-stock-client "stock screenshot without 'Debian'/'installer menu': $(ocr_text "$WORK/74.stock.png" 2>/dev/null | tr '\n' '|' | head -c 200)"
    fi
fi

# Down: the selection bar moves from "Install" to "vmm test guest"; Return boots that entry.
"${VNCCLIENT[@]}" ":$display" capture "$WORK/74.a.png" key Down sleep 2 capture "$WORK/74.b.png" \
    key Return >"$WORK/74.vnc" 2>&1
sed 's/^/# /' "$WORK/74.vnc"
if grep -q 'pixels differ' "$WORK/74.vnc" && ! grep -q ': 0 pixels differ' "$WORK/74.vnc"; then
    pass installer.key-moves-selection
else
    fail installer.key-moves-selection "screen unchanged after Down: $(tr '\n' '|' <"$WORK/74.vnc")"
fi
if wait_for_vmm "$out" "hello: vmm guest up (multiboot)" 60; then
    vmm_wait 30
    if [ "$status" -eq 0 ]; then
        pass installer.test-entry-boots-guest
    else
        fail installer.test-entry-boots-guest "guest up, exit status $status: $(tail_of "$out")"
    fi
else
    fail installer.test-entry-boots-guest "no 'hello: vmm guest up (multiboot)' after Down, Return: $(tail_of "$out")"
    vmm_kill
fi
