# Sourced by scripts/*_local.sh: the conventions they share. Each sets PROG first.
# Exit codes: 2 wrong usage; 3 cannot run here, with one line "$PROG: cannot run: <why>" on
# stderr (what the slow tests skip with).

cannot_run() {
    echo "$PROG: cannot run: $*" >&2
    exit 3
}

# usage FIRST,LAST: the script's own header lines (its commands), then exit 2
usage() {
    sed -n "${1:-4,6}p" "$0" | sed 's/^# //' >&2
    exit 2
}

# apt_install MISSING [APT-OPTION...] PACKAGE...: Debian's packages for what is missing
# (root only), or exit 3
apt_install() {
    local missing=$1
    shift
    command -v apt-get >/dev/null 2>&1 || cannot_run "no $missing found and no apt-get to install $*"
    [[ $(id -u) -eq 0 ]] || cannot_run "no $missing found; install it as root: apt-get install $*"
    echo "$PROG: installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || cannot_run "apt-get update failed (no network?)"
    apt-get install -y -qq "$@" >&2 || cannot_run "apt-get install $* failed"
}
