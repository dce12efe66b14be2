#!/usr/bin/env bash
# PASSporT signing and verification per second on one core, beside `openssl speed ecdsap256`
# on the same core in the same run (the raw ECDSA P-256 limit of this machine).
#
#   benches/shaken.sh [SECONDS]      (default 5 per figure)
#
# vouch's figures are whole Identity headers: signing = canonical JSON + base64url + ES256 +
# header formatting; verification with a cached chain = header parse + PASSporT decode and
# claim checks + freshness + ES256 verify over the received bytes (what the verifier does once
# the x5u chain is validated and cached); uncached = the chain validated again each time too.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECONDS_EACH=${1:-5}
[[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer"
need openssl openssl
need taskset util-linux
cd "$ROOT"
say "building: cargo bench -p vouch-shaken --bench sign_verify --no-run"
cargo bench -p vouch-shaken --bench sign_verify --no-run --quiet 2>/dev/null
bin=$(ls -t target/release/deps/sign_verify-* | grep -v '\.d$' | head -1)
[ -x "$bin" ] || die "no bench binary"

say "vouch on core 0, ${SECONDS_EACH}s per figure"
vouch_out=$(taskset -c 0 "$bin" "$SECONDS_EACH")
say "openssl speed ecdsap256 on core 0, ${SECONDS_EACH}s per figure"
ossl_line=$(taskset -c 0 openssl speed -seconds "$SECONDS_EACH" ecdsap256 2>/dev/null | grep 'nistp256')
ossl_sign=$(echo "$ossl_line" | awk '{ print $(NF-1) }')
ossl_verify=$(echo "$ossl_line" | awk '{ print $NF }')
get() { echo "$vouch_out" | awk -v k="$1" '$1 == k { print $2 }'; }
sign=$(get sign_identity_per_s)
verify=$(get verify_identity_cached_chain_per_s)
uncached=$(get verify_identity_uncached_chain_per_s)
forwarded=$(get verify_forwarded_call_cached_chains_per_s)
forwarded_ratio=$(calc %.2f "$forwarded * 2 / $ossl_verify")
sign_ratio=$(calc %.2f "$sign / $ossl_sign")
verify_ratio=$(calc %.2f "$verify / $ossl_verify")
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "NOT met") }'; }
cat <<OUT

== PASSporT ES256 on one core ($(nproc) CPU(s); $(openssl version | cut -d' ' -f1-2)) ==
                      vouch/s    openssl speed/s   ratio   target
sign (Identity)       $sign      $ossl_sign        $sign_ratio    0.80 ($(verdict "$sign_ratio" 0.80))
verify, cached chain  $verify      $ossl_verify        $verify_ratio    0.85 ($(verdict "$verify_ratio" 0.85))
verify, chain each time $uncached  (3 ECDSA verifications; the lenient lint is kept per certificate)
verify, forwarded call $forwarded     (SHAKEN + div, 2 ECDSA verifications: $forwarded_ratio of openssl's rate for two)
OUT
