#!/usr/bin/env bash
# Filter lists (EasyList + EasyPrivacy + uBO privacy, from Debian's webext-ublock-origin-chromium) next to the
# shipped rules, against the shipped rules alone: start-up time, reload time (SIGHUP), memory, and the proxy's CPU
# per request on the ~70 KB article (wrk through strainer; CPU read from /proc for the strainer process only).
# Sends traffic only to loopback; stops only the processes it started.
#
# Usage: scripts/bench-filters.sh   (env: DURATION=10s, CONNS="1 8", STARTS=3, ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DURATION=${DURATION:-10s}
CONNS=${CONNS:-1 8}
STARTS=${STARTS:-3}
ROUNDS=${ROUNDS:-2}
A=/usr/share/chromium/extensions/ublock-origin/assets
LISTS=("$A/thirdparties/easylist/easylist.txt" "$A/thirdparties/easylist/easyprivacy.txt" "$A/ublock/privacy.min.txt")
for list in "${LISTS[@]}"; do
    [ -f "$list" ] || { echo "missing $list (apt-get install -y webext-ublock-origin-chromium)" >&2; exit 1; }
done
ensure_wrk
cargo build --release --quiet --bin strainer --example bench-origin

mkdir -p "$WORK/lists-rules/filters"
cp -r rules/*.toml rules/lists "$WORK/lists-rules/"
ln -s "${LISTS[@]}" "$WORK/lists-rules/filters/"

article=$(make_article)
start origin 'listening on' target/release/examples/bench-origin "$article"
origin=$ADDR
url="http://bench.test:${origin##*:}/article.html"
printf 'wrk.path = "%s"\nwrk.headers["Accept"] = "text/html"\n' "$url" >"$WORK/proxy.lua"
tck=$(getconf CLK_TCK)
echo "machine: $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

echo "== start-up (launch to 'listening on'), $STARTS runs each"
for label in shipped lists; do
    rules=rules
    [ "$label" = lists ] && rules="$WORK/lists-rules"
    for i in $(seq 1 "$STARTS"); do
        t0=$(date +%s%N)
        start "start-$label-$i" 'listening on' target/release/strainer run --listen 127.0.0.1:0 \
            --rules "$rules" --certs "$WORK/certs" --log warn
        t1=$(date +%s%N)
        printf '%-8s run %d: %5d ms, idle RSS %6d KiB\n' "$label" "$i" $(((t1 - t0) / 1000000)) \
            "$(rss_kib "$LAST_PID" VmRSS)"
        kill "$LAST_PID"
        wait "$LAST_PID" 2>/dev/null || true
    done
done
t0=$(date +%s%N)
target/release/strainer check "$WORK/lists-rules" >/dev/null 2>&1
t1=$(date +%s%N)
echo "strainer check with the lists: $(((t1 - t0) / 1000000)) ms"

echo "== reload (SIGHUP) with the lists"
start reload 'listening on' target/release/strainer run --listen 127.0.0.1:0 --rules "$WORK/lists-rules" \
    --certs "$WORK/certs" --log info --log-format json
for i in 1 2 3; do
    kill -HUP "$LAST_PID"
    for _ in $(seq 1 100); do
        [ "$(grep -c '"rules reloaded"' "$WORK/reload.err" || true)" -ge "$i" ] && break
        sleep 0.1
    done
done
grep '"rules reloaded"' "$WORK/reload.err" | grep -oE '"elapsed_ms":[0-9]+' | sed 's/^/reload /'

echo "== the article through strainer: proxy CPU per request ($DURATION per run, $ROUNDS interleaved rounds)"
declare -A PID ADDRS
for label in shipped lists; do
    rules=rules
    [ "$label" = lists ] && rules="$WORK/lists-rules"
    start "proxy-$label" 'listening on' target/release/strainer run --listen 127.0.0.1:0 --rules "$rules" \
        --certs "$WORK/certs" --resolve bench.test=127.0.0.1 --log warn
    PID[$label]=$LAST_PID
    ADDRS[$label]=$ADDR
    bytes=$(curl -s -o /dev/null -w '%{size_download}' --proxy "http://$ADDR" "$url")
    echo "$label: $bytes bytes out per article"
    wrk -t1 -c1 -d2s -s "$WORK/proxy.lua" "http://$ADDR" >/dev/null # warm-up
done
for round in $(seq 1 "$ROUNDS"); do
    for conns in $CONNS; do
        for label in shipped lists; do
            threads=1
            [ "$conns" -gt 1 ] && threads=2
            pid=${PID[$label]}
            before=$(cpu_ticks "$pid")
            out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s "$WORK/proxy.lua" "http://${ADDRS[$label]}")
            after=$(cpu_ticks "$pid")
            requests=$(awk '/requests in/ {print $1}' <<<"$out")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p50=$(awk '$1=="50%" {print $2}' <<<"$out")
            cpu_us=$(awk -v t="$((after - before))" -v n="$requests" -v hz="$tck" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}')
            printf 'round %d %-8s %2s conn: %8s req/s  p50 %8s  proxy CPU %5s us/request\n' \
                "$round" "$label" "$conns" "$rps" "$p50" "$cpu_us"
        done
    done
done
for label in shipped lists; do
    pid=${PID[$label]}
    printf '%-8s peak RSS %d KiB, RSS after %d KiB\n' "$label" "$(rss_kib "$pid" VmHWM)" "$(rss_kib "$pid" VmRSS)"
done
