#!/usr/bin/env bash
# Call authentication benchmark: PASSporT verifications and signings per second through the
# ATIS-1000082 HTTP interface (wrk, keep-alive, both cores shared by server and load), p99
# latency at half the measured verification rate, and verifications through the SIP redirect
# server (SIPp INVITE -> 302 -> ACK). The peer, printed in the same run: `openssl speed -multi 2
# ecdsap256` (the raw two-core ECDSA P-256 sign and verify rates on this machine).
#
#   benches/stir.sh [SECONDS]      (default 10, at most 120, per phase)
#
# Environment: CONNECTIONS (wrk -c, default 32), SIP_CALLS (default 20000), PIPELINE (requests
# per write in the pipelined phases, default 16).
# Certificates are cached (vouch serves the x5u itself; the chain is validated once and kept).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION=${1:-10}
CONNECTIONS=${CONNECTIONS:-32}
SIP_CALLS=${SIP_CALLS:-20000}
PIPELINE=${PIPELINE:-16}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 120 ] || die "SECONDS must be 1 to 120"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] && [ "$CONNECTIONS" -le 1000 ] || die "CONNECTIONS must be 1 to 1000"
[[ "$SIP_CALLS" =~ ^[1-9][0-9]*$ ]] && [ "$SIP_CALLS" -le 1000000 ] || die "SIP_CALLS must be 1 to 1,000,000"
[[ "$PIPELINE" =~ ^[1-9][0-9]*$ ]] && [ "$PIPELINE" -le 256 ] || die "PIPELINE must be 1 to 256"

bench_init
need wrk wrk
need openssl openssl
need sipp sip-tester
need python3 python3
build_release

# --- the peer: raw ECDSA P-256 on both cores --------------------------------------------------
say "openssl speed -multi 2 -seconds $DURATION ecdsap256"
openssl speed -multi 2 -seconds "$DURATION" ecdsap256 >"$BENCH_TMP/openssl.txt" 2>/dev/null
# The summary line: "ecdsa (nistp256)  0.0000s  0.0000s  SIGN/s  VERIFY/s" (256-bit row).
read -r OSSL_SIGN OSSL_VERIFY < <(awk '/256 bits ecdsa \(nistp256\)/ { print $(NF-1), $NF }' "$BENCH_TMP/openssl.txt" | tail -1)
[ -n "${OSSL_VERIFY:-}" ] || { cat "$BENCH_TMP/openssl.txt" >&2; die "cannot read openssl's figures"; }

# --- a server with a development PKI, a voice provider, its certificate and a SIP peer --------
CA="$BENCH_TMP/ca"
"$VOUCH" ca init --dir "$CA" >/dev/null 2>&1
"$VOUCH" ca issue --dir "$CA" --spc 123A >/dev/null 2>&1
mkdir -p "$BENCH_TMP/trust"
cp "$CA/root.pem" "$BENCH_TMP/trust/"
HTTP_PORT=""
for _ in $(seq 20); do
    p=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
    HTTP_PORT=$p
    break
done
[ -n "$HTTP_PORT" ] || die "no free port"
SIP_PORT=$((HTTP_PORT + 1))
SERVER_HTTP="127.0.0.1:$HTTP_PORT"
# A long freshness window: one PASSporT is verified for the whole run.
SERVER_ARGS=(--sip "127.0.0.1:$SIP_PORT" --trust-dir "$BENCH_TMP/trust" --freshness 3600 --replay-policy flag)
start_server

