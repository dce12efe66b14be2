#!/usr/bin/env bash
# Public lookup benchmark: wrk (HTTP/1.1 keep-alive) asks a release server `GET /v1/numbers/{n}`
# for random loaded numbers; in the same run, the same wrk settings against nginx serving a
# static JSON file of the same size as one answer (the peer).
#
#   benches/http-lookup.sh [SECONDS]      (default 10, at most 300, per target)
#
# Environment: NUMBERS (numbers loaded, default 1,000,000), THREADS (wrk -t, default 2),
# CONNECTIONS (wrk -c, default 64).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION=${1:-10}
NUMBERS=${NUMBERS:-1000000}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] && [ "$DURATION" -le 300 ] || die "SECONDS must be 1 to 300"
[[ "$NUMBERS" =~ ^[1-9][0-9]*$ ]] && [ "$NUMBERS" -le 10000000 ] || die "NUMBERS must be 1 to 10,000,000"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] && [[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "bad THREADS or CONNECTIONS"
[ "$CONNECTIONS" -ge "$THREADS" ] && [ "$CONNECTIONS" -le 1000 ] || die "CONNECTIONS must be THREADS to 1000"

bench_init
need wrk wrk
need nginx nginx-light
build_release
start_server
setup_campaigns 1

# --- load numbers through the import path ---------------------------------------------------------
CSV="$BENCH_TMP/numbers.csv"
gen_csv "$CSV" "$NUMBERS" 7
say "loading $NUMBERS numbers with vouch import numbers"
"$VOUCH" import numbers "$CSV" --server "$SERVER_URL" --api-key "$DCA_KEY" >"$BENCH_TMP/import.out"
held=$(curl -sS --max-time 10 "$SERVER_URL/healthz" | grep -o '"numbers":[0-9]*' | cut -d: -f2)
[ "$held" = "$NUMBERS" ] || die "the server holds $held numbers, expected $NUMBERS"
cut -d, -f1 "$CSV" >"$BENCH_TMP/numbers.txt"
rm -f "$CSV"

# One real answer: its bytes are the peer's static file, in a directory nginx's workers (which
# drop root) can read.
bench_dir
WEB=$BENCH_DIR
chmod 755 "$WEB"
sample=$(head -1 "$BENCH_TMP/numbers.txt")
curl -sS --max-time 10 -o "$WEB/answer.json" -w '%{http_code}' "$SERVER_URL/v1/numbers/$sample" >"$BENCH_TMP/code"
[ "$(cat "$BENCH_TMP/code")" = 200 ] || die "GET /v1/numbers/$sample: HTTP $(cat "$BENCH_TMP/code")"
chmod 644 "$WEB/answer.json"
ANSWER_BYTES=$(stat -c %s "$WEB/answer.json")

# --- the peer: nginx with its own configuration, in the foreground, on another loopback port -----
NGX="$BENCH_TMP/nginx"
mkdir -p "$NGX/logs" "$NGX/tmp"
start_nginx() {
    local port=$1
    cat >"$NGX/nginx.conf" <<EOF
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$port;
        root $WEB;
        default_type application/json;
        location /v1/numbers/ { try_files /answer.json =404; }
    }
}
EOF
    nginx -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' 2>"$NGX/logs/stderr.log" &
    NGINX_PID=$!
    BENCH_PIDS+=("$NGINX_PID")
    for _ in $(seq 50); do
        if curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$port/v1/numbers/$sample"; then return 0; fi
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            wait "$NGINX_PID" 2>/dev/null || true
            forget_pid "$NGINX_PID"
            return 1
        fi
        sleep 0.1
    done
    stop_child "$NGINX_PID" QUIT 10
    return 1
}
NGINX_PORT=""
for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    # A port something already answers on is not free.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    if start_nginx "$port"; then NGINX_PORT=$port; break; fi
done
[ -n "$NGINX_PORT" ] || { cat "$NGX/logs/stderr.log" "$NGX/logs/error.log" >&2 2>/dev/null || true; die "nginx did not start"; }
PEER_BYTES=$(curl -sS --max-time 5 "http://127.0.0.1:$NGINX_PORT/v1/numbers/$sample" | wc -c)
[ "$PEER_BYTES" = "$ANSWER_BYTES" ] || die "nginx answers $PEER_BYTES bytes, vouch $ANSWER_BYTES"

# --- wrk ------------------------------------------------------------------------------------------
cat >"$BENCH_TMP/lookup.lua" <<'EOF'
-- GET /v1/numbers/{n} for a number drawn at random from the loaded ones.
local numbers = {}
function init(args)
    for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
    return wrk.format("GET", "/v1/numbers/" .. numbers[math.random(#numbers)])
end
EOF
run_wrk() {
    NUMBERS_FILE="$BENCH_TMP/numbers.txt" timeout $((DURATION + 60)) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 2s --latency -s "$BENCH_TMP/lookup.lua" "$1" >"$2"
}
# wrk_field FILE WHAT: requests/s, p50, p99 and errors from wrk's report.
wrk_field() {
    case "$2" in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
        p50) awk '$1 == "50%" { print $2 }' "$1" ;;
        p99) awk '$1 == "99%" { print $2 }' "$1" ;;
        requests) awk '/requests in/ { print $1 }' "$1" ;;
        non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF } END { }' "$1" | tail -1 ;;
        errors) grep -E '^ *Socket errors:' "$1" | sed 's/^ *//' || true ;;
    esac
}
say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s against vouch"
run_wrk "$SERVER_URL" "$BENCH_TMP/wrk-vouch.txt"
say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s against nginx"
run_wrk "http://127.0.0.1:$NGINX_PORT" "$BENCH_TMP/wrk-nginx.txt"
server_hwm=$(vm_hwm "$SERVER_PID")
stop_server
stop_child "$NGINX_PID" QUIT 10

report() {
    local f=$1
    printf 'requests/s:           %s\n' "$(wrk_field "$f" rps)"
    printf 'latency p50 / p99:    %s / %s\n' "$(wrk_field "$f" p50)" "$(wrk_field "$f" p99)"
    printf 'requests:             %s in %s s, non-2xx: %s%s\n' "$(wrk_field "$f" requests)" "$DURATION" \
        "$(wrk_field "$f" non2xx | grep . || echo 0)" "$(e=$(wrk_field "$f" errors); [ -n "$e" ] && echo ", $e")"
}
vouch_rps=$(wrk_field "$BENCH_TMP/wrk-vouch.txt" rps)
nginx_rps=$(wrk_field "$BENCH_TMP/wrk-nginx.txt" rps)
cat <<EOF

== vouch GET /v1/numbers/{n}: $NUMBERS numbers loaded, random loaded number per request ==
wrk:                  -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, HTTP/1.1 keep-alive, 127.0.0.1
answer:               $ANSWER_BYTES bytes, e.g. $(cat "$WEB/answer.json")
$(report "$BENCH_TMP/wrk-vouch.txt")
server peak RSS:      $(calc %.1f "$server_hwm / 1024") MiB (VmHWM)
== peer in the same run: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') serving a static $PEER_BYTES-byte JSON file, same wrk settings ==
$(report "$BENCH_TMP/wrk-nginx.txt")
vouch / nginx:        $(calc %.2f "${vouch_rps:-0} / ${nginx_rps:-1}")
note:                 wrk runs on the same $(nproc) CPU(s) as the server it measures (and as nginx)
EOF
