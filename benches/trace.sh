#!/usr/bin/env bash
# Trace latency benchmark: NUMBERS numbers each held by ROUNDS campaigns in turn (NUMBERS x
# ROUNDS history intervals) in the embedded store of a release server on loopback; wrk asks
# `GET /v1/trace?tn=…&at=…&proofs=false` for a random number at an instant inside a random round
# (so the answer comes from the history, not the current holder). The peer in the same run is
# the public lookup `GET /v1/numbers/{n}` (in memory) with the same wrk settings: the floor of a
# request through vouch's HTTP stack.
#
#   benches/trace.sh [SECONDS]      (default 10 per target, at most 300)
#
# Environment: NUMBERS (default 10,000,000), ROUNDS (default 5), CAMPAIGNS (per round, default
# 100), CONNECTIONS (wrk -c, default 1: latency of one caller; THREADS = 1).
#
# Each round imports every number into the round's campaigns (the bulk path), and every round but
# the last ends by deactivating its campaigns, which releases their numbers (one number.released
# event each). At the default scale the store holds 90 M events; give it about 30 GB of disk.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION=${1:-10}
NUMBERS=${NUMBERS:-10000000}
ROUNDS=${ROUNDS:-5}
PER_ROUND=${CAMPAIGNS:-100}
CONNECTIONS=${CONNECTIONS:-1}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 300 ] || die "SECONDS must be 1 to 300"
[[ "$NUMBERS" =~ ^[1-9][0-9]*$ ]] && [ "$NUMBERS" -le 10000000 ] || die "NUMBERS must be 1 to 10,000,000"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] && [ "$ROUNDS" -le 10 ] || die "ROUNDS must be 1 to 10"
[[ "$PER_ROUND" =~ ^[1-9][0-9]*$ ]] || die "CAMPAIGNS must be a positive integer"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] && [ "$CONNECTIONS" -le 64 ] || die "CONNECTIONS must be 1 to 64"

bench_init
need wrk wrk
need /usr/bin/time time
build_release
# Enforcement off: this measures traces, not the sweeps over the churn it would flag.
SERVER_ARGS=(--enforcement off)
start_server
setup_campaigns $((PER_ROUND * ROUNDS))
ALL_CAMPAIGNS=("${CAMPAIGN_IDS[@]}")
carrier=$(api POST /v1/providers "$ADMIN_KEY" '{"legalName":"Big Mobile Carrier","roles":["carrier"],"frn":"0087654321"}')
CARRIER_KEY=$(json_str apiKey <<<"$carrier")

CSV="$BENCH_TMP/numbers.csv"
INSTANTS=()
t_all=$(now)
for r in $(seq "$ROUNDS"); do
    CAMPAIGN_IDS=("${ALL_CAMPAIGNS[@]:$(((r - 1) * PER_ROUND)):$PER_ROUND}")
    gen_csv "$CSV" "$NUMBERS" 11
    t0=$(now)
    "$VOUCH" import numbers "$CSV" --server "$SERVER_URL" --api-key "$DCA_KEY" >"$BENCH_TMP/import.out" 2>&1 ||
        { cat "$BENCH_TMP/import.out" >&2; die "round $r: the import failed"; }
    held=$(curl -sS --max-time 10 "$SERVER_URL/healthz" | grep -o '"numbers":[0-9]*' | cut -d: -f2)
    [ "$held" = "$NUMBERS" ] || die "round $r: the server holds $held numbers, expected $NUMBERS"
    sleep 0.01
    INSTANTS+=("$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)")
    sleep 0.01
    t1=$(now)
    if [ "$r" -lt "$ROUNDS" ]; then
        for c in "${CAMPAIGN_IDS[@]}"; do
            curl -sS --max-time 600 -X DELETE "$SERVER_URL/v1/campaigns/$c?reason=round-over" \
                -H "Authorization: Bearer $CSP_KEY" -o /dev/null -w '%{http_code}' | grep -q '^2' ||
                die "round $r: cannot deactivate campaign $c"
        done
    fi
    say "round $r/$ROUNDS: imported $NUMBERS in $(calc %.1f "$t1 - $t0") s, released in $(calc %.1f "$(now) - $t1") s"
