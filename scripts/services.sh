#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis servers that the tests use are up.
#   TEND_TEST_DATABASE_URL   default postgres://postgres@127.0.0.1:5432/postgres
#   TEND_TEST_REDIS_URL      default redis://127.0.0.1:6379
# A server that answers is left alone. One on this machine that does not is started from its
# Debian package (installed first with apt-get when missing and running as root), then waited
# for. Prints one line per service when all is well; exits non-zero saying what is missing and
# how to fix it otherwise. Safe to run any number of times.
set -euo pipefail

DATABASE_URL="${TEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${TEND_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
WAIT_SECONDS="${TEND_SERVICES_WAIT_SECONDS:-30}"

say() { printf 'services: %s\n' "$*"; }
problem() { printf 'services: %s\n' "$*" >&2; }

# A URL without its password, for messages.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# url_host URL / url_port URL DEFAULT: the host and port of scheme://[user[:pass]@]host[:port]/…
url_host() {
    local rest="${1#*://}"
    rest="${rest%%[/?]*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[* ]]; then rest="${rest#[}"; printf '%s' "${rest%%]*}"; else printf '%s' "${rest%%:*}"; fi
}
url_port() {
    local rest="${1#*://}"
    rest="${rest%%[/?]*}"
    rest="${rest##*@}"
    rest="${rest##*]}"
    if [[ "$rest" == *:* && -n "${rest##*:}" ]]; then printf '%s' "${rest##*:}"; else printf '%s' "$2"; fi
}
is_local() {
    case "$1" in "" | 127.* | localhost | ::1 | /*) return 0 ;; *) return 1 ;; esac
}
is_root() { [[ $EUID -eq 0 ]]; }

# Waits until "$@" succeeds, at most WAIT_SECONDS.
wait_for() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "$@" >/dev/null 2>&1
}

# ---- PostgreSQL ---------------------------------------------------------------------------
pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 2 -d "$DATABASE_URL"
    else
        # No client tools: settle for the port answering.
        timeout 2 bash -c "exec 3<>/dev/tcp/$(url_host "$DATABASE_URL")/$(url_port "$DATABASE_URL" 5432)" 2>/dev/null
    fi
}
# shellcheck disable=SC2012 # version directories: plain names
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
pg_installed() { command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n "$(pg_version)" ]]; }

ensure_postgres() {
    local shown host installed_now=no
    shown="$(redact "$DATABASE_URL")"
    host="$(url_host "$DATABASE_URL")"
    if ! pg_up; then
        if ! is_local "$host"; then
            problem "PostgreSQL is not reachable at $shown, and that is not this machine: start it there, or set TEND_TEST_DATABASE_URL to a server that runs."
            return 1
        fi
        if ! pg_installed && is_root && command -v apt-get >/dev/null 2>&1; then
            say "PostgreSQL is not installed: apt-get install postgresql"
            apt_install postgresql || {
                problem "apt-get install postgresql failed. Install PostgreSQL yourself, or set TEND_TEST_DATABASE_URL to a running server."
                return 1
            }
            installed_now=yes
        fi
        if ! pg_installed; then
            problem "PostgreSQL is not reachable at $shown and its Debian package is not installed. Fix: apt-get install postgresql (as root; this script does it when run as root), or set TEND_TEST_DATABASE_URL to a running server."
            return 1
        fi
        local version
        version="$(pg_version)"
        if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
            if ! is_root && [[ "$(id -un)" != postgres ]]; then
                problem "PostgreSQL $version is installed but stopped. Fix: sudo pg_ctlcluster --skip-systemctl-redirect $version main start (or run this script as root)."
                return 1
            fi
            pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        fi
        if [[ $installed_now == yes ]]; then
            # A fresh Debian cluster asks for passwords over TCP; the tests connect as postgres
            # with none, as on the prepared machines. Trust local TCP connections (a test machine).
            local hba="/etc/postgresql/$version/main/pg_hba.conf"
            sed -i -E 's#^(host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+)\S+#\1trust#' "$hba"
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1 || true
        fi
        if ! wait_for pg_up; then
            problem "PostgreSQL $version did not come up at $shown within ${WAIT_SECONDS}s (see /var/log/postgresql/postgresql-$version-main.log; pg_lsclusters shows its port). Fix the server, or set TEND_TEST_DATABASE_URL to one that runs."
            return 1
        fi
    fi
    # Accepting connections is not enough: check that the tests can log in.
    if command -v psql >/dev/null 2>&1 && ! psql "$DATABASE_URL" -XAtqc 'select 1' >/dev/null 2>&1; then
        problem "PostgreSQL answers at $shown but refuses the login: $(psql "$DATABASE_URL" -XAtqc 'select 1' 2>&1 | head -n 1). Fix the user/password in TEND_TEST_DATABASE_URL or pg_hba.conf."
        return 1
    fi
    say "postgresql up at $shown"
}

# ---- Redis --------------------------------------------------------------------------------
redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(timeout 3 redis-cli -u "$REDIS_URL" --no-auth-warning ping 2>/dev/null)" == PONG ]]
    else
        # shellcheck disable=SC2016 # expanded by the inner bash
        timeout 2 bash -c '
            exec 3<>"/dev/tcp/$1/$2" || exit 1
            printf "PING\r\n" >&3
            IFS= read -r line <&3
            [[ "$line" == +PONG* ]]' _ "$(url_host "$REDIS_URL")" "$(url_port "$REDIS_URL" 6379)" 2>/dev/null
    fi
}

ensure_redis() {
    local shown host port
    shown="$(redact "$REDIS_URL")"
    host="$(url_host "$REDIS_URL")"
    port="$(url_port "$REDIS_URL" 6379)"
    if ! redis_up; then
        if ! is_local "$host"; then
            problem "Redis is not reachable at $shown, and that is not this machine: start it there, or set TEND_TEST_REDIS_URL to a server that runs."
            return 1
        fi
        if ! command -v redis-server >/dev/null 2>&1 && is_root && command -v apt-get >/dev/null 2>&1; then
            say "Redis is not installed: apt-get install redis-server"
            apt_install redis-server || {
                problem "apt-get install redis-server failed. Install Redis yourself, or set TEND_TEST_REDIS_URL to a running server."
                return 1
            }
        fi
        if ! command -v redis-server >/dev/null 2>&1; then
            problem "Redis is not reachable at $shown and redis-server is not installed. Fix: apt-get install redis-server (as root; this script does it when run as root), or set TEND_TEST_REDIS_URL to a running server."
            return 1
        fi
        # The package's own start may have brought it up already.
        if ! redis_up; then
            local dir=/var/lib/redis logdir=/var/log/redis
            if ! is_root; then
                dir="${TMPDIR:-/tmp}/tend-redis"
                logdir="$dir"
            fi
            mkdir -p "$dir" "$logdir"
            # Nothing is kept on disk: test data only.
            redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
                --dir "$dir" --logfile "$logdir/ci.log" >/dev/null 2>&1 || true
            if ! wait_for redis_up; then
                problem "Redis did not come up at $shown within ${WAIT_SECONDS}s (see $logdir/ci.log). Fix the server, or set TEND_TEST_REDIS_URL to one that runs."
                return 1
            fi
        fi
    fi
    say "redis up at $shown"
}

status=0
ensure_postgres || status=1
ensure_redis || status=1
exit "$status"
