#!/usr/bin/env bash
# A throwaway PostgreSQL server for Optuna studies (README "Scaling"; tests/test_optuna_postgres.py).
#
#   scripts/postgres_local.sh start DIR [DATABASE]  # prints postgresql+psycopg://textlab@127.0.0.1:PORT/DATABASE
#   scripts/postgres_local.sh stop DIR              # stops it (DIR can then be deleted)
#   scripts/postgres_local.sh install               # only make sure the server binaries are there
#
# `start` installs Debian's postgresql with apt-get when no initdb is found (root only), runs
# initdb in DIR/data (trust authentication: any local user may connect; for tests, not for
# data you keep), starts the server on a free 127.0.0.1 port (PORT=... to choose) with its
# unix socket in DIR, and creates DATABASE (default: textlab). Running it again is harmless:
# a running server is reused and its URL printed again. postgres refuses to run as root, so as
# root the server runs as TEXTLAB_PG_USER, else the `postgres` user (Debian's package creates
# it), else a `textlab-pg` system user created here; DIR is handed to that user.
#
# Exit codes: 0 done; 2 wrong usage; 3 cannot run here (the reason is on stderr, one line
# starting with "postgres_local: cannot run:").
set -euo pipefail

SUPERUSER=textlab
PROG=postgres_local

# cannot_run, usage, apt_install
source "$(dirname "$0")/lib/local_setup.sh"

find_bin() {
    # Debian keeps the server binaries off PATH, one folder per major version: take the newest
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

install_server() {
    [[ -n "$(find_bin)" ]] && return 0
    apt_install initdb postgresql-common
    # as the official postgres images do: no system-wide cluster started on port 5432
    sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' /etc/postgresql-common/createcluster.conf
    apt_install initdb postgresql
    [[ -n "$(find_bin)" ]] || cannot_run "postgresql installed, but no initdb under /usr/lib/postgresql/*/bin"
}

server_user() {
    # the user the server runs as (TEXTLAB_PG_USER to choose); empty: this one
    [[ $(id -u) -eq 0 ]] || return 0
    local name=${TEXTLAB_PG_USER:-}
    if [[ -z "$name" ]]; then
        if id postgres >/dev/null 2>&1; then name=postgres; else name=textlab-pg; fi
    fi
    if ! id "$name" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$name" >&2 \
            || cannot_run "running as root, and useradd could not create a user $name for the server"
    fi
    echo "$name"
}

as_server() {
    if [[ -n "$USER_NAME" ]]; then
        runuser -u "$USER_NAME" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 database=${2:-textlab}
    install_server
    BIN=$(find_bin)
    USER_NAME=$(server_user)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -n "$USER_NAME" ]]; then
        chown "$USER_NAME" "$dir"
        as_server test -w "$dir" \
            || cannot_run "$dir is not writable by user $USER_NAME (a parent folder is private?); use a folder under /tmp"
    fi
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_server "$BIN/initdb" -D "$dir/data" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
            --no-locale >"$dir/initdb.log" 2>&1 || cannot_run "initdb failed; see $dir/initdb.log"
    fi
    if ! as_server "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        local port=${PORT:-$(free_port)}
        # fsync off: a throwaway server, faster on slow disks; sockets in DIR, not /var/run
        as_server "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" >/dev/null \
            || cannot_run "the server did not start; see $dir/server.log"
        echo "$port" >"$dir/port"
    fi
    local port
    port=$(cat "$dir/port")
    local psql=("$BIN/psql" -h "$dir" -p "$port" -U "$SUPERUSER" -d postgres -tAq)
    if [[ -z $(as_server "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$database'") ]]; then
        as_server "$BIN/createdb" -h "$dir" -p "$port" -U "$SUPERUSER" "$database" \
            || cannot_run "createdb $database failed; see $dir/server.log"
    fi
    echo "postgresql+psycopg://$SUPERUSER@127.0.0.1:$port/$database"
}

stop() {
    local dir=$1
    [[ -f "$dir/data/PG_VERSION" ]] || return 0
    BIN=$(find_bin)
    [[ -n "$BIN" ]] || cannot_run "no initdb/pg_ctl found"
    USER_NAME=""
    [[ $(id -u) -ne 0 ]] || USER_NAME=$(stat -c %U "$dir/data")  # whoever started it
    if as_server "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_server "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
start) [[ $# -ge 2 ]] || usage; start "$2" "${3:-}" ;;
stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
install) install_server; echo "$(find_bin)" ;;
*) usage ;;
esac
