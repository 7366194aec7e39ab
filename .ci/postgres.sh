#!/usr/bin/env bash
# A private PostgreSQL server for the test suite: `start` prints the URL to export as
# LEADSCORE_TEST_POSTGRES_URL, `stop` stops it and removes its data directory, `status`
# exits 0 when it is running.
#   eval "$(bash .ci/postgres.sh start)"   # exports LEADSCORE_TEST_POSTGRES_URL
#   bash .ci/postgres.sh stop
# Installs Debian's postgresql package when its binaries are missing (needs root and apt;
# without them `start` fails at once saying so). PostgreSQL refuses to run as root, so as
# root the server runs as the `postgres` user.
set -euo pipefail
PGPORT="${LEADSCORE_PGPORT:-55432}"
PGDATA="${LEADSCORE_PGDATA:-/tmp/leadscore-pg-$PGPORT}"

find_bin() {
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    if ! BIN="$(find_bin)"; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            echo "PostgreSQL's binaries are not installed (no /usr/lib/postgresql/*/bin/initdb)" \
                "and installing Debian's postgresql package needs root and apt-get" >&2
            exit 1
        fi
        echo "installing postgresql (Debian package)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        BIN="$(find_bin)"
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home postgres
    fi
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
        as_owner "$BIN/initdb" -D "$PGDATA" -U leadscore --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
            -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1" \
            start >&2
    fi
    echo "export LEADSCORE_TEST_POSTGRES_URL=postgresql://leadscore@127.0.0.1:$PGPORT/postgres"
    ;;
status)
    BIN="$(find_bin)" && [ -f "$PGDATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$PGDATA" status
    ;;
stop)
    if BIN="$(find_bin)" && [ -f "$PGDATA/PG_VERSION" ]; then
        as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2 || true
    fi
    rm -rf "$PGDATA"
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
