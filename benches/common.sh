# Shared by benches/*.sh (sourced, not run): tools, a release server on loopback, registry set-up,
# CSV generation. Callers have `set -euo pipefail` and call `bench_init` first.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VOUCH="$ROOT/target/release/vouch"
BENCH_PIDS=()
SERVER_ARGS=()
BENCH_TMP=""
BENCH_DIRS=()
SERVER_PID=""
SERVER_URL=""
APT_UPDATED=0

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# need COMMAND DEBIAN-PACKAGE: installs the package when the command is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    [ -x "$1" ] && return 0
    [ "$(id -u)" = 0 ] || die "$1 is missing; install the Debian package $2 (apt-get install $2)"
    command -v apt-get >/dev/null 2>&1 || die "$1 is missing and there is no apt-get; install $2"
    if [ "$APT_UPDATED" = 0 ]; then
        say "installing $2 (apt-get update first)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    # A temporary policy-rc.d (exit 101) keeps packages with daemons (nginx) from starting them.
    local rc=/usr/sbin/policy-rc.d ours=0 ok=1
    if [ ! -e "$rc" ]; then printf '#!/bin/sh\nexit 101\n' >"$rc" && chmod 755 "$rc" && ours=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 || ok=0
    if [ "$ours" = 1 ]; then rm -f "$rc"; fi
    [ "$ok" = 1 ] || die "cannot install $2"
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then die "$2 installed but $1 is still missing"; fi
}

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BENCH_PIDS=()
    local d
    for d in "${BENCH_DIRS[@]}"; do
        if [ -d "$d" ]; then rm -rf "$d"; fi
    done
    BENCH_DIRS=()
}

# forget_pid PID: a child that has been reaped; the exit trap must not signal its number again.
forget_pid() {
    local p keep=()
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
}

bench_init() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    need curl curl
    need awk mawk
    need cargo cargo   # a Rust toolchain new enough for the workspace (rustup) is expected
    bench_dir
    BENCH_TMP=$BENCH_DIR
}

# bench_dir: a new temporary directory (mode 700) in BENCH_DIR, removed by the exit trap.
bench_dir() {
    BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vouch-bench.XXXXXX")
    BENCH_DIRS+=("$BENCH_DIR")
}

build_release() {
    # VOUCH_PREBUILT: a release binary built earlier (say, of the commit before a change), run
    # instead of building this tree.
    if [ -n "${VOUCH_PREBUILT:-}" ]; then
        VOUCH=$VOUCH_PREBUILT
        [ -x "$VOUCH" ] || die "VOUCH_PREBUILT=$VOUCH is not an executable"
        return
    fi
    say "building: cargo build --release -p vouch"
    (cd "$ROOT" && cargo build --release -p vouch --quiet)
    [ -x "$VOUCH" ] || die "no $VOUCH after the build"
}

