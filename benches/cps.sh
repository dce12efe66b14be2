#!/usr/bin/env bash
# Call Placement Service benchmark (issue 9): publishes and retrievals per second through
# POST/GET /passports/{spc}/{dest}/{orig} with latency percentiles, in the standard flow
# (PASSporTs in the clear) and in privacy mode (PASSporTs sealed with HPKE to the terminating
# provider), every request with its own ES256 token (a new jti), each call to another number.
#
# Per-core figure: requests divided by the CPU seconds the server itself used in the phase
# (/proc/PID/stat; wrk shares the two cores). Share spent in cryptography: requests times the
# cost of one ES256 verification (the token; one per request), over those CPU seconds, the cost
# measured in the same run by `openssl speed -seconds S ecdsap256` on one core (the peer).
# The published anchor: TransNexus, about 118,000 publishes/s and 121,000 retrievals/s on a cluster.
#
#   benches/cps.sh [SECONDS]     (default 10, at most 60, per phase)
#
# Environment: CONNECTIONS (wrk -c, default 32), RATE_GUESS (requests/s the token supply is
# sized for, default 25000: tokens are made before each phase and used once).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION=${1:-10}
CONNECTIONS=${CONNECTIONS:-32}
RATE_GUESS=${RATE_GUESS:-25000}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 60 ] || die "SECONDS must be 1 to 60"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] && [ "$CONNECTIONS" -le 1000 ] || die "CONNECTIONS must be 1 to 1000"
[[ "$RATE_GUESS" =~ ^[1-9][0-9]*$ ]] && [ "$RATE_GUESS" -le 500000 ] || die "RATE_GUESS must be 1 to 500,000"

bench_init
need wrk wrk
need openssl openssl
need python3 python3
build_release

say "openssl speed -seconds $DURATION ecdsap256 (one core)"
openssl speed -seconds "$DURATION" ecdsap256 >"$BENCH_TMP/openssl.txt" 2>/dev/null
read -r OSSL_SIGN OSSL_VERIFY < <(awk '/256 bits ecdsa \(nistp256\)/ { print $(NF-1), $NF }' "$BENCH_TMP/openssl.txt" | tail -1)
[ -n "${OSSL_VERIFY:-}" ] || { cat "$BENCH_TMP/openssl.txt" >&2; die "cannot read openssl's figures"; }

# --- a server with a development PKI and two voice providers (O publishes, T retrieves) --------
CA="$BENCH_TMP/ca"
"$VOUCH" ca init --dir "$CA" >/dev/null 2>&1
mkdir -p "$BENCH_TMP/trust"
cp "$CA/root.pem" "$BENCH_TMP/trust/"
SERVER_ARGS=(--trust-dir "$BENCH_TMP/trust")
start_server
provider() { # provider NAME FRN SPC: sets P_ID P_KEY P_X5U P_PEM
    local out
    out=$("$VOUCH" ca issue --dir "$CA" --spc "$3" 2>/dev/null)
    P_PEM=$(sed -n 's/^key: //p' <<<"$out")
    local chain; chain=$(sed -n 's/^chain: //p' <<<"$out")
    local p
    p=$(api POST /v1/providers "$ADMIN_KEY" "{\"legalName\":\"$1\",\"roles\":[\"voice\"],\"frn\":\"$2\",\"spc\":\"$3\"}")
    P_ID=$(json_str providerId <<<"$p")
    P_KEY=$(json_str apiKey <<<"$p")
    python3 - "$chain" "$P_PEM" >"$BENCH_TMP/cert.json" <<'EOF'
import json, sys
print(json.dumps({"chain": open(sys.argv[1]).read(), "privateKey": open(sys.argv[2]).read()}))
EOF
    P_X5U=$(api POST "/v1/providers/$P_ID/certificates" "$P_KEY" "@$BENCH_TMP/cert.json" | json_str x5u)
}
provider "Originating Telco" 0073111111 731A
O_PEM=$P_PEM O_X5U=$P_X5U
provider "Terminating Telco" 0074222222 742B
T_PEM=$P_PEM T_X5U=$P_X5U T_ID=$P_ID T_KEY=$P_KEY
HPKE_PUB=$("$VOUCH" cps keygen --out "$BENCH_TMP/t-hpke.pem")
api POST "/v1/providers/$T_ID/cps-keys" "$T_KEY" "{\"publicKey\":\"$HPKE_PUB\"}" >/dev/null

