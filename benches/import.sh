#!/usr/bin/env bash
# Bulk import benchmark: `vouch import numbers` into a release server on loopback, next to the
# sqlite3 shell writing the same rows into tables of the same shape in large transactions (the
# SQLite limit on this machine, measured in the same run).
#
#   benches/import.sh [ROWS]      (default 10,000,000)
#
# Environment: CAMPAIGNS (default 100; rows go round robin over them), CHUNK (rows per import
# request, default: the client's default), PEER_TXN (rows per sqlite3 transaction, default
# 1,000,000), PEER (0: skip the sqlite3 peer; default 1), PEER_SORTED (1: also time the sqlite3
# shell on the rows sorted as vouch's client sends them; 0: skip; default 1), SEED (CSV
# generator seed, default 1).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS=${1:-10000000}
CAMPAIGNS=${CAMPAIGNS:-100}
CHUNK=${CHUNK:-}
PEER_TXN=${PEER_TXN:-1000000}
PEER=${PEER:-1}
PEER_SORTED=${PEER_SORTED:-1}
SEED=${SEED:-1}
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer"
[ "$ROWS" -le 100000000 ] || die "at most 100,000,000 rows"
[[ "$CAMPAIGNS" =~ ^[1-9][0-9]*$ ]] || die "CAMPAIGNS must be a positive integer"
[[ "$PEER_TXN" =~ ^[1-9][0-9]*$ ]] || die "PEER_TXN must be a positive integer"
[ -z "$CHUNK" ] || [[ "$CHUNK" =~ ^[1-9][0-9]*$ ]] || die "CHUNK must be a positive integer"

bench_init
need sqlite3 sqlite3
need /usr/bin/time time
build_release
start_server
setup_campaigns "$CAMPAIGNS"

CSV="$BENCH_TMP/numbers.csv"
say "generating $ROWS rows"
t0=$(now)
gen_csv "$CSV" "$ROWS" "$SEED"
say "generated $(stat -c %s "$CSV") bytes in $(calc %.1f "$(now) - $t0") s"
sync

