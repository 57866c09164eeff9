#!/usr/bin/env bash
# Tend's benchmark: one command, one report (bench/report.md and bench/report.json).
#
# On this machine, in one go:
#   raw       the raw limits: PostgreSQL batched INSERT (and COPY) rows/s, SQLite batched INSERT
#             rows/s (WAL, synchronous=NORMAL), Redis XADD/s plain and pipelined
#   ingest    ingest acknowledgements on PostgreSQL + Redis (`tend serve ingest`): unary calls from
#             64 callers, and batches of 100 from 8 callers
#   pipeline  the whole pipeline at max rate (post -> case seen by feedback), on PostgreSQL + Redis
#             and on the embedded default (`tend dev`), sized to take about a minute at the target
#   sustain   the whole pipeline paced at the target (5,000/s PostgreSQL + Redis, 3,000/s
#             embedded) for 60 s: does the backlog stay flat?
#   latency   end-to-end latency p50/p99/p99.9 at a fixed 1,000 posts/s (unary, 64 callers)
#   identity  the record matcher on FEBRL4 (5,000 x 5,000 records), as before
#   text      enrichment on one core: whole-enrichment and sentiment-only speed, built-in
#             sentiment macro-F1 and a trained model's accuracy on Twitter US Airline Sentiment,
#             churn-risk precision and recall (scripts/bench/text.sh)
#   rules     routing decisions/s on one core with 1, 11, 51 and 201 rules (scripts/bench/rules.sh)
#   trends    hot topics and similar posts on one core: near-duplicate clustering (inserts/s,
#             recall, precision, memory per post) and burst detection (false hot topics on normal
#             days, delay to detect a planted outage, assessments/s) (scripts/bench/trends.sh)
#   queue     the universal queue's pick of an agent's next item, p50/p99 with 100,000 items and
#             1,000 agents and with 1,000,000 items and 15,000 agents, and its memory
#             (scripts/bench/queue.sh)
# plus the peak RSS of every Tend process (VmHWM, read just before it is stopped).
#
# Every Tend run gets its own PostgreSQL database and Redis key prefix (or data directory),
# created here and dropped on exit, and a fresh tenant; known customers are imported first
# (`tend loadgen --write-crm`, `tend identity import`). See docs/BENCHMARKS.md.
#
#   scripts/bench.sh                          # everything (about 15 minutes when Tend keeps up;
#                                             # a run that does not drain waits up to 10 minutes)
#   BENCH_QUICK=1 scripts/bench.sh            # smoke run: a few seconds each, report in target/bench-quick/
#   BENCH_ONLY=raw,latency scripts/bench.sh   # some sections; the rest of the report is kept
#   BENCH_RUNS=1 scripts/bench.sh --show-errors 5   # matcher: runs, and extra tend-link flags
#
# Knobs: BENCH_DATABASE_URL (default TEND_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_REDIS_URL (default TEND_TEST_REDIS_URL or redis://127.0.0.1:6379), BENCH_SEED (42),
# BENCH_OUT (output directory), BENCH_PROFILE=0 (no perf profile of the pipeline runs),
# BENCH_ATTACH_WINDOW (cases.attach_window of the Tends measured, default 0s: one case per post),
# BENCH_KEEP=1 (keep the work directory with every log), BENCH_TEND (a tend binary to use
# instead of building target/release/tend).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick="${BENCH_QUICK:-0}"
[[ "$quick" == 0 || "$quick" == "" ]] && quick=0 || quick=1
only="${BENCH_ONLY:-raw,ingest,pipeline,sustain,latency,identity,text,rules,trends,queue}"
seed="${BENCH_SEED:-42}"
database_url="${BENCH_DATABASE_URL:-${TEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
redis_url="${BENCH_REDIS_URL:-${TEND_TEST_REDIS_URL:-redis://127.0.0.1:6379}}"
if [[ $quick == 1 ]]; then out="${BENCH_OUT:-$root/target/bench-quick}"; else out="${BENCH_OUT:-$root/bench}"; fi
profile="${BENCH_PROFILE:-1}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
tend="${BENCH_TEND:-$target_dir/release/tend}"
# Tend runs from the work directory: a relative BENCH_TEND is taken from here.
[[ "$tend" == /* ]] || tend="$PWD/$tend"

for section in ${only//,/ }; do
    case "$section" in
        raw | ingest | pipeline | sustain | latency | identity | text | rules | trends | queue) ;;
        *) echo "bench: unknown section '$section' in BENCH_ONLY (raw, ingest, pipeline, sustain, latency, identity, text, rules, trends, queue)" >&2; exit 2 ;;
    esac
done
on() { [[ ",$only," == *",$1,"* ]]; }

# Sizes: the full run, or a smoke run of a few seconds each.
if [[ $quick == 1 ]]; then
    raw_rows=10000 redis_entries=50000 ack_seconds=3 pipeline_pg=3000 pipeline_embedded=2000
    sustain_seconds=4 sustain_pg_rate=500 sustain_embedded_rate=300 latency_seconds=4 latency_rate=200
    drain=60s import_authors=2000 matcher_runs="${BENCH_RUNS:-1}"
else
    raw_rows=100000 redis_entries=400000 ack_seconds=30 pipeline_pg=300000 pipeline_embedded=180000
    sustain_seconds=60 sustain_pg_rate=5000 sustain_embedded_rate=3000 latency_seconds=60 latency_rate=1000
    drain=600s import_authors=20000 matcher_runs="${BENCH_RUNS:-5}"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tend-bench.XXXXXX")"
results="$work/results"
mkdir -p "$results"
tag="tend_bench_$$"
scratch_dbs=()
scratch_prefixes=()
tend_pid=""
loadgen_pid=""
tail_pid=""

say() { printf 'bench: %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# postgres://user@host:port/db?x -> same URL with another database name.
db_url() {
    local base="${database_url%%\?*}" query=""
    [[ "$database_url" == *\?* ]] && query="?${database_url#*\?}"
    printf '%s/%s%s' "${base%/*}" "$1" "$query"
}

create_db() {
    psql "$database_url" -Xqc "CREATE DATABASE \"$1\"" >/dev/null
    scratch_dbs+=("$1")
}
drop_db() {
    psql "$database_url" -Xqc "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true
}
delete_keys() {
    redis-cli -u "$redis_url" --no-auth-warning --scan --pattern "$1*" |
        xargs -r -n 500 redis-cli -u "$redis_url" --no-auth-warning del >/dev/null 2>&1 || true
}

stop_tend() {
    [[ -n "$tend_pid" ]] || return 0
    if kill -0 "$tend_pid" 2>/dev/null; then
        kill -TERM "$tend_pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$tend_pid" 2>/dev/null && ((waited < 300)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$tend_pid" 2>/dev/null; then
            say "tend (pid $tend_pid) did not stop within 30 s of SIGTERM: SIGKILL"
            kill -KILL "$tend_pid" 2>/dev/null || true
        fi
    fi
    wait "$tend_pid" 2>/dev/null || true
    tend_pid=""
}

cleanup() {
    local status=$?
    if [[ -n "$loadgen_pid" ]]; then
        # /usr/bin/time's child first (the load generator), then time itself.
        for child in $(pgrep -P "$loadgen_pid" 2>/dev/null); do kill -TERM "$child" 2>/dev/null || true; done
        kill -TERM "$loadgen_pid" 2>/dev/null || true
    fi
    if [[ -n "$tail_pid" ]]; then kill -TERM "$tail_pid" 2>/dev/null || true; fi
    stop_tend
    if [[ -n "${profile_pid:-}" ]]; then kill -INT "$profile_pid" 2>/dev/null || true; fi
    for db in "${scratch_dbs[@]}"; do drop_db "$db"; done
    for prefix in "${scratch_prefixes[@]}"; do delete_keys "$prefix"; done
    if [[ "${BENCH_KEEP:-0}" == 1 || $status -ne 0 ]]; then
        echo "bench: logs kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_tend NAME pg|embedded SERVICE...: starts Tend in the background on a fresh port with
# fresh storage, waits until `tend health` answers. Sets endpoint and tend_pid.
start_tend() {
    local name="$1" backend="$2"
    shift 2
    local port data
    port="$(free_port)"
    data="$work/$name-data"
    mkdir -p "$data"
    endpoint="http://127.0.0.1:$port"
    # One case per post (no joining of a customer's posts into one case, the default too), so
    # that "every post is a case" is what the pipeline figures count. Joining costs a case
    # change per joined post; measure it apart (BENCH_ATTACH_WINDOW=24h).
    local -a env_vars=(-u TEND__STORAGE__DATABASE_URL -u TEND__STREAM__REDIS_URL -u TEND__STREAM__KEY_PREFIX
        "TEND__SERVER__LISTEN=127.0.0.1:$port" "TEND__STORAGE__DATA_DIR=$data"
        "TEND__CASES__ATTACH_WINDOW=${BENCH_ATTACH_WINDOW:-0s}"
        # `tend serve` requires feedback's survey-link secret; any 32 bytes do for a benchmark.
        "TEND__FEEDBACK__TOKEN_SECRET=bench-token-secret-0123456789abcdef")
    local -a command
    tend_db="-"
    if [[ "$backend" == pg ]]; then
        local db="${tag}_${name//-/_}" prefix="tend-bench-$$-$name:"
        create_db "$db"
        tend_db="$db"
        scratch_prefixes+=("$prefix")
        env_vars+=("TEND__STORAGE__DATABASE_URL=$(db_url "$db")" "TEND__STREAM__REDIS_URL=$redis_url"
            "TEND__STREAM__KEY_PREFIX=$prefix")
        command=(env TEND__SERVER__HTTP_LISTEN= "$tend" serve "$@")
    else
        command=("$tend" dev --data-dir "$data" --listen "127.0.0.1:$port" --http-listen "")
    fi
    # From the work directory, so no ./tend.toml is picked up.
    (cd "$work" && exec env "${env_vars[@]}" "${command[@]}") >"$work/$name.tend.log" 2>&1 &
    tend_pid=$!
    local deadline=$((SECONDS + 120))
    until "$tend" health --endpoint "$endpoint" >/dev/null 2>&1; do
        if ! kill -0 "$tend_pid" 2>/dev/null; then
            tail -n 30 "$work/$name.tend.log" >&2
            die "tend ($name) exited before it was healthy (log above)"
        fi
        ((SECONDS < deadline)) || die "tend ($name) not healthy after 120 s (log: $work/$name.tend.log)"
        sleep 0.5
    done
    local label="${command[*]:1}"
    [[ "$backend" == pg ]] || label="dev"
    say "$name: tend $label on $endpoint (pid $tend_pid)"
}

# finish_run NAME: peak RSS, stop, meta file.
finish_run() {
    local name="$1" backend="$2" services="$3" customers="${4:-0}" import_s="${5:-0}"
    local hwm=0
    hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$tend_pid/status" 2>/dev/null || echo 0)"
    stop_tend
    printf '{"name": "%s", "backend": "%s", "services": "%s", "peak_rss_kb": %s, "crm_customers": %s, "import_seconds": %s}\n' \
        "$name" "$backend" "$services" "${hwm:-0}" "$customers" "$import_s" >"$results/$name.meta.json"
    say "$name: peak RSS $((${hwm:-0} / 1024)) MiB"
}

# import_crm TENANT: imports the known customers into the tenant, prints "customers seconds".
import_crm() {
    local started ended customers
    customers=$(($(wc -l <"$work/crm.csv") - 1))
    started=$(date +%s%N)
    "$tend" identity import --endpoint "$endpoint" --tenant "$1" "$work/crm.csv" >"$work/import-$1.log" 2>&1 ||
        { cat "$work/import-$1.log" >&2; die "identity import failed"; }
    ended=$(date +%s%N)
    printf '%s %s' "$customers" "$(python3 -c "print(round(($ended - $started) / 1e9, 3))")"
}

# loadgen NAME ARGS...: runs `tend loadgen` against the running Tend; the report goes to results/,
# with where the machine's CPU went meanwhile (Tend, PostgreSQL, Redis, the load generator).
loadgen() {
    local name="$1"
    shift
    say "$name: tend loadgen $*"
    local -a timer=()
    if [[ -x /usr/bin/time ]]; then timer=(/usr/bin/time -o "$work/$name.time" -f "%e %U %S"); fi
    python3 scripts/bench/cpu.py snapshot "$work/$name.cpu-before.json"
    # In the background, so a signal to this script is handled at once (bash runs traps only
    # between foreground commands); its output is followed on the terminal.
    : >"$work/$name.loadgen.log"
    "${timer[@]}" "$tend" loadgen --endpoint "$endpoint" --seed "$seed" --authors "$import_authors" \
        --json "$results/$name.loadgen.json" "$@" >"$work/$name.loadgen.log" 2>&1 &
    loadgen_pid=$!
    tail -n +1 -f --pid="$loadgen_pid" "$work/$name.loadgen.log" &
    tail_pid=$!
    local status=0
    wait "$loadgen_pid" || status=$?
    wait "$tail_pid" 2>/dev/null || true
    loadgen_pid="" tail_pid=""
    if ((status != 0)); then
        say "$name: loadgen failed (exit $status, see above); the report marks it"
        rm -f "$results/$name.loadgen.json"
    fi
    python3 scripts/bench/cpu.py snapshot "$work/$name.cpu-after.json"
    python3 scripts/bench/cpu.py split "$work/$name.cpu-before.json" "$work/$name.cpu-after.json" "$tend_pid" \
        "$([[ -s "$work/$name.time" ]] && echo "$work/$name.time" || echo -)" "${tend_db:--}" "$results/$name.cpu.json" || true
}

# profile_start NAME SECONDS / profile_stop NAME: a perf profile of the running Tend server, as
# self time by library and symbol (call graphs make `perf report` take minutes here).
profile_pid=""
profile_start() {
    [[ "$profile" == 1 ]] && command -v perf >/dev/null 2>&1 || return 0
    perf record -F 499 -p "$tend_pid" -o "$work/$1.perf.data" -- sleep "$2" >"$work/$1.perf.log" 2>&1 &
    profile_pid=$!
}
profile_stop() {
    [[ -n "$profile_pid" ]] || return 0
    kill -INT "$profile_pid" 2>/dev/null || true
    wait "$profile_pid" 2>/dev/null || true
    profile_pid=""
    [[ -s "$work/$1.perf.data" ]] || return 0
    perf report -i "$work/$1.perf.data" --no-children --sort dso,symbol --stdio --percent-limit 1 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed -E 's/([[:space:]]+-)+[[:space:]]*$//; s/[[:space:]]+$//' |
        head -n 25 >"$results/$1.profile.txt" || true
}

# pipeline_run NAME BACKEND LOADGEN-ARGS...: all five services, CRM imported, loadgen, stopped.
pipeline_run() {
    local name="$1" backend="$2" tenant="bench-$1-$$"
    shift 2
    if [[ "$backend" == pg ]]; then
        start_tend "$name" pg ingest identity routing cases feedback
    else
        start_tend "$name" embedded
    fi
    local customers import_s
    read -r customers import_s <<<"$(import_crm "$tenant")"
    say "$name: $customers known customers imported in ${import_s} s"
    profile_start "$name" 30
    loadgen "$name" --tenant "$tenant" --drain-timeout "$drain" "$@"
    profile_stop "$name"
    finish_run "$name" "$backend" "$([[ $backend == pg ]] && echo 'serve ingest identity routing cases feedback' || echo dev)" \
        "$customers" "$import_s"
}

printf '{"quick": %s, "seed": %s, "sections": "%s", "started_at": "%s"}\n' \
    "$([[ $quick == 1 ]] && echo true || echo false)" "$seed" "$only" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$results/run.json"

needs_servers=0
for section in raw ingest pipeline sustain latency; do on "$section" && needs_servers=1; done
if [[ $needs_servers == 1 ]]; then
    TEND_TEST_DATABASE_URL="$database_url" TEND_TEST_REDIS_URL="$redis_url" bash scripts/services.sh
fi

# ---- raw limits ---------------------------------------------------------------------------
if on raw; then
    say "raw: PostgreSQL batched INSERT of $raw_rows rows, 1000 per statement"
    create_db "${tag}_raw"
    python3 scripts/bench/raw.py postgres "$(db_url "${tag}_raw")" "$raw_rows" 1000 "$results/raw-postgres.json"
    drop_db "${tag}_raw"
    say "raw: SQLite batched INSERT of $raw_rows rows, 1000 per transaction"
    python3 scripts/bench/raw.py sqlite "$work" "$raw_rows" 1000 "$results/raw-sqlite.json"
    say "raw: Redis XADD, $redis_entries entries pipelined 100 deep"
    scratch_prefixes+=("tend-bench-$$-raw:")
    python3 scripts/bench/raw.py redis "$redis_url" "$redis_entries" "tend-bench-$$-raw:xadd" "$results/raw-redis.json"
    delete_keys "tend-bench-$$-raw:"
fi

# ---- Tend ---------------------------------------------------------------------------------
if on ingest || on pipeline || on sustain || on latency; then
    if [[ -z "${BENCH_TEND:-}" ]]; then
        say "building tend (release)"
        cargo build --release --quiet -p tend
    fi
    if ! "$tend" loadgen --help >/dev/null 2>&1; then
        die "$tend has no 'loadgen' subcommand: wire tend_loadgen::LoadgenArgs into crates/tend (see docs/BENCHMARKS.md)"
    fi
    "$tend" loadgen --seed "$seed" --authors "$import_authors" --write-crm "$work/crm.csv" --quiet
fi

if on ingest; then
    start_tend ingest-unary pg ingest
    loadgen ingest-unary --max --concurrency 64 --duration "${ack_seconds}s" --no-drain
    finish_run ingest-unary pg "serve ingest"

    start_tend ingest-batch pg ingest
    loadgen ingest-batch --max --batch 100 --concurrency 8 --duration "${ack_seconds}s" --no-drain
    finish_run ingest-batch pg "serve ingest"
fi

if on pipeline; then
    pipeline_run pipeline-pg pg --max --batch 100 --concurrency 8 --count "$pipeline_pg"
    pipeline_run pipeline-embedded embedded --max --batch 100 --concurrency 8 --count "$pipeline_embedded"
fi

if on sustain; then
    pipeline_run sustain-pg pg --rate "$sustain_pg_rate" --batch 100 --concurrency 8 --duration "${sustain_seconds}s"
    pipeline_run sustain-embedded embedded --rate "$sustain_embedded_rate" --batch 100 --concurrency 8 \
        --duration "${sustain_seconds}s"
fi

if on latency; then
    pipeline_run latency-pg pg --rate "$latency_rate" --concurrency 64 --duration "${latency_seconds}s"
    pipeline_run latency-embedded embedded --rate "$latency_rate" --concurrency 64 --duration "${latency_seconds}s"
fi

# ---- text: enrichment speed and quality ----------------------------------------------------
if on text; then
    say "text: enrichment on one core, Twitter US Airline Sentiment"
    bash scripts/bench/text.sh "$results/text.jsonl" "$([[ $quick == 1 ]] && echo 0.5 || echo 3)"
fi

# ---- rules: routing decisions per second ------------------------------------------------------
if on rules; then
    say "rules: routing decisions on one core, 1 to 201 rules"
    bash scripts/bench/rules.sh "$results/rules.jsonl" "$([[ $quick == 1 ]] && echo 0.5 || echo 3)"
fi

# ---- trends: hot topics and similar posts --------------------------------------------------------
if on trends; then
    say "trends: near-duplicate clustering and burst detection on one core"
    bash scripts/bench/trends.sh "$results/trends.jsonl" "$([[ $quick == 1 ]] && echo quick || echo)"
fi

# ---- queue: the universal queue's pick of the next item -----------------------------------------
if on queue; then
    say "queue: the next item for an agent, 100,000 items x 1,000 agents and 1,000,000 x 15,000"
    bash scripts/bench/queue.sh "$results/queue.jsonl" "$([[ $quick == 1 ]] && echo quick || echo)"
fi

# ---- identity: the record matcher on FEBRL4 ------------------------------------------------
if on identity; then
    say "identity: FEBRL4, link dataset4a.csv to dataset4b.csv ($matcher_runs runs)"
    bash scripts/bench/identity.sh "$matcher_runs" "$results/identity.txt" "$@"
fi

# ---- the report ---------------------------------------------------------------------------
mkdir -p "$out"
python3 scripts/bench/report.py "$results" "$out"
say "report: $out/report.md and $out/report.json"
