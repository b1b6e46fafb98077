#!/usr/bin/env bash
# vmm's VNC server: two clients at once both get ServerInit; a second vmm on the same display
# fails with one clear error line and exit status 1; with a password, the server offers VNC
# authentication (security type 2) and not None. The guest is powerbtn (it waits; SIGTERM ends it).
set -u
. tests/lib.sh
. tests/media/testlib.sh
need_kvm vnc.two-clients || exit 0
if [ ! -s "$GUESTS/powerbtn.elf" ]; then
    fail vnc.two-clients "$GUESTS/powerbtn.elf missing: make guests"
    exit 0
fi

display=$(free_display)
out=$WORK/82.out
vmm_start 120 "$out" --memory 64M --kernel "$GUESTS/powerbtn.elf" --vnc ":$display"
if ! wait_port $((5900 + display)) 30; then
    fail vnc.two-clients "no VNC server on 127.0.0.1:$((5900 + display)): $(tail_of "$out")"
    vmm_kill
    exit 0
fi

# Both connections stay open at the same time (each holds its session for 3 s).
"${VNCCLIENT[@]}" ":$display" info sleep 3 info >"$WORK/82.c1" 2>&1 &
c1=$!
"${VNCCLIENT[@]}" ":$display" info sleep 3 info >"$WORK/82.c2" 2>&1 &
c2=$!
wait $c1; r1=$?
wait $c2; r2=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(grep -c '^vnc: [0-9]*x[0-9]* name' "$WORK/82.c1")" = 2 ] &&
    [ "$(grep -c '^vnc: [0-9]*x[0-9]* name' "$WORK/82.c2")" = 2 ]; then
    pass vnc.two-clients
    head -n 1 "$WORK/82.c1" | sed 's/^/# /'
else
    fail vnc.two-clients "client 1 ($r1): $(tr '\n' '|' <"$WORK/82.c1") client 2 ($r2): $(tr '\n' '|' <"$WORK/82.c2")"
fi

# A framebuffer update arrives and is a picture of the screen's size.
if "${VNCCLIENT[@]}" ":$display" capture "$WORK/82.png" >"$WORK/82.cap" 2>&1 && [ -s "$WORK/82.png" ]; then
    pass vnc.framebuffer-update
else
    fail vnc.framebuffer-update "$(tr '\n' '|' <"$WORK/82.cap")"
fi

# The same display again: one clear line, exit status 1, promptly.
busy=$WORK/82.busy
run_vmm 30 "$busy" run --memory 64M --kernel "$GUESTS/powerbtn.elf" --vnc ":$display"
lines=$(grep -cv '^\s*$' "$busy")
if [ "$status" -eq 1 ] && [ "$lines" -ge 1 ] && [ "$lines" -le 2 ] &&
    grep -qiE "vnc|$((5900 + display))|in use" "$busy"; then
    pass vnc.busy-port
    sed 's/^/# /' "$busy"
else
    fail vnc.busy-port "exit status $status (wanted 1), $lines lines: $(tr '\n' '|' <"$busy" | head -c 240)"
fi

# SIGTERM: the guest sees the power button and vmm exits 0 (the VNC clients are gone).
kill -TERM "$VMM_PID"
vmm_wait 20
[ "$status" -eq 0 ] || echo "# vmm exit status after SIGTERM: $status"

# With a password: security type 2 (VNC authentication) offered, None not.
display=$(free_display)
out=$WORK/82.pw.out
vmm_start 60 "$out" --memory 64M --kernel "$GUESTS/powerbtn.elf" --vnc ":$display,password=secret"
if ! wait_port $((5900 + display)) 30; then
    fail vnc.password-offers-vnc-auth "no VNC server with a password: $(tail_of "$out")"
else
    types=$("${VNCCLIENT[@]}" ":$display" security 2>&1)
    echo "# $types"
    if printf '%s' "$types" | grep -qE '^vnc: security types( [0-9]+)* 2( |$)' &&
        ! printf '%s' "$types" | grep -qE '^vnc: security types.* 1( |$)'; then
        pass vnc.password-offers-vnc-auth
    else
        fail vnc.password-offers-vnc-auth "offered: $types"
    fi
    # And a client that only knows None is refused.
    if "${VNCCLIENT[@]}" ":$display" info >"$WORK/82.none" 2>&1; then
        fail vnc.password-refuses-none "a client without the password got in: $(tr '\n' '|' <"$WORK/82.none")"
    else
        pass vnc.password-refuses-none
    fi
fi
vmm_kill
