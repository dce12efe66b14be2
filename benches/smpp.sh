#!/usr/bin/env bash
# SMPP gateway throughput: submit_sm per second from a load-generating ESME through
# `vouch serve --smpp` (every check on, every decision recorded) to a sink SMSC, and in the same
# run the same load sent straight to the sink (the path without vouch). Both tools are
# benches/smpp-load (Rust, pipelined, windowed); everything is on loopback.
#
#   benches/smpp.sh [ROWS]      numbers registered first (default 10,000,000)
#
# Environment: MESSAGES (timed submits per run, default 1,000,000), WARMUP (default 100,000),
# RATE (a last run paced at this many submit_sm/s for 10 s, for latency at the target's rate;
# default 50,000; 0 skips it),
# DLR (1: every submit asks for a delivery receipt, which the sink sends and vouch passes back to
# the ESME through its id map; default 0),
# CONNECTIONS (default 4), WINDOW (outstanding per connection, default 256), CAMPAIGNS (default
# 100), SOURCES (distinct registered source numbers the ESME cycles through, default 100,000).
# Class rates are scaled by 1,000 and daily caps raised so that the load is not throttled: the
# checks still run, they just pass.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROWS=${1:-10000000}
MESSAGES=${MESSAGES:-1000000}
WARMUP=${WARMUP:-100000}
CONNECTIONS=${CONNECTIONS:-4}
WINDOW=${WINDOW:-256}
CAMPAIGNS=${CAMPAIGNS:-100}
SOURCES=${SOURCES:-100000}
RATE=${RATE:-50000}
DLR=${DLR:-0}
for v in ROWS MESSAGES WARMUP CONNECTIONS WINDOW CAMPAIGNS SOURCES RATE DLR; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
[ "$ROWS" -ge "$SOURCES" ] || die "ROWS must be at least SOURCES"
[ "$MESSAGES" -le 50000000 ] || die "at most 50,000,000 messages"
DLR_ARGS=()
[ "$DLR" = 0 ] || DLR_ARGS=(--dlr)

bench_init
build_release
LOAD_TARGET="$ROOT/target/smpp-load"
say "building: benches/smpp-load"
(cd "$ROOT/benches/smpp-load" && CARGO_TARGET_DIR="$LOAD_TARGET" cargo build --release --quiet)
LOAD="$LOAD_TARGET/release/smpp-load"

start_server
setup_campaigns "$CAMPAIGNS"
CSV="$BENCH_TMP/numbers.csv"
gen_csv "$CSV" "$ROWS" 1
say "importing $ROWS numbers"
"$VOUCH" import numbers "$CSV" --server "$SERVER_URL" --api-key "$DCA_KEY" >/dev/null 2>&1 || die "the import failed"
head -n "$SOURCES" "$CSV" | cut -d, -f1 | sed 's/^+//' >"$BENCH_TMP/sources.txt"
rm -f "$CSV"
acct=$(api POST "/v1/providers/$CSP_ID/smpp-accounts" "$CSP_KEY" '{"systemId":"bench"}')
PASSWORD=$(json_str password <<<"$acct")
stop_server

# The sink SMSC.
"$LOAD" smsc --listen 127.0.0.1:0 --duration-secs 1800 "${DLR_ARGS[@]}" >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err" &
SINK_PID=$!
BENCH_PIDS+=("$SINK_PID")
for _ in $(seq 100); do grep -q LISTENING "$BENCH_TMP/sink.out" 2>/dev/null && break; sleep 0.1; done
SINK_PORT=$(awk '/LISTENING/ { print $2 }' "$BENCH_TMP/sink.out")
[ -n "$SINK_PORT" ] || die "the sink did not start"

cat >"$BENCH_TMP/vouch.toml" <<TOML
[gateway]
minute_scale = 1000.0
daily_caps = [1000000000000, 1000000000000, 1000000000000, 1000000000000, 1000000000000]
TOML
SERVER_ARGS=(--smpp 127.0.0.1:0 --smsc "smpp://vouch:x@127.0.0.1:$SINK_PORT?window=4096" --gateway-dca "$DCA_ID"
    --smpp-window "$WINDOW" --config "$BENCH_TMP/vouch.toml")