post() { # post PATH KEY JSON
    curl -sS --max-time 10 -X POST "$SERVER_URL$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$3"
}
prov=$(post /v1/providers "$ADMIN_KEY" '{"legalName":"Bench Voice","roles":["voice"],"frn":"0012345678","spc":"123A"}')
PID=$(printf '%s' "$prov" | python3 -c 'import json,sys; print(json.load(sys.stdin)["provider"]["providerId"])')
KEY=$(printf '%s' "$prov" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
python3 - "$CA" >"$BENCH_TMP/cert.json" <<'EOF'
import glob, json, sys
d = sys.argv[1] + "/issued/"
print(json.dumps({"chain": open(glob.glob(d + "*.pem")[0]).read(), "privateKey": open(glob.glob(d + "*.key")[0]).read()}))
EOF
post "/v1/providers/$PID/certificates" "$KEY" "@$BENCH_TMP/cert.json" | grep -q '"signing":true' || die "certificate registration failed"
post "/v1/providers/$PID/sip-peers" "$KEY" '{"address":"127.0.0.1"}' | grep -q '"address"' || die "SIP peer registration failed"
post "/v1/providers/$PID/number-blocks" "$ADMIN_KEY" '{"first":"+12025550100","last":"+12025550199"}' >/dev/null

NOW=$(date +%s)
SIGN_BODY="{\"signingRequest\":{\"attest\":\"A\",\"orig\":{\"tn\":\"12025550100\"},\"dest\":{\"tn\":[\"12025550199\"]},\"iat\":$NOW}}"
IDENTITY=$(post /stir/v1/signing "$KEY" "$SIGN_BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signingResponse"]["identity"])')
VERIFY_BODY="{\"verificationRequest\":{\"from\":{\"tn\":\"12025550100\"},\"to\":{\"tn\":[\"12025550199\"]},\"time\":$NOW,\"callId\":\"bench\",\"identity\":\"$IDENTITY\"}}"
post /stir/v1/verification "$KEY" "$VERIFY_BODY" | grep -q 'TN-Validation-Passed' || die "the PASSporT does not verify"

# --- wrk ----------------------------------------------------------------------------------------
# post.lua: POST the body in $BODY_FILE; with DELAY_MS set, each connection waits that long
# between requests (an open-ish load at a chosen rate).
cat >"$BENCH_TMP/post.lua" <<'EOF'
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if delay_ms > 0 then
    function delay() return delay_ms end
end
-- PIPELINE > 1: each connection sends that many requests in one write and reads the answers
-- (HTTP/1.1 pipelining); wrk counts every answer.
local depth = tonumber(os.getenv("PIPELINE") or "1")
if depth > 1 then
    function init(args)
        local r = {}
        for i = 1, depth do r[i] = wrk.format() end
        batch = table.concat(r)
    end
    function request() return batch end
end
EOF
printf '%s' "$VERIFY_BODY" >"$BENCH_TMP/verify.json"
printf '%s' "$SIGN_BODY" >"$BENCH_TMP/sign.json"
wrk_run() { # wrk_run PATH BODY CONNECTIONS DELAY_MS OUT [PIPELINE]: also OUT.cpu, the server's CPU seconds
    local before after
    before=$(server_cpu_ticks)
    BODY_FILE="$2" API_KEY="$KEY" DELAY_MS="$4" PIPELINE="${6:-1}" timeout $((DURATION + 60)) \
        wrk -t1 -c"$3" -d"${DURATION}s" --timeout 2s --latency -s "$BENCH_TMP/post.lua" "$SERVER_URL$1" >"$5"
    after=$(server_cpu_ticks)
    calc %.3f "($after - $before) / $CLK_TCK" >"$5.cpu"
}
field() {
    case "$2" in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
        p50) awk '$1 == "50%" { print $2 }' "$1" ;;
        p99) awk '$1 == "99%" { print $2 }' "$1" ;;
        non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" | tail -1 ;;
        n) awk '/requests in/ { print $1 }' "$1" ;;
        # answers per CPU second the server itself used (user + system, its kernel work included)
        per_core) calc %.0f "$(field "$1" n) / $(cat "$1.cpu")" ;;
    esac
}
say "wrk verification, $CONNECTIONS connections, ${DURATION}s"
wrk_run /stir/v1/verification "$BENCH_TMP/verify.json" "$CONNECTIONS" 0 "$BENCH_TMP/verify.txt"
VERIFY_RPS=$(field "$BENCH_TMP/verify.txt" rps)
# Half that rate, spread over the connections: each waits CONNECTIONS/(rate/2) s between requests.
HALF_DELAY=$(awk -v c="$CONNECTIONS" -v r="$VERIFY_RPS" 'BEGIN { printf "%d", c * 1000 / (r / 2) }')
say "wrk verification at about half that rate (${HALF_DELAY} ms between requests per connection)"
wrk_run /stir/v1/verification "$BENCH_TMP/verify.json" "$CONNECTIONS" "$HALF_DELAY" "$BENCH_TMP/verify-half.txt"
say "wrk signing, $CONNECTIONS connections, ${DURATION}s"
wrk_run /stir/v1/signing "$BENCH_TMP/sign.json" "$CONNECTIONS" 0 "$BENCH_TMP/sign.txt"
# The same two loads with HTTP/1.1 pipelining: the load generator's and the loopback's share of
# the two cores shrinks (many requests per read and write), so more of them is left to vouch.
say "wrk verification and signing, pipelined $PIPELINE deep, $CONNECTIONS connections, ${DURATION}s each"
wrk_run /stir/v1/verification "$BENCH_TMP/verify.json" "$CONNECTIONS" 0 "$BENCH_TMP/verify-pipe.txt" "$PIPELINE"
wrk_run /stir/v1/signing "$BENCH_TMP/sign.json" "$CONNECTIONS" 0 "$BENCH_TMP/sign-pipe.txt" "$PIPELINE"

