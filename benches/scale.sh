#!/usr/bin/env bash
# National-scale benchmark (issue 8): the same figures on the embedded store and on PostgreSQL,
# in one run. For each store, a release `vouch serve` on loopback:
#   1. `vouch import numbers` of ROWS numbers over 100 campaigns (the bulk path: multi-row
#      INSERTs on SQLite, COPY on PostgreSQL): seconds and rows/s;
#   2. a restart on the imported data: seconds until it listens with every number indexed, and
#      the index's memory per number (resident set after the restart minus that of the same
#      server started empty, over ROWS);
#   3. wrk: GET /v1/numbers/{n} (the in-memory lookup) and GET /v1/numbers/{n}?at=T (the
#      point-in-time history query, answered from the store's number_assignments), random
#      numbers, p50/p90/p99;
#   4. the store's size on disk.
# PostgreSQL runs in a throwaway cluster (scripts/pg-cluster) with its durable defaults
# (fsync, synchronous_commit on), as the embedded store runs with synchronous=FULL.
#
#   benches/scale.sh [ROWS]     (default 10,000,000; the issue's figure is 100,000,000, which
#                                needs about 130 GB of disk and two hours here)
#
# Environment: SECONDS_PER_TARGET (wrk duration, default 10), CONNECTIONS (wrk -c, default 8),
# STORES ("sqlite postgres" by default).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS=${1:-10000000}
DURATION=${SECONDS_PER_TARGET:-10}
CONNECTIONS=${CONNECTIONS:-8}
STORES=${STORES:-sqlite postgres}
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] && [ "$ROWS" -le 100000000 ] || die "ROWS must be 1 to 100,000,000"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 300 ] || die "SECONDS_PER_TARGET must be 1 to 300"

# A start on 100 M numbers loads them all before it listens.
export START_TIMEOUT=${START_TIMEOUT:-900}
bench_init
need wrk wrk
need /usr/bin/time time
build_release
# Its own directory: PostgreSQL runs as the postgres user, who cannot enter BENCH_TMP (mode 700).
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vouch-pg.XXXXXX")
chmod 755 "$PG_DIR"
pg_stop() { [ -d "$PG_DIR/cluster" ] && "$ROOT/scripts/pg-cluster" stop "$PG_DIR/cluster"; rm -rf "$PG_DIR"; true; }
trap 'pg_stop; bench_cleanup' EXIT

