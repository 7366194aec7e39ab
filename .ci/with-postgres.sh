#!/usr/bin/env bash
# Run a command (`make test` runs the test suite) with a PostgreSQL server for the tests when
# this machine can have one:
# * LEADSCORE_TEST_POSTGRES_URL when it is set;
# * else the private server of .ci/postgres.sh: one already running on its port is used and
#   left running; otherwise it is started (Debian's package installed first when root with
#   apt) for the command and stopped after;
# * else the command runs without one, and LEADSCORE_TEST_POSTGRES_UNAVAILABLE says why (the
#   PostgreSQL tests skip with that reason, or fail where LEADSCORE_REQUIRE_ENGINES names it).
# Exits with the command's exit code.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LEADSCORE_TEST_POSTGRES_URL:-}" ]; then
    log="$(mktemp)"
    if bash .ci/postgres.sh status >/dev/null 2>&1; then
        started=0
    else
        started=1
    fi
    if exports="$(bash .ci/postgres.sh start 2>"$log")"; then
        eval "$exports"
        if [ "$started" = 1 ]; then
            trap 'bash .ci/postgres.sh stop' EXIT
            echo "started a private PostgreSQL server for the tests: $LEADSCORE_TEST_POSTGRES_URL" \
                "(stopped when they end)" >&2
        else
            echo "using the private PostgreSQL server already running: $LEADSCORE_TEST_POSTGRES_URL" >&2
        fi
    else
        reason="$(tail -n 1 "$log")"
        export LEADSCORE_TEST_POSTGRES_UNAVAILABLE="could not start a private server: ${reason:-see .ci/postgres.sh}"
        echo "no PostgreSQL for the tests ($LEADSCORE_TEST_POSTGRES_UNAVAILABLE): its tests will skip" >&2
    fi
    rm -f "$log"
fi
"$@"
