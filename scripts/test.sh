#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, proto and manifest checks, and every test,
# against real PostgreSQL and Redis.
#   TEND_TEST_DATABASE_URL   default postgres://postgres@127.0.0.1:5432/postgres
#   TEND_TEST_REDIS_URL      default redis://127.0.0.1:6379
# scripts/services.sh starts them from the Debian packages if they are installed but down, and
# fails with a clear message if they cannot be had: tests never skip a missing server.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEND_TEST_DATABASE_URL="${TEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TEND_TEST_REDIS_URL="${TEND_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "services"
bash scripts/services.sh

step "leftovers of interrupted runs"
# Tests drop their own database and keys; a run that was killed cannot. Sweep those.
if command -v psql >/dev/null 2>&1; then
    psql "$TEND_TEST_DATABASE_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'tend\_test\_%'" |
        while read -r name; do psql "$TEND_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"; done
fi
if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -u "$TEND_TEST_REDIS_URL" --scan --pattern 'tend-test:*' | xargs -r -n 500 redis-cli -u "$TEND_TEST_REDIS_URL" del >/dev/null
fi
echo "swept"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "protos (buf lint, breaking changes)"
bash scripts/lint-protos.sh

step "dependencies (cargo deny: licences, bans, sources, advisories)"
# deny.toml says what is allowed. cargo-deny is built once per machine (about 3 minutes).
if ! cargo deny --version >/dev/null 2>&1; then
    cargo install cargo-deny --locked --version 0.20.2 --quiet
fi
cargo deny --log-level error check licenses bans sources
# Advisories need the RustSec database from GitHub. Where it cannot be fetched (this machine's
# network reaches only the package registries), say so rather than pass in silence.
if timeout 60 cargo deny --log-level error fetch db >/dev/null 2>&1; then
    cargo deny --log-level error check --disable-fetch advisories
else
    echo "NOTE: advisories NOT checked: the RustSec advisory database (github.com/RustSec/advisory-db) cannot be fetched from this network"
fi

step "deployment manifests"
bash scripts/check-deploy.sh

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
