#!/usr/bin/env bash
# make startup-order: writes Deploy/startup.order, the order in which lld lays out the shipped executables'
# functions (Package.swift, `shippedLinking`). Builds the release executables, starts the system with
# scripts/pagetrace.c preloaded into the six services (it notes each jump into another page of code), lets it
# idle, drives a few seconds of checkouts, and lists the functions that ran, earliest first
# (scripts/startup_order.py). The tracer misses a call within one page, so each further pass relinks by the
# list so far and traces again, adding what it finds (PASSES, 2). Run it again after large changes: a
# function it does not list is placed after the listed ones, which costs memory, never correctness.
# BIN=folder: one pass over those executables instead, written to OUT_FILE (default Deploy/startup.order) and
# merged with PREVIOUS (the list they were linked by).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=${BASE_PORT:-18380}
OUT=Deploy/startup.order
if [[ -n ${BIN:-} ]]; then OUT=${OUT_FILE:-$OUT}; fi
PASSES=${PASSES:-2}
work=$(mktemp -d)
runner=
trap 'if [[ -n $runner ]]; then kill -TERM $runner 2>/dev/null; wait $runner 2>/dev/null || true; fi; rm -rf "$work"' EXIT
gcc -O2 -shared -fPIC -o "$work/pagetrace.so" scripts/pagetrace.c -lpthread

# One pass: starts the system from $1 with the tracer, idles, drives checkouts, and writes $OUT merged with $2.
trace() {
    local bin=$1 previous=$2
    rm -rf "$work/pages" "$work/data"
    mkdir -p "$work/pages" "$work/data"
    LD_PRELOAD=$work/pagetrace.so PAGE_TRACE_BIN=$bin/ PAGE_TRACE_DIR=$work/pages SWIFT_BACKTRACE=enable=no \
        BIN=$bin DATA_DIR=$work/data BASE_PORT=$BASE_PORT LOG_LEVEL=warning RATE_LIMITS=off scripts/run.sh >"$work/run.log" 2>&1 &
    runner=$!
    for _ in $(seq 1 600); do
        grep -q "SagaMart is running" "$work/run.log" && break
        kill -0 $runner 2>/dev/null || { cat "$work/run.log"; exit 1; }
        sleep 0.5
    done
    local gateway=http://127.0.0.1:$BASE_PORT
    sleep 3
    curl -sf -o /dev/null -X POST "$gateway/v1/products" -H "Authorization: Bearer admin-dev-key" -H 'Content-Type: application/json' \
        -d '{"sku":"ORDER-001","name":"Start-up trace item","priceCents":100,"currency":"EUR","stock":100000}'
    "$bin/load" --sku ORDER-001 --gateway "$gateway" --concurrency 4 --duration 5 --key alice-dev-key --no-progress >/dev/null
    sleep 2
    kill -TERM $runner
    wait $runner 2>/dev/null || true
    runner=
    python3 scripts/startup_order.py "$work/pages" "$OUT" "$previous"
}

if [[ -n ${BIN:-} ]]; then
    # A given build, one pass, merged with the list it was laid out by (PREVIOUS).
    trace "$BIN" "${PREVIOUS:-Deploy/startup.order}"
    exit 0
fi
: >"$work/none"
trace "$(scripts/build-release.sh)" "$work/none"
for ((pass = 2; pass <= PASSES; pass++)); do
    cp "$OUT" "$work/previous"
    # scripts/build-release.sh relinks when Deploy/startup.order is newer than the executables.
    trace "$(scripts/build-release.sh)" "$work/previous"
done
