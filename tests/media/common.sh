# Shared by the boot-media scripts: output directory, the guest programs, "is it up to date".
# Sourced from the repository root; every script writes only below build/media/.
set -eu
MEDIA=${MEDIA:-$PWD/build/media}
GUESTS=${GUESTS:-$PWD/build/guest}
mkdir -p "$MEDIA"

# media_die MESSAGE: one clear line on stderr, exit 1.
media_die() {
    echo "media: $*" >&2
    exit 1
}

# media_need COMMAND PACKAGE: the Debian package that provides a missing command.
media_need() {
    command -v "$1" >/dev/null || media_die "$1 not found: apt-get install $2 (tests/install-deps.sh)"
}

# media_fresh OUTPUT INPUT...: true when OUTPUT exists and is newer than every INPUT.
media_fresh() {
    local out=$1
    shift
    [ -s "$out" ] || return 1
    for input in "$@"; do
        [ "$out" -nt "$input" ] || return 1
    done
    return 0
}

# media_guests: the guest programs the media boot, built when missing.
media_guests() {
    [ -s "$GUESTS/hello.elf" ] || make -s guests >&2 || media_die "make guests failed"
}