COUNT=$((RATE_GUESS * DURATION * 3 / 2))
lines() { # lines ACTION FIRST_DEST OUT [more flags]: load-test lines, made on both cores
    local action=$1 first=$2 out=$3 half=$((COUNT / 2))
    shift 3
    local key=$O_PEM x5u=$O_X5U spc=731A second=$((first + half))
    # Retrievals: both halves cycle over the calls published (from the first number on).
    if [ "$action" = retrieve ]; then key=$T_PEM x5u=$T_X5U spc=742B second=$first; fi
    "$VOUCH" cps token --load-lines --action "$action" --count "$half" --cps "$SERVER_URL" --key "$key" \
        --x5u "$x5u" --signer-spc "$spc" --spc 742B --orig 12025550100 --dest "$first" "$@" >"$out.a" &
    local p1=$!
    "$VOUCH" cps token --load-lines --action "$action" --count "$((COUNT - half))" --cps "$SERVER_URL" --key "$key" \
        --x5u "$x5u" --signer-spc "$spc" --spc 742B --orig 12025550100 --dest "$second" "$@" >"$out.b" &
    local p2=$!
    wait "$p1" && wait "$p2" || die "token generation failed"
    cat "$out.a" "$out.b" >"$out" && rm -f "$out.a" "$out.b"
}
cat >"$BENCH_TMP/cps.lua" <<'EOF'
-- Each request is the next line: DEST \t TOKEN \t ITEM (ITEM empty for a retrieval).
local lines, i, method = {}, 0, os.getenv("METHOD")
function init(args)
    for l in io.lines(os.getenv("LINES")) do lines[#lines + 1] = l end
end
function request()
    i = i + 1
    if i > #lines then i = 1 end
    local dest, token, item = lines[i]:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    local path = "/passports/742B/" .. dest .. "/12025550100"
    local headers = { ["Authorization"] = "Bearer " .. token }
    if method == "POST" then
        headers["Content-Type"] = "application/json"
        return wrk.format("POST", path, headers, '{"passports":["' .. item .. '"]}')
    end
    return wrk.format("GET", path, headers)
end
EOF
field() {
    case "$2" in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
        n) awk '/requests in/ { print $1 }' "$1" ;;
        p50) awk '$1 == "50%" { print $2 }' "$1" ;;
        p90) awk '$1 == "90%" { print $2 }' "$1" ;;
        p99) awk '$1 == "99%" { print $2 }' "$1" ;;
        non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" | tail -1 ;;
    esac
}
declare -A R
phase() { # phase NAME METHOD LINES
    say "wrk $1: $CONNECTIONS connections, ${DURATION}s"
    local before after out="$BENCH_TMP/wrk-$1.txt"
    before=$(server_cpu_ticks)
    METHOD=$2 LINES=$3 timeout $((DURATION + 60)) \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency -s "$BENCH_TMP/cps.lua" "$SERVER_URL" >"$out"
    after=$(server_cpu_ticks)
    local n cpu
    n=$(field "$out" n)
    cpu=$(calc %.3f "($after - $before) / $CLK_TCK")
    local lines_n
    lines_n=$(wc -l <"$3")
    [ "$n" -le "$lines_n" ] || say "warning: $1 used $n requests but had $lines_n tokens (replays counted as non-2xx); raise RATE_GUESS"
    R[$1]="$(field "$out" rps)/s, p50 $(field "$out" p50), p90 $(field "$out" p90), p99 $(field "$out" p99), non-2xx $(field "$out" non2xx | grep . || echo 0); server CPU $cpu s: $(calc %.0f "$n / $cpu") per core-second, crypto (1 ES256 verify each) $(calc %.0f "100 * $n / $OSSL_VERIFY / $cpu")%"
}

# published PHASE: how many calls the publish phase published, from the first number on (wrk
# takes the lines in order and makes as many requests as lines, or fewer).
published() { local n; n=$(field "$BENCH_TMP/wrk-$1.txt" n); [ "$n" -le "$COUNT" ] || n=$COUNT; echo $((n > CONNECTIONS ? n - CONNECTIONS : 1)); }

say "making $COUNT publish lines (standard flow)"
lines publish 13100000000 "$BENCH_TMP/pub.txt"
phase publish POST "$BENCH_TMP/pub.txt"
say "making $COUNT retrieve lines"
lines retrieve 13100000000 "$BENCH_TMP/ret.txt" --cycle "$(published publish)"
phase retrieve GET "$BENCH_TMP/ret.txt"
say "making $COUNT publish lines (privacy mode: sealed to T's HPKE key)"
lines publish 13200000000 "$BENCH_TMP/pub-sealed.txt" --seal-to "$HPKE_PUB"
phase publish-sealed POST "$BENCH_TMP/pub-sealed.txt"
lines retrieve 13200000000 "$BENCH_TMP/ret-sealed.txt" --cycle "$(published publish-sealed)"
phase retrieve-sealed GET "$BENCH_TMP/ret-sealed.txt"
records=$(curl -sS --max-time 10 "$SERVER_URL/metrics" | awk '$1 == "vouch_cps_records" { print $2 }')
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status")

echo
echo "== Call Placement Service: wrk -t1 -c$CONNECTIONS -d${DURATION}s, one token per request, one call per number =="
for what in publish retrieve publish-sealed retrieve-sealed; do
    printf '%-17s %s\n' "$what" "${R[$what]}"
done
echo "held at the end:  $records records, server RSS $(calc %.0f "$rss / 1024") MiB"
echo "peer (one core):  openssl ecdsap256 verify $OSSL_VERIFY/s, sign $OSSL_SIGN/s"
echo "machine:          $(nproc) CPU(s) shared by wrk and vouch"
