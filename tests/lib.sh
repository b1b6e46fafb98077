# Shared helpers for the integration tests: results, running vmm with a timeout, waiting for output.
# Each test reports one line: "ok NAME", "not ok NAME: why" or "skip NAME: why"; run.sh counts them.

VMM=${VMM:-$PWD/build/vmm}
GUESTS=${GUESTS:-$PWD/build/guest}
WORK=${WORK:-$(mktemp -d /tmp/vmm-tests.XXXXXX)}

pass() { echo "ok $1"; }
fail() { echo "not ok $1: $2"; }
skip() { echo "skip $1: $2"; }

# need_kvm NAME: fails the test with a clear message when /dev/kvm is missing or unusable.
need_kvm() {
    if [ ! -e /dev/kvm ]; then
        fail "$1" "/dev/kvm does not exist on this host: these tests need KVM (load kvm_intel/kvm_amd)"
        return 1
    fi
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        fail "$1" "/dev/kvm is not accessible: run the tests as root or join the kvm group"
        return 1
    fi
    return 0
}

# run_vmm SECONDS OUTFILE ARGS...: runs vmm with no input; stdout+stderr to OUTFILE; sets $status.
run_vmm() {
    local secs=$1 out=$2
    shift 2
    timeout -s KILL "$secs" "$VMM" "$@" </dev/null >"$out" 2>&1
    status=$?
}

# expect_line NAME FILE TEXT: the file holds a line containing TEXT.
has_line() { grep -qF -- "$2" "$1"; }

# wait_for FILE TEXT SECONDS: waits until TEXT appears in FILE; returns 1 on timeout.
wait_for() {
    local file=$1 text=$2 secs=$3 i=0
    while [ $i -lt $((secs * 10)) ]; do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# check NAME CONDITION-COMMAND... : ok when the command succeeds, else "not ok" with the file's tail.
check_output() {
    local name=$1 file=$2
    shift 2
    local missing=""
    for text in "$@"; do
        has_line "$file" "$text" || missing="$missing [$text]"
    done
    if [ -z "$missing" ]; then
        pass "$name"
    else
        fail "$name" "missing$missing; output tail: $(tail -n 3 "$file" | tr '\n' '|')"
    fi
}