# --- SIPp: signed INVITEs through the redirect server ----------------------------------------------
# SIPp injection fields are separated by ';', which the Identity header contains: the token and
# the x5u go in separately and the scenario writes the parameters around them.
X5U=$(printf '%s' "$IDENTITY" | sed 's/.*;info=<\([^>]*\)>.*/\1/')
printf 'SEQUENTIAL\n%s;%s\n' "${IDENTITY%%;*}" "$X5U" >"$BENCH_TMP/identity.csv"
cat >"$BENCH_TMP/invite.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="signed INVITE, 302, ACK">
  <send retrans="500"><![CDATA[
INVITE sip:+12025550199@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+12025550100@[local_ip]>;tag=[call_number]
To: <sip:+12025550199@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 INVITE
Max-Forwards: 70
Identity: [field0];info=<[field1]>;alg=ES256;ppt=shaken
Content-Length: 0

]]></send>
  <recv response="302"/>
  <send><![CDATA[
ACK sip:+12025550199@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+12025550100@[local_ip]>;tag=[call_number]
To: <sip:+12025550199@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
EOF
say "SIPp: $SIP_CALLS signed INVITEs over UDP, at most 200 at once"
# Every INVITE carries the same PASSporT under a new Call-ID: replay detection would refuse all
# but the first, so this server flags replays (a measured cost) instead of blocking them.
sip_start=$(date +%s.%N)
sip_cpu_before=$(server_cpu_ticks)
# Every SIPp socket on loopback: signalling (-i, -bind_local), control (-ci/-cp), media (-mi/-mp).
( cd "$BENCH_TMP" && timeout 300 sipp "127.0.0.1:$SIP_PORT" -sf invite.xml -inf identity.csv -t u1 \
    -i 127.0.0.1 -bind_local -p $((SIP_PORT + 1)) -ci 127.0.0.1 -cp $((SIP_PORT + 2)) -mi 127.0.0.1 -mp $((SIP_PORT + 3)) \
    -m "$SIP_CALLS" -r 100000 -l 200 -nostdin -timeout 240s -timeout_error -max_recv_loops 10000 \
    -trace_stat -stf "$BENCH_TMP/sipp-stat.csv" >"$BENCH_TMP/sipp.out" 2>&1 ) || true
sip_end=$(date +%s.%N)
sip_cpu=$(calc %.3f "($(server_cpu_ticks) - $sip_cpu_before) / $CLK_TCK")
SIP_OK=$(awk -F';' 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i } NR > 1 && c { v = $c } END { print v + 0 }' "$BENCH_TMP/sipp-stat.csv" 2>/dev/null || echo 0)
SIP_FAILED=$(awk -F';' 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i } NR > 1 && c { v = $c } END { print v + 0 }' "$BENCH_TMP/sipp-stat.csv" 2>/dev/null || echo 0)
SIP_RATE=$(awk -v n="$SIP_OK" -v a="$sip_start" -v b="$sip_end" 'BEGIN { printf "%.0f", n / (b - a) }')
server_hwm=$(vm_hwm "$SERVER_PID")
stop_server

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '\n== call authentication, %s s per phase, %s connections (wrk -t1), %s\n' "$DURATION" "$CONNECTIONS" "$(nproc) cores"
printf 'peer  openssl speed -multi 2 ecdsap256:  sign %s/s  verify %s/s\n' "$OSSL_SIGN" "$OSSL_VERIFY"
printf 'HTTP  POST /stir/v1/verification:       %s/s  p50 %s  p99 %s  non-2xx %s   (%s of openssl verify; target 0.85)\n' \
    "$VERIFY_RPS" "$(field "$BENCH_TMP/verify.txt" p50)" "$(field "$BENCH_TMP/verify.txt" p99)" \
    "$(field "$BENCH_TMP/verify.txt" non2xx || true)" "$(pct "$VERIFY_RPS" "$OSSL_VERIFY")"
per_core_line() { # per_core_line LABEL FILE OPENSSL_TWO_CORE
    printf '      %-34s %s per server CPU-second (server used %s s of CPU; openssl one core %s/s: %s)\n' \
        "$1" "$(field "$2" per_core)" "$(cat "$2.cpu")" "$(calc %.0f "$3 / 2")" "$(pct "$(field "$2" per_core)" "$(calc %.1f "$3 / 2")")"
}
per_core_line "verification" "$BENCH_TMP/verify.txt" "$OSSL_VERIFY"
printf 'HTTP  verification at ~half load:       %s/s  p50 %s  p99 %s   (target p99 < 5 ms)\n' \
    "$(field "$BENCH_TMP/verify-half.txt" rps)" "$(field "$BENCH_TMP/verify-half.txt" p50)" "$(field "$BENCH_TMP/verify-half.txt" p99)"
SIGN_RPS=$(field "$BENCH_TMP/sign.txt" rps)
printf 'HTTP  POST /stir/v1/signing:            %s/s  p50 %s  p99 %s  non-2xx %s   (%s of openssl sign; target 0.70)\n' \
    "$SIGN_RPS" "$(field "$BENCH_TMP/sign.txt" p50)" "$(field "$BENCH_TMP/sign.txt" p99)" \
    "$(field "$BENCH_TMP/sign.txt" non2xx || true)" "$(pct "$SIGN_RPS" "$OSSL_SIGN")"
per_core_line "signing" "$BENCH_TMP/sign.txt" "$OSSL_SIGN"
for kind in verify sign; do
    f="$BENCH_TMP/$kind-pipe.txt"
    [ "$kind" = verify ] && peer=$OSSL_VERIFY target=0.85 || peer=$OSSL_SIGN target=0.70
    printf 'HTTP  %-6s pipelined %3s deep:        %s/s  p50 %s  p99 %s  non-2xx %s   (%s of openssl; target %s)\n' \
        "$kind" "$PIPELINE" "$(field "$f" rps)" "$(field "$f" p50)" "$(field "$f" p99)" "$(field "$f" non2xx || true)" \
        "$(pct "$(field "$f" rps)" "$peer")" "$target"
    per_core_line "$kind, pipelined" "$f" "$peer"
done
printf 'SIP   INVITE -> 302 verified (SIPp UDP): %s calls/s  (%s succeeded, %s failed)   (%s of openssl verify)\n' \
    "$SIP_RATE" "$SIP_OK" "$SIP_FAILED" "$(pct "$SIP_RATE" "$OSSL_VERIFY")"
SIP_PER_CORE=$(calc %.0f "$SIP_OK / $sip_cpu")
printf '      %-34s %s per server CPU-second (server used %s s of CPU; openssl one core %s/s: %s)\n' \
    "SIP INVITE -> 302" "$SIP_PER_CORE" "$sip_cpu" "$(calc %.0f "$OSSL_VERIFY / 2")" "$(pct "$SIP_PER_CORE" "$(calc %.1f "$OSSL_VERIFY / 2")")"
printf 'server peak RSS: %s MiB\n' "$((server_hwm / 1024))"
