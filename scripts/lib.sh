# Shared helpers for the benchmark scripts (sourced, not run). Every process started here is recorded in PIDS and
# killed by pid on exit; nothing else is touched.

PIDS=()
WORK=$(mktemp -d)

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME PATTERN CMD...: runs CMD in the background with stdout in $WORK/NAME.out, waits (bounded) for a line
# matching PATTERN, and sets ADDR to the first address (HOST:PORT) found on it and LAST_PID to its pid.
# Call it directly (not in $(...)), so the pid is recorded for cleanup.
start() {
    local name=$1 pattern=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    for _ in $(seq 1 300); do
        if grep -q "$pattern" "$WORK/$name.out" 2>/dev/null; then
            ADDR=$(grep -m1 "$pattern" "$WORK/$name.out" | grep -oE '[0-9]+(\.[0-9]+){3}:[0-9]+' | head -1)
            return 0
        fi
        if ! kill -0 "$LAST_PID" 2>/dev/null; then
            echo "$name exited early:" >&2
            cat "$WORK/$name.err" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$name did not become ready" >&2
    return 1
}

# The ~70 KB article page built from the seed article: its article paragraphs repeated. Prints the path.
make_article() {
    local seed=../shared/examples/seed-article.html
    [ -f "$seed" ] || { echo "missing $seed (the shared examples must sit beside the checkout)" >&2; return 1; }
    python3 - "$seed" "$WORK/article.html" <<'PY'
import sys
seed = open(sys.argv[1], encoding="utf-8").read()
start = seed.index('<div class="entry-content">')
end = seed.index('</div>', start)
body = seed[start:end]
page = seed
while len(page.encode()) < 70 * 1024:
    page = page.replace(body, body + body[len('<div class="entry-content">'):], 1)
open(sys.argv[2], "w", encoding="utf-8").write(page)
PY
    echo "$WORK/article.html"
}

ensure_wrk() {
    command -v wrk >/dev/null && return 0
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
}