cat >"$BENCH_TMP/lookup.lua" <<'LUA'
-- A random imported number; with AT set, the point-in-time query at that instant.
local numbers, at = {}, os.getenv("AT")
function init(args)
    for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
    local path = "/v1/numbers/" .. numbers[math.random(#numbers)]
    if at ~= nil and at ~= "" then path = path .. "?at=" .. at end
    return wrk.format("GET", path)
end
LUA
field() {
    case "$2" in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
        p50) awk '$1 == "50%" { print $2 }' "$1" ;;
        p90) awk '$1 == "90%" { print $2 }' "$1" ;;
        p99) awk '$1 == "99%" { print $2 }' "$1" ;;
        non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" | tail -1 ;;
    esac
}
run_wrk() { # run_wrk AT OUT
    AT=$1 NUMBERS_FILE="$BENCH_TMP/numbers.txt" timeout $((DURATION + 60)) \
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency -s "$BENCH_TMP/lookup.lua" "$SERVER_URL" >"$2"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

declare -A R
for store in $STORES; do
    say "== $store"
    rm -rf "$BENCH_TMP/data"
    SERVER_ARGS=(--enforcement off)
    if [ "$store" = postgres ]; then
        url=$("$ROOT/scripts/pg-cluster" start "$PG_DIR/cluster")
        psql -q "$url/postgres" -c "CREATE DATABASE vouch_scale" >/dev/null
        SERVER_ARGS+=(--database "$url/vouch_scale")
    fi
    start_server
    sleep 1
    empty_rss=$(rss_kib "$SERVER_PID")
    setup_campaigns 100
    gen_csv "$BENCH_TMP/numbers.csv" "$ROWS" 1
    t0=$(now)
    "$VOUCH" import numbers "$BENCH_TMP/numbers.csv" --server "$SERVER_URL" --api-key "$DCA_KEY" \
        >"$BENCH_TMP/import.out" 2>&1 || { cat "$BENCH_TMP/import.out" >&2; die "$store: the import failed"; }
    import_secs=$(calc %.1f "$(now) - $t0")
    held=$(curl -sS --max-time 10 "$SERVER_URL/healthz" | grep -o '"numbers":[0-9]*' | cut -d: -f2)
    [ "$held" = "$ROWS" ] || die "$store: the server holds $held numbers, expected $ROWS"
    sleep 0.01
    AT_NOW=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
    cut -d, -f1 "$BENCH_TMP/numbers.csv" | shuf -n 1000000 --random-source=<(yes) | sed 's/^+/%2B/' >"$BENCH_TMP/numbers.txt"
    rm -f "$BENCH_TMP/numbers.csv"
    stop_server
    say "$store: restarting on the imported data"
    t0=$(now)
    start_server
    start_secs=$(calc %.2f "$(now) - $t0")
    sleep 1
    full_rss=$(rss_kib "$SERVER_PID")
    say "$store: wrk lookups, then point-in-time queries"
    run_wrk "" "$BENCH_TMP/wrk-lookup-$store.txt"
    run_wrk "$AT_NOW" "$BENCH_TMP/wrk-at-$store.txt"
    if [ "$store" = postgres ]; then
        disk=$(psql -qAt "$url/postgres" -c "SELECT pg_database_size('vouch_scale')")
    else
        disk=$(find "$DATA_DIR" -maxdepth 1 -name 'vouch.db*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    fi
    stop_server
    [ "$store" = postgres ] && pg_stop
    R[$store.import]="$import_secs s, $(calc %.0f "$ROWS / $import_secs") rows/s"
    R[$store.start]="$start_secs s"
    R[$store.mem]="$(calc %.1f "($full_rss - $empty_rss) * 1024 / $ROWS") bytes/number (RSS $(calc %.0f "$full_rss / 1024") MiB, empty $(calc %.0f "$empty_rss / 1024") MiB)"
    R[$store.lookup]="$(field "$BENCH_TMP/wrk-lookup-$store.txt" rps)/s, p50 $(field "$BENCH_TMP/wrk-lookup-$store.txt" p50), p99 $(field "$BENCH_TMP/wrk-lookup-$store.txt" p99), non-2xx $(field "$BENCH_TMP/wrk-lookup-$store.txt" non2xx | grep . || echo 0)"
    R[$store.at]="$(field "$BENCH_TMP/wrk-at-$store.txt" rps)/s, p50 $(field "$BENCH_TMP/wrk-at-$store.txt" p50), p90 $(field "$BENCH_TMP/wrk-at-$store.txt" p90), p99 $(field "$BENCH_TMP/wrk-at-$store.txt" p99), non-2xx $(field "$BENCH_TMP/wrk-at-$store.txt" non2xx | grep . || echo 0)"
    R[$store.disk]="$(calc %.0f "$disk / 1048576") MiB, $(calc %.0f "$disk / $ROWS") bytes/number"
done

echo
echo "== vouch at scale: $ROWS numbers imported over 100 campaigns; wrk -t2 -c$CONNECTIONS -d${DURATION}s, random numbers =="
for what in import start mem lookup at disk; do
    case $what in
        import) label="import" ;;
        start) label="restart to listening" ;;
        mem) label="index memory" ;;
        lookup) label="lookups (in memory)" ;;
        at) label="point-in-time query" ;;
        disk) label="on disk" ;;
    esac
    for store in $STORES; do
        printf '%-22s %-9s %s\n' "$label" "$store" "${R[$store.$what]}"
    done
done
echo "machine:               $(nproc) CPU(s) shared by wrk, vouch and the database; $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM"
