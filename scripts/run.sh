#!/usr/bin/env bash
# make run: builds and starts the six services on SQLite under $DATA_DIR (default ./data), seeds a demo
# catalog, prints the gateway URL and the development keys, and stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${DATA_DIR:-./data}
CONFIGURATION=${CONFIGURATION:-debug}
BASE_PORT=${BASE_PORT:-8080}
mkdir -p "$DATA_DIR/logs"
DATA_DIR=$(cd "$DATA_DIR" && pwd)

# BIN: a folder with the built executables (the tests pass theirs); otherwise they are built here.
if [[ -z ${BIN:-} ]]; then
    echo "building ($CONFIGURATION)..."
    if [[ $CONFIGURATION == release ]]; then
        # As the image builds (scripts/build-release.sh).
        BIN=$(scripts/build-release.sh 2>"$DATA_DIR/logs/build.log") || { tail -50 "$DATA_DIR/logs/build.log"; exit 1; }
    else
        swift build -c "$CONFIGURATION" >"$DATA_DIR/logs/build.log" 2>&1 || { tail -50 "$DATA_DIR/logs/build.log"; exit 1; }
        BIN=$(swift build -c "$CONFIGURATION" --show-bin-path)
    fi
fi

# Development defaults only: docker-compose and production take these from their environment. The
# development values are refused outside SAGAMART_ENV=development, and everything listens on loopback
# only, so no other host can use them.
export SAGAMART_ENV=${SAGAMART_ENV:-development}
export HOST=${HOST:-127.0.0.1}
export ADMIN_API_KEY=${ADMIN_API_KEY:-admin-dev-key}
export CUSTOMER_API_KEYS=${CUSTOMER_API_KEYS:-alice:alice-dev-key,bob:bob-dev-key}
export LOG_LEVEL=${LOG_LEVEL:-info}
# glibc's per-thread cache of freed blocks, 1,000 per size class instead of 7: the services' threads hand
# buffers to each other (event loops, database threads), and with 7 most frees and allocations fell through
# to the locked arena. The same setting as the image's (Deploy/Dockerfile); scripts/validate_deploy.py
# checks that they agree.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.tcache_count=1000}
# One event loop per service, not one per core: the six share this machine's cores, and with a loop per core
# each a request woke a second loop thread as often as not (make bench-checkout on two cores: 5.4 ms of CPU
# per checkout with one loop each, 5.8-6.1 with two; 51-54 context switches per checkout against 60). One
# loop serves about 48,000 requests/s (make bench-http), far above what a service here is asked.
export EVENT_LOOPS=${EVENT_LOOPS:-1}
export INVENTORY_URL=http://127.0.0.1:$((BASE_PORT + 1)) ORDER_URL=http://127.0.0.1:$((BASE_PORT + 2))
export PAYMENT_URL=http://127.0.0.1:$((BASE_PORT + 3)) SHIPPING_URL=http://127.0.0.1:$((BASE_PORT + 4))
export SAGA_URL=http://127.0.0.1:$((BASE_PORT + 5))

services=(gateway inventory order payment shipping saga)
# ORDER_SHARDS=N: the order service on N SQLite files (order-0.db ... order-{N-1}.db); a list of URLs is
# passed on as it is.
if [[ ${ORDER_SHARDS:-} =~ ^[0-9]+$ ]]; then
    (( ORDER_SHARDS >= 1 && ORDER_SHARDS <= 64 )) || { echo "ORDER_SHARDS must be 1 to 64" >&2; exit 2; }
    ORDER_SHARDS=$(for ((i = 0; i < ORDER_SHARDS; i++)); do printf 'sqlite://%s/order-%d.db,' "$DATA_DIR" "$i"; done | sed 's/,$//')