# start_server: a release server on a fresh data dir, on a free loopback port chosen by the OS.
start_server() {
    local dir="$BENCH_TMP/data" log="$BENCH_TMP/server.log"
    mkdir -p "$dir"
    # SERVER_ARGS (an array, optional): more flags for `vouch serve`.
    RUST_LOG=warn "$VOUCH" serve --data-dir "$dir" --http "${SERVER_HTTP:-127.0.0.1:0}" "${SERVER_ARGS[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
    for _ in $(seq $((${START_TIMEOUT:-30} * 10))); do
        SERVER_URL=$(sed -n 's/^vouch: listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$log")
        [ -n "$SERVER_URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
        sleep 0.1
    done
    [ -n "$SERVER_URL" ] || { tail -5 "$log" >&2; die "the server did not start within ${START_TIMEOUT:-30} s"; }
    ADMIN_KEY=$(cat "$dir/admin.key")
    DATA_DIR=$dir
    say "server pid $SERVER_PID at $SERVER_URL, data in $dir"
}

# stop_child PID SIGNAL SECONDS: signals a child of this script, waits for it (bounded), then
# kills it if it is still there.
stop_child() {
    kill "-$2" "$1" 2>/dev/null || true
    local i
    for ((i = 0; i < $3 * 10; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

# stop_server: SIGTERM and wait (bounded); the server checkpoints and removes its WAL.
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    stop_child "$SERVER_PID" TERM 60
    SERVER_PID=""
}

# api METHOD PATH KEY [JSON]: the response body; fails on an HTTP error.
api() {
    local args=(-sS --max-time 30 -X "$1" "$SERVER_URL$2" -H "Authorization: Bearer $3")
    [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' -d "$4")
    local out
    out=$(curl "${args[@]}" -w '\n%{http_code}') || die "curl $1 $2 failed"
    local code=${out##*$'\n'}
    out=${out%$'\n'*}
    case "$code" in 2??) printf '%s' "$out" ;; *) die "$1 $2: HTTP $code: $out" ;; esac
}

# json_str KEY: the first string value of "KEY" in the JSON on stdin (flat enough for our answers).
json_str() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed 's/.*:"\(.*\)"/\1/'; }

# setup_campaigns N: one CSP, one DCA, one brand and N campaigns shared to and accepted by the
# DCA. Sets CSP_ID, CSP_KEY, DCA_ID, DCA_KEY and CAMPAIGN_IDS (array).
setup_campaigns() {
    local n=$1 csp csp_key dca brand camp c i
    csp=$(api POST /v1/providers "$ADMIN_KEY" '{"legalName":"Acme Messaging Inc","roles":["csp"]}')
    csp_key=$(json_str apiKey <<<"$csp")
    CSP_ID=$(json_str providerId <<<"$csp")
    CSP_KEY=$csp_key
    dca=$(api POST /v1/providers "$ADMIN_KEY" '{"legalName":"Carrier Connect LLC","roles":["dca"],"frn":"0012345678"}')
    DCA_ID=$(json_str providerId <<<"$dca")
    DCA_KEY=$(json_str apiKey <<<"$dca")
    brand=$(api POST /v1/brands "$csp_key" '{"entityType":"PRIVATE_PROFIT","displayName":"Acme Dental","companyName":"Acme Dental Group LLC","ein":"46-4123456","country":"US","state":"CA","city":"San Francisco","street":"1 Main St","postalCode":"94105","email":"ops@acmedental.com","website":"https://acmedental.com","vertical":"HEALTHCARE","phone":"+14155550100"}')
    brand=$(json_str brandId <<<"$brand")
    CAMPAIGN_IDS=()
    for i in $(seq "$n"); do
        camp=$(api POST /v1/campaigns "$csp_key" '{"brandId":"'"$brand"'","usecase":"MARKETING","description":"Appointment reminders and monthly offers for Acme Dental patients, list '"$i"'.","messageFlow":"Patients tick an unticked SMS consent box on the booking form at acmedental.com/book.","sample1":"Acme Dental: 20% off whitening this month. Reply STOP to opt out.","sample2":"Acme Dental: your cleaning is due, book online. Reply STOP to opt out.","subscriberOptin":true,"subscriberOptout":true,"subscriberHelp":true,"optoutKeywords":"STOP,QUIT","helpKeywords":"HELP","optoutMessage":"Acme Dental: you are unsubscribed and will get no more messages.","helpMessage":"Acme Dental: help at support@acmedental.com or +14155550100."}')
        c=$(json_str campaignId <<<"$camp")
        api PUT "/v1/campaigns/$c/sharing/$DCA_ID" "$csp_key" >/dev/null
        api POST "/v1/campaigns/$c/sharing/$DCA_ID/accept" "$DCA_KEY" >/dev/null
        CAMPAIGN_IDS+=("$c")
    done
    say "set up DCA $DCA_ID and ${#CAMPAIGN_IDS[@]} accepted campaign(s)"
}

# gen_csv FILE ROWS SEED: ROWS distinct pseudo-random 10DLC numbers +1NPANXXXXXX (an area code
# that is not N11 or toll-free: 785 of them; any exchange from 200), row i going to campaign
# i mod N (round robin over CAMPAIGN_IDS), carried by DCA_ID; no header. Row i's number is a
# keyed 4-round Feistel permutation of i over [0, 80000^2), walked again while it falls past
# 785*800*10000 (cycle walking keeps it a permutation of that smaller range), so numbers never
# repeat. Two awk processes write the two halves.
gen_csv() {
    local file=$1 rows=$2 seed=$3 half=$(($2 / 2))
    local prog='
function F(r, k) { return ((r * 92821 + k) % 2147483647 * 48271 + r) % 80000 }
function P(x,    L, R, j, t) {
    L = int(x / H); R = x % H
    for (j = 0; j < 4; j++) { t = R; R = (L + F(R, K[j])) % H; L = t }
    return L * H + R
}
BEGIN {
    H = 80000; nc = split(camps, camp, " ")
    split("800 833 844 855 866 877 888", tf, " "); for (j in tf) tollfree[tf[j]] = 1
    na = 0; for (p = 200; p < 1000; p++) if (p % 100 != 11 && !(p in tollfree)) npa[na++] = p
    limit = na * 800 * 10000
    srand(seed); for (j = 0; j < 4; j++) K[j] = int(rand() * 1000000007)
    for (i = from; i < to; i++) {
        x = P(i); while (x >= limit) x = P(x)
        s = x % 10000; y = int(x / 10000); e = y % 800; a = int(y / 800)
        printf "+1%d%d%04d,%s,%s\n", npa[a], 200 + e, s, camp[i % nc + 1], dca
    }
}'
    awk -v from=0 -v to="$half" -v seed="$seed" -v camps="${CAMPAIGN_IDS[*]}" -v dca="$DCA_ID" "$prog" >"$file.a" &
    local p1=$!
    awk -v from="$half" -v to="$rows" -v seed="$seed" -v camps="${CAMPAIGN_IDS[*]}" -v dca="$DCA_ID" "$prog" >"$file.b" &
    local p2=$!
    wait "$p1" && wait "$p2" || die "CSV generation failed"
    cat "$file.a" "$file.b" >"$file" && rm -f "$file.a" "$file.b"
}

now() { date +%s.%N; }
# calc FORMAT EXPR: floating-point arithmetic through awk, printed with a printf FORMAT.
calc() { awk "BEGIN { printf \"$1\", $2 }" </dev/null; }

# vm_hwm PID: peak resident set size in KiB.
# server_cpu_ticks: user + system clock ticks the server process has used so far (CLK_TCK per second).
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)

vm_hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