done
build_secs=$(calc %.0f "$(now) - $t_all")
intervals=$((NUMBERS * ROUNDS))
db_bytes=$(find "$DATA_DIR" -maxdepth 1 -name 'vouch.db*' -printf '%s\n' | awk '{ s += $1 } END { print s }')

# Requests: a random number at an instant inside a random round.
cut -d, -f1 "$CSV" | sed 's/^+/%2B/' >"$BENCH_TMP/numbers.txt"
printf '%s\n' "${INSTANTS[@]}" >"$BENCH_TMP/instants.txt"
rm -f "$CSV"
sample_n=$(head -1 "$BENCH_TMP/numbers.txt")
sample=$(curl -sS --max-time 10 "$SERVER_URL/v1/trace?tn=$sample_n&at=${INSTANTS[0]}&proofs=false" -H "Authorization: Bearer $CARRIER_KEY")
grep -q "\"campaignId\":\"${ALL_CAMPAIGNS[0]:0:1}" <<<"$sample" || die "the sample trace names no campaign: $sample"
cited=$(grep -o '"seq":' <<<"$sample" | wc -l)

cat >"$BENCH_TMP/trace.lua" <<'EOF'
-- GET /v1/trace for a random loaded number at a random round's instant, or the public lookup.
local numbers, instants = {}, {}
local mode, key = os.getenv("MODE"), os.getenv("KEY")
function init(args)
    for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
    for line in io.lines(os.getenv("INSTANTS_FILE")) do instants[#instants + 1] = line end
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
    local n = numbers[math.random(#numbers)]
    if mode == "lookup" then
        return wrk.format("GET", "/v1/numbers/" .. n)
    end
    local path = "/v1/trace?proofs=false&tn=" .. n .. "&at=" .. instants[math.random(#instants)]
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. key })
end
EOF
run_wrk() {
    MODE=$1 KEY=$CARRIER_KEY NUMBERS_FILE="$BENCH_TMP/numbers.txt" INSTANTS_FILE="$BENCH_TMP/instants.txt" \
        timeout $((DURATION + 60)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
        -s "$BENCH_TMP/trace.lua" "$SERVER_URL" >"$2"
}
field() {
    case "$2" in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
        p50) awk '$1 == "50%" { print $2 }' "$1" ;;
        p90) awk '$1 == "90%" { print $2 }' "$1" ;;
        p99) awk '$1 == "99%" { print $2 }' "$1" ;;
        requests) awk '/requests in/ { print $1 }' "$1" ;;
        non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" | tail -1 ;;
    esac
}
say "wrk -t1 -c$CONNECTIONS -d${DURATION}s: traces"
run_wrk trace "$BENCH_TMP/wrk-trace.txt"
say "wrk -t1 -c$CONNECTIONS -d${DURATION}s: public lookups (peer)"
run_wrk lookup "$BENCH_TMP/wrk-lookup.txt"
server_hwm=$(vm_hwm "$SERVER_PID")
stop_server

report() {
    printf 'requests/s:           %s (%s requests, non-2xx: %s)\n' "$(field "$1" rps)" "$(field "$1" requests)" \
        "$(field "$1" non2xx | grep . || echo 0)"
    printf 'latency p50/p90/p99:  %s / %s / %s\n' "$(field "$1" p50)" "$(field "$1" p90)" "$(field "$1" p99)"
}
cat <<EOF

== vouch GET /v1/trace (sms, proofs=false): $NUMBERS numbers, $intervals history intervals ($ROUNDS per number) ==
store:                $(calc %.0f "$db_bytes / 1048576") MiB on disk, built in $build_secs s
sample answer:        $(wc -c <<<"$sample") bytes, $cited registry events cited
wrk:                  -t1 -c$CONNECTIONS -d${DURATION}s --latency, HTTP/1.1 keep-alive, 127.0.0.1
$(report "$BENCH_TMP/wrk-trace.txt")
server peak RSS:      $(calc %.1f "$server_hwm / 1024") MiB (VmHWM)
== peer in the same run: GET /v1/numbers/{n} (in-memory lookup), same wrk settings ==
$(report "$BENCH_TMP/wrk-lookup.txt")
note:                 wrk runs on the same $(nproc) CPU(s) as the server
EOF