t0=$(now)
start_server
start_secs=$(calc %.1f "$(now) - $t0")
SMPP_PORT=$(sed -n 's/^vouch: SMPP gateway on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$BENCH_TMP/server.log")
[ -n "$SMPP_PORT" ] || die "no SMPP listener in the server log"

load() { # load PORT SYSTEM_ID PASSWORD: one JSON line of figures
    "$LOAD" esme --target "127.0.0.1:$1" --system-id "$2" --password "$3" --connections "$CONNECTIONS" \
        --window "$WINDOW" --messages "$MESSAGES" --warmup "$WARMUP" --sources "$BENCH_TMP/sources.txt" "${DLR_ARGS[@]}"
}
load_paced() { # load_paced PORT SYSTEM_ID PASSWORD: MESSAGES at RATE a second
    "$LOAD" esme --target "127.0.0.1:$1" --system-id "$2" --password "$3" --connections "$CONNECTIONS" \
        --window "$WINDOW" --messages "$MESSAGES" --warmup 0 --rate "$RATE" --sources "$BENCH_TMP/sources.txt" "${DLR_ARGS[@]}"
}
say "direct: ESME -> sink, $MESSAGES messages"
direct=$(load "$SINK_PORT" any any)
say "through vouch: ESME -> vouch -> sink, $MESSAGES messages"
cpu0=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
via=$(load "$SMPP_PORT" bench "$PASSWORD")
cpu1=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
rss=$(vm_hwm "$SERVER_PID")
# Every decision's record must reach the store; how long after the last answer does it take?
t0=$(now)
written=0
for _ in $(seq 600); do
    written=$(curl -sS --max-time 10 "$SERVER_URL/metrics" | awk '/^vouch_gateway_records_written_total/ { print $2 }')
    [ "${written:-0}" -ge $((MESSAGES + WARMUP)) ] && break
    sleep 0.5
done
drain_secs=$(calc %.1f "$(now) - $t0")
paced=""
if [ "$RATE" -gt 0 ]; then
    say "through vouch, paced at $RATE submit_sm/s for 10 s"
    paced=$(MESSAGES=$((RATE * 10)) WARMUP=0 load_paced "$SMPP_PORT" bench "$PASSWORD")
fi
stop_server

field() { grep -o "\"$1\":[0-9.]*" <<<"$2" | head -1 | cut -d: -f2; }
d=$(field per_second "$direct")
v=$(field per_second "$via")
ok=$(grep -o '"0x00000000":[0-9]*' <<<"$via" | cut -d: -f2)
ticks=$(getconf CLK_TCK)
printf '\nSMPP gateway, %s registered numbers, %s campaigns, %s source numbers, %s connections x window %s%s\n' \
    "$ROWS" "$CAMPAIGNS" "$SOURCES" "$CONNECTIONS" "$WINDOW" "$([ "$DLR" = 0 ] || echo ', a receipt for every message')"
printf '  direct (ESME -> sink)          %10.0f submit_sm/s   p50 %s us  p99 %s us\n' "$d" "$(field p50_us "$direct")" "$(field p99_us "$direct")"
printf '  through vouch (all checks on)  %10.0f submit_sm/s   p50 %s us  p99 %s us\n' "$v" "$(field p50_us "$via")" "$(field p99_us "$via")"
printf '  vouch / direct                 %10.1f %%\n' "$(calc %.4f "100 * $v / $d")"
printf '  accepted (ESME_ROK)            %10s of %s (+ %s warm-up)\n' "${ok:-0}" "$MESSAGES" "$WARMUP"
if [ -n "$paced" ]; then
    printf '  paced at %s/s through vouch  %10.0f submit_sm/s   p50 %s us  p99 %s us  max %s us\n' "$RATE" \
        "$(field per_second "$paced")" "$(field p50_us "$paced")" "$(field p99_us "$paced")" "$(field max_us "$paced")"
fi
printf '  vouch CPU during its run       %10.2f s (%.1f us per message)\n' "$(calc %.2f "($cpu1 - $cpu0) / $ticks")" \
    "$(calc %.2f "1e6 * ($cpu1 - $cpu0) / $ticks / $MESSAGES")"
printf '  records written                %10s (the last %s s after the last answer)\n' "${written:-?}" "$drain_secs"
printf '  vouch peak RSS                 %10s MiB; start-up with the index %s s\n' "$((rss / 1024))" "$start_secs"
printf '  raw: direct %s\n  raw: vouch  %s\n' "$direct" "$via"
[ -z "$paced" ] || printf '  raw: paced  %s\n' "$paced"
