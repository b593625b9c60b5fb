#!/usr/bin/env bash
# Scale-out demo: strainer behind HAProxy (TCP mode, PROXY protocol v2, deploy/haproxy/haproxy.cfg), on loopback.
#
#   scripts/scale-out-demo.sh          runs the scale-out test (two instances behind HAProxy; load through HAProxy;
#                                      one instance SIGTERMed and restarted, the other SIGKILLed and restarted) in
#                                      release mode and prints its figures: requests, failures per phase, the
#                                      detection window.
#   scripts/scale-out-demo.sh --bench  throughput through HAProxy with two instances, then with one, measured by
#                                      the bench harness (../shared/bench/run.sh custom), the same workload for both;
#                                      BENCH_ARGS (default --reps 2) is passed to the harness.
#
# Needs haproxy (Debian: apt-get install -y haproxy; installed here when missing). Sends traffic only to loopback
# and stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; }

if [[ "${1:-}" != "--bench" ]]; then
    cargo test --release --test scale_out -- --nocapture 2>&1 | grep -E '^(scale-out|  failure|test result)'
    exit "${PIPESTATUS[0]}"
fi

BENCH=../shared/bench/run.sh
test -x "$BENCH" || { echo "missing $BENCH (the bench harness beside the checkout)" >&2; exit 1; }
source scripts/lib.sh
cargo build --release --quiet
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LB=$(free_port); P1=$(free_port); P2=$(free_port)
cat >"$WORK/strainer.toml" <<TOML
proxy_protocol_from = ["127.0.0.1"]
rules = "$PWD/rules"
certs = "$WORK/certs"
log = "warn"
TOML
for port in "$P1" "$P2"; do
    start "strainer-$port" "strainer listening" ./target/release/strainer run --config "$WORK/strainer.toml" \
        --listen "127.0.0.1:$port"
done
haproxy_config() { # $1: 1 or 2 instances
    sed -e "s/bind 127.0.0.1:3128/bind 127.0.0.1:$LB/" -e "s/server s1 127.0.0.1:8081/server s1 127.0.0.1:$P1/" \
        -e "s/server s2 127.0.0.1:8082/server s2 127.0.0.1:$P2/" deploy/haproxy/haproxy.cfg >"$WORK/haproxy.cfg"
    if [[ "$1" == 1 ]]; then sed -i '/server s2 /d' "$WORK/haproxy.cfg"; fi
}
for instances in 2 1; do
    haproxy_config "$instances"
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy-$instances.log" 2>&1 &
    HAPROXY=$!
    PIDS+=("$HAPROXY")
    sleep 2
    echo "=== through HAProxy, $instances instance(s)"
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
    "$BENCH" --install ${BENCH_ARGS:---reps 2} --label "haproxy-$instances-instances" custom "127.0.0.1:$LB" \
        | tee "$WORK/bench-$instances.md"
    kill "$HAPROXY"; wait "$HAPROXY" 2>/dev/null || true
done
