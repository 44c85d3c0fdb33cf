#!/usr/bin/env bash
# make bench-backup: the system on SQLite (release build, synchronous=FULL) filled with ORDERS orders (100000), then
#  - checkouts/s for DURATION seconds (20) with no backup, then while backups of every service run back to
#    back (the target: at most 20 % lower);
#  - the time and size of a backup set with that many orders, its restore, and the time until the restarted
#    system (which reconciles first) is ready again.
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-20}
ORDERS=${ORDERS:-100000}
BASE_PORT=${BASE_PORT:-18280}
DATA_DIR=$(mktemp -d)
export DATA_DIR BASE_PORT CONFIGURATION=release LOG_LEVEL=warning
BIN=$(scripts/build-release.sh 2>/dev/null)
runner=
start() {
    scripts/run.sh >"$DATA_DIR/run.log" 2>&1 &
    runner=$!
    for _ in $(seq 1 2400); do
        grep -q "SagaMart is running" "$DATA_DIR/run.log" 2>/dev/null && return 0
        if ! kill -0 $runner 2>/dev/null; then cat "$DATA_DIR/run.log"; exit 1; fi
        sleep 0.1
    done
    echo "the system did not start" >&2
    exit 1
}
stop() {
    [[ -n $runner ]] && kill -TERM $runner 2>/dev/null && wait $runner 2>/dev/null || true
    runner=
}
trap 'status=$?; stop; rm -rf "$DATA_DIR"; exit $status' EXIT
start
GATEWAY=http://127.0.0.1:$BASE_PORT
STOCK=100000000
curl -sf -o /dev/null -X POST "$GATEWAY/v1/products" -H "Authorization: Bearer admin-dev-key" -H 'Content-Type: application/json' \
    -d "{\"sku\":\"BENCH-001\",\"name\":\"Benchmark item\",\"priceCents\":100,\"currency\":\"EUR\",\"stock\":$STOCK}"
sold() { curl -s "$GATEWAY/v1/products/BENCH-001" -H "Authorization: Bearer admin-dev-key" | python3 -c "import json,sys; print($STOCK - json.load(sys.stdin)['available'])"; }
bench() { "$BIN/load" --no-progress --sku BENCH-001 --gateway "$GATEWAY" --concurrency "$CONCURRENCY" --duration "$1" | grep -E "checkouts/s|latency|errors" | sed 's/^/    /'; }
set -a; . "$DATA_DIR/ops.env"; set +a

echo "backup benchmark: $CONCURRENCY clients through $GATEWAY ($(nproc) cores, SQLite, synchronous=FULL)"
echo "  filling up to $ORDERS orders..."
while (( $(sold) < ORDERS )); do "$BIN/load" --no-progress --sku BENCH-001 --gateway "$GATEWAY" --concurrency "$CONCURRENCY" --duration 30 >/dev/null; done
echo "  $(sold) orders; database files (kB): $(for s in gateway inventory order payment shipping saga; do printf '%s %s  ' $s $(( $(stat -c %s "$DATA_DIR/$s.db") / 1024 )); done)"
echo "  no backup running:"
bench "$DURATION"
echo "  backups of every service running back to back (the backup at nice 19):"
(n=0; while [[ ! -f $DATA_DIR/stop-backups ]]; do n=$((n + 1)); "$BIN/backup" create --out "$DATA_DIR/loop-$n" >/dev/null; rm -rf "$DATA_DIR/loop-$n"; done; echo "$n" >"$DATA_DIR/backups-taken") &
looper=$!
bench "$DURATION"
touch "$DATA_DIR/stop-backups"
wait $looper
echo "    ($(cat "$DATA_DIR/backups-taken") backup set(s) taken meanwhile, the last one finished after the measurement)"
started=$(date +%s.%N)
"$BIN/backup" create --out "$DATA_DIR/set" >/dev/null
ended=$(date +%s.%N)
printf "  backup: %.2f s, %s\n" "$(python3 -c "print($ended - $started)")" "$(du -sh "$DATA_DIR/set" | cut -f1)"
if [[ -n ${BACKUP_KEY:-} ]]; then echo "    (encrypted with BACKUP_KEY)"; fi
stop
started=$(date +%s.%N)
"$BIN/backup" restore "$DATA_DIR/set" >/dev/null
ended=$(date +%s.%N)
printf "  restore: %.2f s\n" "$(python3 -c "print($ended - $started)")"
started=$(date +%s.%N)
start
ended=$(date +%s.%N)
printf "  restarted, reconciled (the auditor over every order) and ready: %.2f s\n" "$(python3 -c "print($ended - $started)")"
grep -E "before:|acknowledged checkouts lost|consistency report" "$DATA_DIR/run.log" | sed 's/^ */    /'
