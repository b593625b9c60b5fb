#!/usr/bin/env bash
# Peak memory of strainer while a 200 MB HTML page streams through it (rewritten with the shipped rules): the
# peak RSS (VmHWM) must stay near the idle footprint, since memory per response is bounded by configuration.
#
# Usage: scripts/rss-200mb.sh   (env: MB=200, RULES=rules)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MB=${MB:-200}
RULES=${RULES:-rules}
cargo build --release --quiet --bin strainer --example bench-origin

start origin 'listening on' target/release/examples/bench-origin --html-mb "$MB"
origin=$ADDR
start strainer 'listening on' target/release/strainer run --listen 127.0.0.1:0 \
    --rules "$RULES" --certs "$WORK/certs" --resolve bench.test=127.0.0.1 --log warn
proxy=$ADDR
strainer_pid=$LAST_PID
hwm() { awk '/VmHWM/ {print $2}' "/proc/$strainer_pid/status"; }

idle=$(hwm)
start=$(date +%s.%N)
bytes=$(curl -s -o /dev/null -w '%{size_download}' -H 'Accept: text/html' --proxy "http://$proxy" \
    "http://bench.test:${origin##*:}/long.html")
end=$(date +%s.%N)
peak=$(hwm)
echo "streamed $bytes bytes of a ${MB} MB HTML page through strainer ($RULES) in $(echo "$end - $start" | bc) s"
echo "strainer peak RSS: idle ${idle} kB, after the page ${peak} kB"
