#!/usr/bin/env bash
# The serial console's host side: stdio with Ctrl-A x, a raw tty restored on exit, file:, pty, none;
# and --stats / --trace reporting.
set -u
. tests/lib.sh
need_kvm serial || exit 0
HELLO=$GUESTS/hello.elf

# Ctrl-A x at the guest's prompt quits with status 0.
out=$WORK/ctrla.out
fifo=$WORK/ctrla.fifo
mkfifo "$fifo"
timeout -s KILL 60 "$VMM" run --kernel "$HELLO" --memory 64M <"$fifo" >"$out" 2>&1 &
pid=$!
exec 9>"$fifo"
wait_for "$out" "hello: type a line" 30 && printf '\001x' >&9
wait $pid
rc=$?
exec 9>&-
if [ $rc -eq 0 ] && ! has_line "$out" "hello: got"; then pass serial.ctrl-a-x-quits; else fail serial.ctrl-a-x-quits "exit $rc: $(tail -n2 "$out" | tr '\n' '|')"; fi

# On a terminal: raw mode while running, the original mode restored after exit.
if command -v script >/dev/null; then
    (sleep 4; printf 'typed on a tty\r'; sleep 6) | timeout -s KILL 60 script -qec \
        "stty -g >$WORK/tty.before; $VMM run --kernel $HELLO --memory 64M; echo rc=\$? >$WORK/tty.rc; stty -g >$WORK/tty.after" \
        "$WORK/tty.typescript" >/dev/null 2>&1
    if grep -q 'rc=0' "$WORK/tty.rc" 2>/dev/null && cmp -s "$WORK/tty.before" "$WORK/tty.after" &&
        grep -q "hello: got typed on a tty" "$WORK/tty.typescript"; then
        pass serial.tty-raw-and-restored
    else
        fail serial.tty-raw-and-restored "rc: $(cat "$WORK/tty.rc" 2>/dev/null), modes $(cat "$WORK/tty.before" "$WORK/tty.after" 2>/dev/null | tr '\n' ' ')"
    fi
else
    skip serial.tty-raw-and-restored "script(1) from util-linux is not installed"
fi

# --serial file:PATH writes the guest's output to the file, not stdout.
run_vmm 60 "$WORK/file.out" run --kernel "$HELLO" --append noinput --memory 64M --serial "file:$WORK/serial.log"
if [ $status -eq 0 ] && has_line "$WORK/serial.log" "hello: vmm guest up (pvh)" && ! has_line "$WORK/file.out" "hello:"; then
    pass serial.file
else
    fail serial.file "exit $status"
fi

# --serial none: the guest runs, nothing reaches stdout.
run_vmm 60 "$WORK/none.out" run --kernel "$HELLO" --append noinput --memory 64M --serial none
if [ $status -eq 0 ] && ! has_line "$WORK/none.out" "hello:"; then pass serial.none; else fail serial.none "exit $status"; fi

# --serial pty: vmm names the pty; a client reads the guest's output and types the line.
out=$WORK/pty.out
timeout -s KILL 60 "$VMM" run --kernel "$HELLO" --memory 64M --serial pty </dev/null >"$out" 2>&1 &
pid=$!
if wait_for "$out" "serial console on /dev/pts/" 10; then
    pty=$(sed -n 's/.*serial console on \(\/dev\/pts\/[0-9]*\).*/\1/p' "$out")
    exec 8<>"$pty"
    stty -F "$pty" raw -echo 2>/dev/null
    cat <&8 >"$WORK/pty.read" &
    catpid=$!
    wait_for "$WORK/pty.read" "hello: type a line" 30 && printf 'via the pty\r' >&8
    wait_for "$WORK/pty.read" "hello: got via the pty" 30 && got=yes || got=no
    kill $catpid 2>/dev/null
    exec 8<&-
fi
wait $pid
rc=$?
if [ $rc -eq 0 ] && [ "${got:-no}" = yes ]; then pass serial.pty; else fail serial.pty "exit $rc, got=${got:-no}: $(tail -n2 "$out" | tr '\n' '|')"; fi

# --stats: exits by reason, busiest ports (the UART), assisted instructions line.
run_vmm 60 "$WORK/stats.out" run --kernel "$HELLO" --append noinput --memory 64M --stats
if [ $status -eq 0 ] && grep -q "^vmm: stats: [0-9]* exits in" "$WORK/stats.out" &&
    grep -q "^vmm: stats: busiest ports:.* 0x3f8=[0-9]" "$WORK/stats.out" && has_line "$WORK/stats.out" "vmm: stats: assisted instructions:"; then
    pass cli.stats
else
    fail cli.stats "exit $status: $(grep stats "$WORK/stats.out" | tr '\n' '|')"
fi

# --trace: every exit, e.g. the UART writes of the greeting.
run_vmm 60 "$WORK/trace.out" run --kernel "$HELLO" --append noinput --memory 64M --trace
if [ $status -eq 0 ] && grep -q "vmm: trace: vcpu0 io out port 0x3f8 size 1 count 1 data 0x68" "$WORK/trace.out"; then
    pass cli.trace
else
    fail cli.trace "exit $status"
fi

# SIGTERM presses the ACPI power button; a guest that ignores it is stopped by a second SIGTERM
# (143), or by --shutdown-timeout. (Signals go to vmm itself: timeout(1) would repeat them to its
# whole process group.)
vmm_pid() { pgrep -P "$1" | head -n 1; }
out=$WORK/sigterm2.out
timeout -s KILL 60 "$VMM" run --kernel "$HELLO" --memory 64M </dev/null >"$out" 2>&1 &
pid=$!
wait_for "$out" "hello: type a line" 30 && kill -TERM "$(vmm_pid $pid)"
wait_for "$out" "pressed the ACPI power button" 10 && sleep 0.5 && kill -TERM "$(vmm_pid $pid)"
wait $pid
rc=$?
if [ $rc -eq 143 ] && has_line "$out" "SIGTERM: pressed the ACPI power button" && has_line "$out" "exit status 143"; then
    pass signal.sigterm-twice
else
    fail signal.sigterm-twice "exit $rc: $(tail -n 2 "$out" | tr '\n' '|')"
fi
out=$WORK/sigterm-timeout.out
timeout -s KILL 60 "$VMM" run --kernel "$HELLO" --memory 64M --shutdown-timeout 1 </dev/null >"$out" 2>&1 &
pid=$!
wait_for "$out" "hello: type a line" 30 && kill -TERM "$(vmm_pid $pid)"
wait $pid
rc=$?
if [ $rc -eq 143 ] && has_line "$out" "did not power off within 1 s"; then
    pass signal.shutdown-timeout
else
    fail signal.shutdown-timeout "exit $rc: $(tail -n 2 "$out" | tr '\n' '|')"
fi
timeout -s KILL 60 "$VMM" run --kernel "$HELLO" --memory 64M </dev/null >"$WORK/sigint.out" 2>&1 &
pid=$!
wait_for "$WORK/sigint.out" "hello: type a line" 30 && kill -INT "$(vmm_pid $pid)"
wait $pid
rc=$?
if [ $rc -eq 130 ]; then pass signal.sigint; else fail signal.sigint "exit $rc"; fi

