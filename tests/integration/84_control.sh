#!/usr/bin/env bash
# The QMP control socket, driven the way scripts do it (socat one-liners): greeting, negotiation,
# query-status through stop/cont with their events, system_powerdown reaching a guest that handles the
# ACPI power button (SHUTDOWN event, exit 0), query-block, screendump to PNG, errors for malformed
# JSON and unknown commands without losing the connection, two clients at once, and quit.
set -u
. tests/lib.sh
need_kvm control || exit 0
if ! command -v socat >/dev/null; then
    for t in negotiation status-stop-cont powerdown errors two-clients screendump; do skip control.$t "socat is not installed"; done
    exit 0
fi

qmp() { # SOCKET, then JSON lines on stdin -> replies on stdout
    socat -t 3 - "UNIX-CONNECT:$1" 2>/dev/null
}

sock=$WORK/ctl.sock
img=$WORK/ctl.img
truncate -s 1M "$img"
timeout -s KILL 90 "$VMM" run --kernel "$GUESTS/powerbtn.elf" --memory 64M --disk "$img" --vnc :$((30 + $$ % 20)) \
    --control "$sock" </dev/null >"$WORK/ctl.out" 2>&1 &
pid=$!
wait_for "$WORK/ctl.out" "powerbtn: waiting for the power button" 30

r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status","id":"a"}' | qmp "$sock")
if echo "$r" | grep -q '"QMP"' && echo "$r" | grep -q '"status":"running"' && echo "$r" | grep -q '"id":"a"' &&
    [ "$(stat -c %a "$sock")" = 600 ]; then
    pass control.negotiation
else
    fail control.negotiation "replies: $(echo "$r" | tr '\n' '|')"
fi

r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"stop"}' '{"execute":"query-status"}' \
    '{"execute":"cont"}' '{"execute":"query-status"}' '{"execute":"query-block"}' | qmp "$sock")
if echo "$r" | grep -q '"event":"STOP"' && echo "$r" | grep -q '"status":"paused"' &&
    echo "$r" | grep -q '"event":"RESUME"' && echo "$r" | grep -q "\"file\":\"$img\""; then
    pass control.status-stop-cont
else
    fail control.status-stop-cont "replies: $(echo "$r" | tr '\n' '|' | head -c 400)"
fi

r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute": }' '{"execute":"frobnicate"}' \
    '{"execute":"query-status"}' | qmp "$sock")
if echo "$r" | grep -q '"class":"GenericError"' && echo "$r" | grep -q '"class":"CommandNotFound"' &&
    echo "$r" | grep -q '"status":"running"'; then
    pass control.errors
else
    fail control.errors "replies: $(echo "$r" | tr '\n' '|' | head -c 400)"
fi

# Two clients at once: each gets its own greeting and answers.
(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status","id":"first"}'; sleep 3) |
    timeout 10 socat - "UNIX-CONNECT:$sock" >"$WORK/ctl-first.out" 2>/dev/null &
first=$!
sleep 1
r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status","id":"second"}' | qmp "$sock")
wait $first
if echo "$r" | grep -q '"id":"second"' && grep -q '"id":"first"' "$WORK/ctl-first.out" &&
    [ "$(grep -c '"QMP"' "$WORK/ctl-first.out")" = 1 ]; then
    pass control.two-clients
else
    fail control.two-clients "first: $(tr '\n' '|' <"$WORK/ctl-first.out" | head -c 200) second: $(echo "$r" | tr '\n' '|' | head -c 200)"
fi

r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"$WORK/shot.png\"}}" | qmp "$sock")
if echo "$r" | grep -q '"return":{}' && [ "$(head -c 4 "$WORK/shot.png" | od -An -c | tr -d ' ')" = 211PNG ]; then
    pass control.screendump
else
    fail control.screendump "replies: $(echo "$r" | tr '\n' '|' | head -c 300)"
fi

# The client stays connected (stdin open) to see the events that follow.
r=$( (printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}'; sleep 8) |
    timeout 20 socat - "UNIX-CONNECT:$sock" 2>/dev/null)
wait $pid
status=$?
if [ $status -eq 0 ] && has_line "$WORK/ctl.out" "powerbtn: pressed" && echo "$r" | grep -q '"event":"POWERDOWN"' &&
    echo "$r" | grep -q '"event":"SHUTDOWN"'; then
    pass control.powerdown
else
    fail control.powerdown "exit $status, replies: $(echo "$r" | tr '\n' '|' | head -c 300)"
fi
