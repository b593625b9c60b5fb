#!/usr/bin/env bash
# End-to-end throughput and latency: wrk straight to an origin, and through strainer with no rules, with the link
# rules alone (the engine engaged with its cheapest real rules) and with the shipped rules, at 32 connections and
# at 1 connection. The origin (examples/bench-origin.rs) serves a ~70 KB
# article page built from the seed article. Prints req/s and latency percentiles per case.
#
# Usage: scripts/bench-e2e.sh   (env: DURATION=10s, RULES=rules)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DURATION=${DURATION:-10s}
RULES=${RULES:-rules}
ensure_wrk
cargo build --release --quiet --bin strainer --example bench-origin

article=$(make_article)
start origin 'listening on' target/release/examples/bench-origin "$article"
origin=$ADDR
mkdir -p "$WORK/no-rules" "$WORK/link-rules"
cp -r "$RULES/links.toml" "$RULES/lists" "$WORK/link-rules/"
start strainer-plain 'listening on' target/release/strainer run --listen 127.0.0.1:0 \
    --rules "$WORK/no-rules" --certs "$WORK/certs" --resolve bench.test=127.0.0.1 --log warn
plain=$ADDR
start strainer-rules 'listening on' target/release/strainer run --listen 127.0.0.1:0 \
    --rules "$RULES" --certs "$WORK/certs" --resolve bench.test=127.0.0.1 --log warn
shipped=$ADDR
start strainer-links 'listening on' target/release/strainer run --listen 127.0.0.1:0 \
    --rules "$WORK/link-rules" --certs "$WORK/certs" --resolve bench.test=127.0.0.1 --log warn
links=$ADDR
url="http://bench.test:${origin##*:}/article.html"
printf 'wrk.path = "%s"\nwrk.headers["Accept"] = "text/html"\n' "$url" >"$WORK/proxy.lua"

size=$(curl -s -o /dev/null -w '%{size_download}' "http://$origin/article.html")
through=$(curl -s -o /dev/null -w '%{size_download}' --proxy "http://$shipped" "$url")
echo "machine: $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "page: $size bytes from the origin, $through bytes through strainer with $RULES"

run() {
    local label=$1 conns=$2 threads=$3
    shift 3
    local out
    out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$@")
    local rps p50 p90 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p90=$(awk '$1=="90%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "warning: $label saw non-2xx answers: $(grep 'Non-2xx' <<<"$out")" >&2
    fi
    printf '%-26s %4s conn  %10s req/s   p50 %8s  p90 %8s  p99 %8s\n' "$label" "$conns" "$rps" "$p50" "$p90" "$p99"
}

for conns in 32 1; do
    threads=2
    [ "$conns" = 1 ] && threads=1
    run "direct" "$conns" "$threads" "http://$origin/article.html"
    run "strainer, no rules" "$conns" "$threads" -s "$WORK/proxy.lua" "http://$plain"
    run "strainer, link rules only" "$conns" "$threads" -s "$WORK/proxy.lua" "http://$links"
    run "strainer, shipped rules" "$conns" "$threads" -s "$WORK/proxy.lua" "http://$shipped"
done
