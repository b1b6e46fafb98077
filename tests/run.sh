#!/usr/bin/env bash
# Runs every test tier that this host can run and ends with "N passed, N failed, N skipped".
#   tests/run.sh           unit tests, sanitizer unit tests, integration tests
#   tests/run.sh --linux   the full-Linux tier (hardware KVM hosts only)
set -u
cd "$(dirname "$0")/.."
export WORK=$(mktemp -d /tmp/vmm-tests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
results=$WORK/results
: >"$results"

section() { echo "== $1"; }

# Unit-test binaries print "ok NAME" / "not ok NAME" per test; a crash counts as a failure.
run_unit_dir() {
    local dir=$1 label=$2
    for t in "$dir"/test_*; do
        [ -x "$t" ] || continue
        local out=$WORK/unit.out
        "$t" >"$out" 2>"$WORK/unit.err"
        local rc=$?
        sed "s/^ok /ok $label:/; s/^not ok /not ok $label:/" "$out" | tee -a "$results"
        if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
            echo "not ok $label:$(basename "$t"): exited with status $rc" | tee -a "$results"
        fi
        [ $rc -ne 0 ] && sed 's/^/    /' "$WORK/unit.err"
    done
}

run_integration() {
    for script in "$@"; do
        section "integration: $(basename "$script")"
        bash "$script" 2>&1 | tee -a "$results"
    done
}

if [ "${1:-}" = "--linux" ]; then
    run_integration tests/integration/linux_full.sh
else
    section "unit tests"
    run_unit_dir build/tests unit
    section "unit tests under ASan+UBSan"
    run_unit_dir build/asan/tests asan
    run_integration tests/integration/[0-9]*.sh
fi

passed=$(grep -c '^ok ' "$results")
failed=$(grep -c '^not ok ' "$results")
skipped=$(grep -c '^skip ' "$results")
if [ $failed -gt 0 ]; then
    echo
    echo "failures:"
    grep '^not ok ' "$results" | sed 's/^/  /'
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
