# Helpers shared by the firmware-path integration tests (tests/integration/70-82): boot media,
# vmm in the background, free VNC displays and TCP ports, screenshots and OCR.
# Sourced after tests/lib.sh from the repository root.

VNCCLIENT=(python3 tests/vnc/vncclient.py)
# SeaBIOS took 15-40 s to hand over to a boot loader on nested KVM: every wait allows for that.
SEABIOS_WAIT=${SEABIOS_WAIT:-120}
VMM_PID=""

# media_ready NAME FILE...: builds the media (tests/media/build.sh) when one is missing; on
# failure reports NAME as failed with the build's last words and returns 1.
media_ready() {
    local name=$1 f
    shift
    for f in "$@"; do
        if [ ! -s "build/media/$f" ]; then
            bash tests/media/build.sh >"$WORK/media-build.log" 2>&1
            break
        fi
    done
    for f in "$@"; do
        if [ ! -s "build/media/$f" ]; then
            fail "$name" "build/media/$f missing; tests/media/build.sh: $(tail -n 2 "$WORK/media-build.log" 2>/dev/null | tr '\n' '|')"
            return 1
        fi
    done
    return 0
}

# need_tool NAME COMMAND PACKAGE: skips NAME (returns 1) when COMMAND is not installed.
need_tool() {
    command -v "$2" >/dev/null && return 0
    skip "$1" "$2 not installed (Debian package $3; tests/install-deps.sh)"
    return 1
}

# vmm_start SECONDS OUTFILE ARGS...: `vmm run ARGS` in the background (stdout+stderr to OUTFILE,
# killed after SECONDS at the latest); VMM_PID is vmm's own process id.
vmm_start() {
    local secs=$1 out=$2
    shift 2
    "$VMM" run "$@" </dev/null >"$out" 2>&1 &
    VMM_PID=$!
    ( sleep "$secs"; kill -KILL "$VMM_PID" 2>/dev/null ) >/dev/null 2>&1 &
    disown $! 2>/dev/null || true
}

# vmm_running: true while the background vmm lives.
vmm_running() { [ -n "$VMM_PID" ] && kill -0 "$VMM_PID" 2>/dev/null; }

# vmm_wait SECONDS: waits for the background vmm to exit; sets $status (137 if it had to be killed).
vmm_wait() {
    local i=0
    while vmm_running && [ $i -lt $(($1 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    vmm_running && kill -KILL "$VMM_PID" 2>/dev/null
    wait "$VMM_PID" 2>/dev/null
    status=$?
    VMM_PID=""
}

# vmm_kill: ends the background vmm (SIGKILL: boot loaders do not answer the power button).
vmm_kill() {
    [ -n "$VMM_PID" ] || return 0
    kill -KILL "$VMM_PID" 2>/dev/null
    wait "$VMM_PID" 2>/dev/null
    VMM_PID=""
}

# wait_for_vmm FILE TEXT SECONDS: like wait_for, but gives up at once when vmm has exited.
wait_for_vmm() {
    local file=$1 text=$2 secs=$3 i=0
    while [ $i -lt $((secs * 10)) ]; do
        grep -qaF -- "$text" "$file" 2>/dev/null && return 0
        vmm_running || { grep -qaF -- "$text" "$file" 2>/dev/null; return; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# free_display: a VNC display number N (port 5900+N, 20 <= N < 100) that is free on 127.0.0.1.
free_display() {
    python3 - <<'PY'
import os, socket
start = 20 + os.getpid() % 60
for i in range(80):
    n = 20 + (start - 20 + i) % 80
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 5900 + n))
    except OSError:
        continue
    finally:
        s.close()
    print(n)
    break
PY
}

# wait_port PORT SECONDS: waits until something accepts connections on 127.0.0.1:PORT.
wait_port() {
    local i=0
    while [ $i -lt $(($2 * 2)) ]; do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
            "$1" 2>/dev/null && return 0
        vmm_running || return 1
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

# stock_capture DISPLAY FILE: a screenshot by a stock VNC client (gvnccapture, else vncsnapshot).
stock_capture() {
    if command -v gvnccapture >/dev/null; then
        timeout -s KILL 30 gvnccapture "127.0.0.1:$1" "$2" >"$WORK/gvnccapture.log" 2>&1
    else
        timeout -s KILL 30 vncsnapshot -quiet "127.0.0.1:$1" "$2" >"$WORK/vncsnapshot.log" 2>&1
    fi
    [ -s "$2" ]
}

# ocr_text IMAGE: what tesseract reads in the image, lower case; for PNGs also the reading of a
# 2x, inverted copy (tests/vnc/ocrprep.py), which small light-on-dark boot loader fonts need.
ocr_text() {
    tesseract "$1" - 2>/dev/null | tr 'A-Z' 'a-z'
    if [ "${1%.png}" != "$1" ] && python3 tests/vnc/ocrprep.py "$1" "$1.pgm" 2>/dev/null; then
        tesseract "$1.pgm" - 2>/dev/null | tr 'A-Z' 'a-z'
    fi
}

# ocr_has IMAGE WORD...: every WORD (case-insensitive) is in the image's text.
ocr_has() {
    local img=$1 text
    shift
    text=$(ocr_text "$img")
    for word in "$@"; do
        printf '%s' "$text" | grep -qiF -- "$word" || return 1
    done
}

# ocr_wait DISPLAY SECONDS PREFIX WORD...: captures with the test client every 3 s until the
# screen shows every WORD; leaves the last capture in PREFIX.png.
ocr_wait() {
    local display=$1 secs=$2 prefix=$3 i=0
    shift 3
    while [ $i -lt "$secs" ]; do
        if "${VNCCLIENT[@]}" --timeout 20 ":$display" capture "$prefix.png" >/dev/null 2>&1 &&
            ocr_has "$prefix.png" "$@"; then
            return 0
        fi
        vmm_running || return 1
        sleep 3
        i=$((i + 4))
    done
    return 1
}

# tail_of FILE: the last lines of a vmm output file on one line, escape sequences removed.
tail_of() { tail -c 600 "$1" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tr -d '\r' | tr '\n' '|' | tail -c 240; }