# --- vouch ---------------------------------------------------------------------------------------
chunk_args=()
[ -n "$CHUNK" ] && chunk_args=(--chunk "$CHUNK")
say "importing through $SERVER_URL"
t0=$(now)
/usr/bin/time -v -o "$BENCH_TMP/client.time" "$VOUCH" import numbers "$CSV" --server "$SERVER_URL" \
    --api-key "$DCA_KEY" "${chunk_args[@]}" >"$BENCH_TMP/client.out" 2>"$BENCH_TMP/client.err" || {
    cat "$BENCH_TMP/client.out" "$BENCH_TMP/client.err" >&2
    die "the import failed"
}
t1=$(now)
secs=$(calc %.3f "$t1 - $t0")
held=$(curl -sS --max-time 10 "$SERVER_URL/healthz" | grep -o '"numbers":[0-9]*' | cut -d: -f2)
[ "$held" = "$ROWS" ] || die "the server holds $held numbers, expected $ROWS"
server_hwm=$(vm_hwm "$SERVER_PID")
client_rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$BENCH_TMP/client.time")
live_db=$(stat -c %s "$DATA_DIR/vouch.db")
live_wal=$(stat -c %s "$DATA_DIR/vouch.db-wal" 2>/dev/null || echo 0)
stop_server
final_files=$(find "$DATA_DIR" -maxdepth 1 -name 'vouch.db*' -printf '%f=%s ' | sed 's/ $//')
final_bytes=$(find "$DATA_DIR" -maxdepth 1 -name 'vouch.db*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
# A restart on the imported data: the in-memory index is rebuilt before the server listens.
say "restarting on the imported data"
t0=$(now)
start_server
restart_secs=$(calc %.2f "$(now) - $t0")
held=$(curl -sS --max-time 10 "$SERVER_URL/healthz" | grep -o '"numbers":[0-9]*' | cut -d: -f2)
[ "$held" = "$ROWS" ] || die "after a restart the server holds $held numbers, expected $ROWS"
restart_hwm=$(vm_hwm "$SERVER_PID")
# Listing a campaign's numbers scans the whole in-memory index: one page, then a whole export.
say "listing campaign ${CAMPAIGN_IDS[0]}'s numbers"
page_secs=()
for _ in 1 2 3 4 5; do
    page_secs+=("$(curl -sS --max-time 30 -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $DCA_KEY" \
        "$SERVER_URL/v1/campaigns/${CAMPAIGN_IDS[0]}/numbers?limit=10000")")
done
t0=$(now)
"$VOUCH" export numbers "${CAMPAIGN_IDS[0]}" --server "$SERVER_URL" --api-key "$DCA_KEY" --out "$BENCH_TMP/export.csv" \
    2>"$BENCH_TMP/export.err" || { cat "$BENCH_TMP/export.err" >&2; die "the export failed"; }
export_secs=$(calc %.2f "$(now) - $t0")
exported=$(($(wc -l <"$BENCH_TMP/export.csv") - 1))
expected=$(((ROWS + CAMPAIGNS - 1) / CAMPAIGNS))
[ "$exported" = "$expected" ] || die "the export holds $exported numbers, expected $expected"
stop_server
rm -rf "$DATA_DIR"

# --- peer: the sqlite3 shell, same rows, same table shapes, large transactions ------------------
TS_US=$(($(date +%s) * 1000000))
TIME_TEXT=$(date -u -d "@$((TS_US / 1000000))" +%Y-%m-%dT%H:%M:%S).000000Z
# peer CSV: runs the sqlite3 shell on the rows of CSV; sets PEER_SECS and PEER_BYTES.
peer() {
    local csv=$1 db="$BENCH_TMP/peer.db" a b t0 t1 n
    rm -f "$db" "$db-wal" "$db-shm"
    {
        cat <<SQL
.bail on
PRAGMA page_size = 16384;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA cache_size = -262144;
PRAGMA temp_store = MEMORY;
.read '$ROOT/crates/store/migrations/sqlite/0001_registry.sql'
CREATE TEMP TABLE staging (number TEXT, campaign TEXT, dca TEXT);
.import --csv --schema temp '$csv' staging
SQL
        for ((a = 1; a <= ROWS; a += PEER_TXN)); do
            b=$((a + PEER_TXN - 1))
            cat <<SQL
BEGIN;
INSERT INTO events (seq, ts_us, actor, kind, subject, canonical)
  SELECT rowid, $TS_US, '$DCA_ID', 'number.assigned', number,
    '{"actor":"$DCA_ID","body":{"campaignId":"' || campaign || '","dcaId":"' || dca || '","number":"'
      || number || '"},"kind":"number.assigned","seq":' || rowid || ',"time":"$TIME_TEXT","v":1}'
  FROM temp.staging WHERE rowid BETWEEN $a AND $b;
INSERT INTO number_assignments (assigned_seq, number, campaign_id, dca_id, assigned_us)
  SELECT rowid, CAST(substr(number, 2) AS INTEGER), campaign, dca, $TS_US
  FROM temp.staging WHERE rowid BETWEEN $a AND $b;
COMMIT;
SQL
        done
    } >"$BENCH_TMP/peer.sql"
    t0=$(now)
    sqlite3 "$db" <"$BENCH_TMP/peer.sql" >/dev/null
    t1=$(now)
    PEER_SECS=$(calc %.3f "$t1 - $t0")
    n=$(sqlite3 "$db" 'SELECT count(*) FROM number_assignments')
    [ "$n" = "$ROWS" ] || die "sqlite3 wrote $n rows, expected $ROWS"
    PEER_BYTES=$(find "$BENCH_TMP" -maxdepth 1 -name 'peer.db*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    rm -f "$db" "$db-wal" "$db-shm"
}
if [ "$PEER" = 1 ]; then
    sync # the server's last writes are not the peer's
    say "sqlite3 shell: the same rows in file order, $PEER_TXN rows per transaction"
    peer "$CSV"
    peer_secs=$PEER_SECS peer_bytes=$PEER_BYTES
fi
if [ "$PEER" = 1 ] && [ "$PEER_SORTED" = 1 ]; then
    # The order vouch's client sends rows in: sorted by number within windows of 2^20 lines
    # rounded up to whole chunks (bin/src/client.rs, WINDOW_LINES).
    c=${CHUNK:-10000}
    window=$(((1048576 + c - 1) / c * c))
    say "sqlite3 shell: the same rows sorted by number in windows of $window lines"
    split -l "$window" --filter='LC_ALL=C sort -t, -k1,1' "$CSV" >"$CSV.sorted"
    peer "$CSV.sorted"
    rm -f "$CSV.sorted"
    sorted_secs=$PEER_SECS sorted_bytes=$PEER_BYTES
fi

# --- report --------------------------------------------------------------------------------------
rate=$(calc %.0f "$ROWS / $secs")
verdict=$(awk -v r="$rate" 'BEGIN { print (r >= 200000 ? "met" : "NOT met") }')
cat <<EOF

== vouch import numbers: $ROWS rows, $CAMPAIGNS campaign(s) round robin, chunk ${CHUNK:-default (10000)} ==
client says:          $(cat "$BENCH_TMP/client.out")
rows:                 $ROWS
seconds:              $secs
rows/s:               $rate  (target 200000: $verdict)
server peak RSS:      $(calc %.1f "$server_hwm / 1024") MiB (VmHWM)
client peak RSS:      $(calc %.1f "$client_rss / 1024") MiB (/usr/bin/time -v)
SQLite files, live:   vouch.db=$live_db vouch.db-wal=$live_wal (right after the import)
SQLite files, final:  $final_files (after a clean stop)
on disk:              $(calc %.1f "$final_bytes / 1048576") MiB, $(calc %.1f "$final_bytes / $ROWS") bytes/row
restart:              listening with all $ROWS numbers indexed in $restart_secs s, peak RSS $(calc %.1f "$restart_hwm / 1024") MiB
campaign listing:     a page of 10,000 of ${CAMPAIGN_IDS[0]}'s $expected numbers in ${page_secs[*]} s (curl, 5 runs); \`vouch export numbers\` of all $exported in $export_secs s
EOF
if [ "$PEER" != 1 ]; then
    echo "peer:                 skipped (PEER=$PEER)"
    exit 0
fi
peer_rate=$(calc %.0f "$ROWS / $peer_secs")
cat <<EOF
== peer in the same run: sqlite3 $(sqlite3 --version | cut -d' ' -f1) shell, same tables and indexes, WAL, synchronous=FULL, 16 KiB pages, 256 MiB cache (as vouch's writer) ==
transactions:         $PEER_TXN rows each; the CSV .import into a TEMP table is part of the time
file order:           $peer_secs s, $peer_rate rows/s, $(calc %.1f "$peer_bytes / $ROWS") bytes/row on disk
EOF
if [ "$PEER_SORTED" = 1 ]; then
    sorted_rate=$(calc %.0f "$ROWS / $sorted_secs")
    cat <<EOF
sorted like vouch:    $sorted_secs s, $sorted_rate rows/s, $(calc %.1f "$sorted_bytes / $ROWS") bytes/row on disk
vouch / sqlite3:      $(calc %.2f "$rate / $peer_rate") (file order), $(calc %.2f "$rate / $sorted_rate") (sorted)
EOF
else
    echo "vouch / sqlite3:      $(calc %.2f "$rate / $peer_rate")"
fi
echo "machine:              $(nproc) CPU(s), shared by the client, the server and the kernel's writeback"
