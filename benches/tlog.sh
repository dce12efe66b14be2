#!/usr/bin/env bash
# Transparency log benchmark: durable appends per second (a bulk import of ROWS numbers, one
# event each, integrated into the tiled tree with a signed checkpoint per batch), the
# sequencer alone catching up on the same events from an empty log, inclusion proofs per second
# (in memory on one core, and over HTTP with wrk), and a full audit by `vouch log verify
# --full` (entries per second). Peers in the same run: the import's own write rate (the
# registry's durable event path) and the SHA-256 node-hash rate.
#
#   benches/tlog.sh [ROWS]      (default 1,000,000)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS=${1:-1000000}
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] && [ "$ROWS" -le 20000000 ] || die "ROWS must be 1 to 20,000,000"

bench_init
need wrk wrk
need python3 python3
build_release
SERVER_ARGS=(--log-interval 100)
start_server
setup_campaigns 10

size() { curl -sS --max-time 10 "$SERVER_URL/log/checkpoint" | sed -n 2p; }
last_seq() { # the newest event's sequence number
    local after=0 page
    while :; do
        page=$(curl -sS --max-time 30 -H "Authorization: Bearer $ADMIN_KEY" "$SERVER_URL/v1/events?after=$after&limit=1000" | grep -o '"seq":[0-9]*' | tail -1 | cut -d: -f2)
        [ -n "$page" ] || { echo "$after"; return; }
        after=$page
    done
}
wait_size() { # wait_size N: until the signed checkpoint covers N entries
    for _ in $(seq 6000); do
        [ "$(size)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.05
    done
    die "the log did not reach $1 entries"
}

BASE=$(last_seq)
wait_size "$BASE"
CSV="$BENCH_TMP/numbers.csv"
gen_csv "$CSV" "$ROWS" 1
TARGET=$((BASE + ROWS))
say "importing $ROWS numbers (one event each) with the log integrating every 100 ms"
t0=$(now)
"$VOUCH" import numbers "$CSV" --server "$SERVER_URL" --api-key "$DCA_KEY" >"$BENCH_TMP/import.out" 2>&1 || {
    cat "$BENCH_TMP/import.out" >&2
    die "the import failed"
}
t1=$(now)
wait_size "$TARGET"
t2=$(now)
IMPORT_RATE=$(calc %.0f "$ROWS / ($t1 - $t0)")
E2E_RATE=$(calc %.0f "$ROWS / ($t2 - $t0)")
LAG=$(calc %.2f "$t2 - $t1")

say "full audit: vouch log verify --full"
"$VOUCH" log verify --url "$SERVER_URL" --full --state "$BENCH_TMP/audit.json" >"$BENCH_TMP/audit.out" 2>&1 || {
    cat "$BENCH_TMP/audit.out" >&2
    die "the audit failed"
}
AUDIT=$(grep 'full audit' "$BENCH_TMP/audit.out")

say "wrk: GET /v1/log/proofs/inclusion (10 s, 32 connections)"
EVENT=$((BASE + ROWS / 2))
wrk -t1 -c32 -d10s --latency "$SERVER_URL/v1/log/proofs/inclusion?event=$EVENT" >"$BENCH_TMP/wrk.txt"
HTTP_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$BENCH_TMP/wrk.txt")
HTTP_P99=$(awk '$1 == "99%" { print $2 }' "$BENCH_TMP/wrk.txt")

# The sequencer alone: the same events, an empty log (tiles and checkpoints removed while the
# server is stopped; the events and keys stay).
stop_server
python3 - "$DATA_DIR/vouch.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("DELETE FROM log_tiles; DELETE FROM log_checkpoints;")
c.commit()
PY
t0=$(now)
start_server
wait_size "$TARGET"
t1=$(now)
CATCHUP_RATE=$(calc %.0f "$TARGET / ($t1 - $t0)")
server_hwm=$(vm_hwm "$SERVER_PID")
stop_server

say "in-memory proof generation: cargo bench -p vouch-tlog --bench proofs -- $ROWS"
( cd "$ROOT" && cargo bench -q -p vouch-tlog --bench proofs -- "$ROWS" ) >"$BENCH_TMP/proofs.txt" 2>/dev/null

printf '\n== transparency log, %s numbers imported (%s events in all), %s cores\n' "$ROWS" "$TARGET" "$(nproc)"
printf 'import (the registry'"'"'s durable event path, peer):  %s events/s\n' "$IMPORT_RATE"
printf 'durable appends, import + log to a signed checkpoint: %s events/s (log %s s behind the import at its end)   (target 50,000/s)\n' "$E2E_RATE" "$LAG"
printf 'sequencer alone, empty log to %s entries:   %s appends/s (restart included)\n' "$TARGET" "$CATCHUP_RATE"
printf '%s\n' "$AUDIT"
printf 'HTTP  GET /v1/log/proofs/inclusion:  %s/s  p99 %s\n' "$HTTP_RPS" "$HTTP_P99"
sed -n 's/^/in memory  /p' "$BENCH_TMP/proofs.txt" | grep -v 'built' || true
printf 'target: proofs at least 100,000/s\n'
printf 'server peak RSS (catch-up): %s MiB\n' "$((server_hwm / 1024))"
