#!/usr/bin/env bash
# GRUB from a CD-ROM under SeaBIOS, seen on serial and over VNC: the menu on serial and in a
# stock client's screenshot (OCR), keys from the test's RFB client move the highlight and choose
# entries (the second entry echoes on serial, the first boots the hello guest with multiboot,
# which powers off: vmm exits 0). Then the El Torito-only ISO boots to the menu, and the hybrid
# ISO boots as a read-only virtio-blk disk, and the El Torito-only ISO boots the guest from the IDE CD.
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm grub.cdrom || exit 0
media_ready grub.cdrom grub.iso grub-noboot-mbr.iso || exit 0

out=$WORK/72.out
display=$(free_display)
vmm_start $((SEABIOS_WAIT + 120)) "$out" --memory 128M --cdrom build/media/grub.iso --vnc ":$display"
if ! wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"; then
    fail grub.cdrom.menu-serial "no GRUB menu on serial within ${SEABIOS_WAIT}s: $(tail_of "$out")"
    vmm_kill
else
    pass grub.cdrom.menu-serial

    # GRUB writes each string to serial, then to its gfxterm screen: after the last help line on
    # serial, give the screen a moment.
    wait_for_vmm "$out" "for a command-line" 120
    sleep 5
    # A stock client's screenshot, checked by what it shows.
    if need_tool grub.cdrom.vnc-stock-screenshot tesseract tesseract-ocr &&
        need_tool grub.cdrom.vnc-stock-screenshot gvnccapture gvncviewer; then
        if ! stock_capture "$display" "$WORK/72.stock.png"; then
            fail grub.cdrom.vnc-stock-screenshot "gvnccapture got no picture: $(tail -n 2 "$WORK/gvnccapture.log" | tr '\n' '|')"
        elif ocr_has "$WORK/72.stock.png" "GNU GRUB" "entry is highlighted"; then
            pass grub.cdrom.vnc-stock-screenshot
        else
            fail grub.cdrom.vnc-stock-screenshot "OCR found no 'GNU GRUB'/'hello guest': $(ocr_text "$WORK/72.stock.png" | tr '\n' '|' | head -c 200)"
        fi
    fi

    # Down over VNC moves the highlight: GRUB redraws both entries, on serial with the second one
    # now in reverse video, and on the screen (the pixels change).
    "${VNCCLIENT[@]}" ":$display" capture "$WORK/72.a.png" key Down >"$WORK/72.vnc" 2>&1
    moved=no
    for _ in $(seq 1 24); do
        sleep 5
        "${VNCCLIENT[@]}" ":$display" capture "$WORK/72.b.png" >/dev/null 2>&1
        if [ -s "$WORK/72.b.png" ] && ! cmp -s "$WORK/72.a.png" "$WORK/72.b.png"; then moved=yes; break; fi
    done
    if [ $moved = yes ]; then
        pass grub.cdrom.vnc-key-moves-highlight
    else
        fail grub.cdrom.vnc-key-moves-highlight "screen unchanged within 120 s after Down: $(tr '\n' '|' <"$WORK/72.vnc")"
    fi
    "${VNCCLIENT[@]}" ":$display" key Return >>"$WORK/72.vnc" 2>&1
    if wait_for_vmm "$out" "vmm test: second entry chosen" 120; then
        pass grub.cdrom.vnc-key-chooses-entry
    else
        fail grub.cdrom.vnc-key-chooses-entry "Down, Return over VNC did not run the second entry: $(tail_of "$out")"
    fi
    vmm_kill
fi

# Return over VNC on the first entry boots the guest program, which powers off: vmm exits 0.
out=$WORK/72.boot.out
display=$(free_display)
vmm_start $((SEABIOS_WAIT + 300)) "$out" --memory 128M --cdrom build/media/grub.iso --vnc ":$display"
if wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"; then
    "${VNCCLIENT[@]}" ":$display" key Return >"$WORK/72.boot.vnc" 2>&1
    if wait_for_vmm "$out" "hello: vmm guest up (multiboot)" 300; then
        vmm_wait 60
        if [ "$status" -eq 0 ] && has_line "$out" "hello: noinput"; then
            pass grub.cdrom.boots-guest
        else
            fail grub.cdrom.boots-guest "guest up but exit status $status: $(tail_of "$out")"
        fi
    else
        fail grub.cdrom.boots-guest "no 'hello: vmm guest up (multiboot)': $(tail_of "$out")"
        vmm_kill
    fi
else
    fail grub.cdrom.boots-guest "no GRUB menu: $(tail_of "$out")"
    vmm_kill
fi

# grub_menu_case NAME ARGS...: vmm boots ARGS to the GRUB menu on serial.
grub_menu_case() {
    local name=$1 out=$WORK/$1.out
    shift
    vmm_start $((SEABIOS_WAIT + 10)) "$out" --memory 128M "$@"
    if wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"; then
        pass "$name"
    else
        fail "$name" "no GRUB menu on serial within ${SEABIOS_WAIT}s: $(tail_of "$out")"
    fi
    vmm_kill
}
grub_menu_case grub.cdrom.eltorito-only --cdrom build/media/grub-noboot-mbr.iso
grub_menu_case grub.hybrid-iso-as-disk --disk build/media/grub.iso,readonly=on

# The El Torito-only ISO on the IDE controller's ATAPI drive (--cdrom ISO,bus=ide): SeaBIOS finds
# the drive by its signature and IDENTIFY PACKET DEVICE and boots it; GRUB reads its modules, font
# and the guest program through int 13h on the PACKET/PIO path; Return on the serial socket boots
# the guest, which powers off: vmm exits 0.
out=$WORK/72.ide.serial
sock=$WORK/72.ide.sock
vmm_start $((SEABIOS_WAIT + 300)) "$WORK/72.ide.out" --memory 128M --cdrom build/media/grub-noboot-mbr.iso,bus=ide \
    --serial "socket:$sock,log=$out" --debugcon "file:$WORK/72.ide.debug"
if wait_for_vmm "$WORK/72.ide.debug" "DVD/CD [ata1-0: VMM DVD-ROM ATAPI" "$SEABIOS_WAIT"; then
    pass grub.cdrom.ide-seabios-finds-drive
else
    fail grub.cdrom.ide-seabios-finds-drive "SeaBIOS did not list the IDE DVD/CD: $(grep -a -i 'ata\|dvd' "$WORK/72.ide.debug" | tail -n 3 | tr '\n' '|')"
fi
if wait_for_vmm "$out" "vmm test: hello guest" "$SEABIOS_WAIT"; then
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"\r")
time.sleep(1)' "$sock" >"$WORK/72.ide.send" 2>&1
    if wait_for_vmm "$out" "hello: vmm guest up (multiboot)" 300; then
        vmm_wait 60
        if [ "$status" -eq 0 ] && has_line "$out" "hello: noinput"; then
            pass grub.cdrom.ide-boots-guest
        else
            fail grub.cdrom.ide-boots-guest "guest up but exit status $status: $(tail_of "$WORK/72.ide.out")"
        fi
    else
        fail grub.cdrom.ide-boots-guest "no 'hello: vmm guest up (multiboot)' after Return: $(tail_of "$out") $(cat "$WORK/72.ide.send")"
        vmm_kill
    fi
else
    fail grub.cdrom.ide-boots-guest "no GRUB menu on serial from the IDE CD: $(tail_of "$out") $(tail_of "$WORK/72.ide.out")"
    vmm_kill
fi
