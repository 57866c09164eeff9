#!/usr/bin/env bash
# Where PostgreSQL's time goes, statement by statement, from pg_stat_statements.
#
#   scripts/bench/pg-statements.sh reset        # before a run
#   scripts/bench/pg-statements.sh show [N]     # after it: the N (default 25) costliest statements
#
# PostgreSQL must load the extension (it needs a restart once):
#   psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
#   psql -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on"
#   pg_ctlcluster --skip-systemctl-redirect 15 main restart
# The figures are cluster-wide: run one Tend at a time. Lists of placeholders ($1, $2, ...) are
# shown as $LIST, so a batch statement reads as one line. See docs/BENCHMARKS.md.
set -euo pipefail

url="${BENCH_DATABASE_URL:-${TEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
psql=(psql "$url" -XAtq -v ON_ERROR_STOP=1)

loaded="$("${psql[@]}" -c "SELECT count(*) FROM pg_settings WHERE name = 'shared_preload_libraries' AND setting LIKE '%pg_stat_statements%'")"
if [[ "$loaded" != 1 ]]; then
    echo "pg-statements: PostgreSQL does not load pg_stat_statements (see the top of $0)" >&2
    exit 1
fi
"${psql[@]}" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

case "${1:-show}" in
reset)
    "${psql[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
    ;;
show)
    limit="${2:-25}"
    [[ "$limit" =~ ^[0-9]+$ ]] || { echo "pg-statements: N must be a number" >&2; exit 2; }
    # track_planning may be off: total_plan_time is then 0.
    "${psql[@]}" -F $'\t' -c "
        WITH s AS (
            SELECT calls, rows, total_exec_time AS exec_ms, total_plan_time AS plan_ms,
                   regexp_replace(regexp_replace(query, '\s+', ' ', 'g'),
                                  '\\\$[0-9]+(, \\\$[0-9]+)+', '\$LIST', 'g') AS query
            FROM pg_stat_statements
            WHERE query NOT LIKE '%pg_stat_statements%'
        ), t AS (SELECT sum(exec_ms + plan_ms) AS all_ms, sum(calls) AS all_calls FROM s)
        SELECT 'total', (SELECT all_calls FROM t)::text, '', round((SELECT sum(exec_ms) FROM s)::numeric)::text,
               round((SELECT sum(plan_ms) FROM s)::numeric)::text, '100', ''
        UNION ALL (
        SELECT '', calls::text, rows::text, round(exec_ms::numeric)::text, round(plan_ms::numeric)::text,
               round((100 * (exec_ms + plan_ms) / nullif((SELECT all_ms FROM t), 0))::numeric, 1)::text,
               left(query, 160)
        FROM s ORDER BY exec_ms + plan_ms DESC LIMIT $limit)" |
        awk -F '\t' 'BEGIN { printf "%-6s %8s %9s %9s %8s %6s  %s\n", "", "calls", "rows", "exec ms", "plan ms", "%", "statement" }
                     { printf "%-6s %8s %9s %9s %8s %6s  %s\n", $1, $2, $3, $4, $5, $6, $7 }'
    ;;
*)
    echo "usage: $0 reset | show [N]" >&2
    exit 2
    ;;
esac