fi
if [[ -n ${ORDER_SHARDS:-} ]]; then export ORDER_SHARDS; fi
# The layout for the operators' commands (make backup, make restore, make audit), which load this file.
{
    printf 'BACKUP_SERVICES=%s\n' "$(for i in "${!services[@]}"; do
        if [[ ${services[$i]} == order && -n ${ORDER_SHARDS:-} ]]; then
            IFS=, read -ra shard_urls <<<"$ORDER_SHARDS"
            for s in "${!shard_urls[@]}"; do printf 'order-%d=%s,' "$s" "${shard_urls[$s]}"; done
        else
            printf '%s=sqlite://%s/%s.db,' "${services[$i]}" "$DATA_DIR" "${services[$i]}"
        fi
    done | sed 's/,$//')"
    printf 'SERVICE_PORTS=%s\n' "$(seq -s, "$BASE_PORT" $((BASE_PORT + 5)))"
    printf 'RECONCILE_MARKER=%s\n' "$DATA_DIR/RECONCILE_PENDING"
    if [[ -n ${ORDER_SHARDS:-} ]]; then printf 'ORDER_SHARDS=%s\n' "$ORDER_SHARDS"; fi
    # make audit signs as the auditor: the development key pair under SAGAMART_ENV=development.
    printf 'SAGAMART_ENV=%q\n' "$SAGAMART_ENV"
    for name in INVENTORY ORDER PAYMENT SHIPPING SAGA; do printf '%s_URL=%s\n' "$name" "$(printenv ${name}_URL)"; done
} >"$DATA_DIR/ops.env"
rm -f "$DATA_DIR/pids"
pids=()
stop() {
    echo
    echo "stopping..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

# TLS=1: the TLS edge in front of the gateway, which then takes X-Forwarded-For from loopback.
if [[ ${TLS:-0} == 1 ]]; then export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}; fi
for index in "${!services[@]}"; do
    name=${services[$index]}
    PORT=$((BASE_PORT + index)) DATABASE_URL="sqlite://$DATA_DIR/$name.db" "$BIN/$name" >>"$DATA_DIR/logs/$name.log" 2>&1 &
    pids+=($!)
    echo "$name $!" >>"$DATA_DIR/pids"
done

for index in "${!services[@]}"; do
    name=${services[$index]}
    port=$((BASE_PORT + index))
    ready=no
    for _ in $(seq 1 300); do
        if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=yes; break; fi
        if ! kill -0 "${pids[$index]}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    printf "  %-10s http://127.0.0.1:%-5s %s\n" "$name" "$port" "$([[ $ready == yes ]] && echo ready || echo "NOT READY (see $DATA_DIR/logs/$name.log)")"
    [[ $ready == yes ]] || exit 1
done

# After make restore: bring the services back to one consistent state, and report what the restore lost.
if [[ -f $DATA_DIR/RECONCILE_PENDING ]]; then
    report="$DATA_DIR/restore-$(date -u +%Y%m%dT%H%M%SZ).json"
    mv "$DATA_DIR/RECONCILE_PENDING" "$report"
    echo "reconciling after the restore ($report):"
    "$BIN/audit" reconcile --acknowledged "$report" | sed 's/^/  /' || echo "  the reconciliation left violations: see make audit" >&2
fi

GATEWAY=http://127.0.0.1:$BASE_PORT
if [[ ${TLS:-0} == 1 ]]; then
    # The same nginx template docker-compose runs, from Debian's package, with a development certificate.
    HTTPS_PORT=${HTTPS_PORT:-8443} EDGE_HTTP_PORT=${EDGE_HTTP_PORT:-8000}
    scripts/dev-cert.sh "$DATA_DIR/tls"
    scripts/edge.sh "$DATA_DIR/edge" "127.0.0.1:$BASE_PORT" "$HTTPS_PORT" "$EDGE_HTTP_PORT" "$DATA_DIR/tls" >>"$DATA_DIR/logs/edge.log" 2>&1 &
    pids+=($!)
    echo "edge $!" >>"$DATA_DIR/pids"
    for _ in $(seq 1 100); do
        curl -sf --cacert "$DATA_DIR/tls/dev-ca.pem" "https://localhost:$HTTPS_PORT/health/live" >/dev/null 2>&1 && break
        sleep 0.1
    done
    printf "  %-10s https://localhost:%-5s ready (trust %s)\n" edge "$HTTPS_PORT" "$DATA_DIR/tls/dev-ca.pem"
fi
seed() {
    curl -s -o /dev/null -X POST "$GATEWAY/v1/products" -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json' -d "$1"
}
seed '{"sku":"MUG-001","name":"SagaMart mug","priceCents":1200,"currency":"EUR","stock":100}'
seed '{"sku":"TEE-001","name":"SagaMart T-shirt","priceCents":2500,"currency":"EUR","stock":50}'
seed '{"sku":"STICKER-001","name":"Sticker pack","priceCents":300,"currency":"EUR","stock":1000}'
seed '{"sku":"LAMP-001","name":"Desk lamp (last one)","priceCents":4900,"currency":"EUR","stock":1}'

cat <<TEXT

SagaMart is running. Gateway: $GATEWAY
  admin key:    $ADMIN_API_KEY
  customer keys: alice -> alice-dev-key, bob -> bob-dev-key   (CUSTOMER_API_KEYS)
  data and logs: $DATA_DIR
Try:  curl -s $GATEWAY/v1/products -H 'Authorization: Bearer alice-dev-key'
Ctrl-C stops every service.
TEXT
if [[ ${TLS:-0} == 1 ]]; then
    echo "Over TLS: curl -s --cacert $DATA_DIR/tls/dev-ca.pem https://localhost:$HTTPS_PORT/v1/products -H 'Authorization: Bearer alice-dev-key'"
fi
wait -n "${pids[@]}" || true
echo "a service exited; see $DATA_DIR/logs" >&2
