#!/usr/bin/env bash
# make bench-http: our HTTP server (the service kit with its standard middleware) against a minimal
# Hummingbird 2 server with the same two routes and against nginx (Debian's package, two worker processes
# answering a fixed JSON body from its configuration), under wrk on loopback, one server at a time.
# Settings: DURATION per run (default 5s), ROUNDS per row and server (default 2; the figures are their
# means), CONNECTIONS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}
OURS_PORT=${OURS_PORT:-18090}
HB_PORT=${HB_PORT:-18091}
NGINX_PORT=${NGINX_PORT:-18092}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "building (release)..."
ours_bin=$(scripts/build-release.sh --product echo-server 2>"$work/build-ours.log")/echo-server || { cat "$work/build-ours.log"; exit 1; }
# Hummingbird linked as ours is (the Swift runtime in the executable), so the two differ by their HTTP servers.
(cd Benchmarks/HummingbirdEcho && swift build -c release --static-swift-stdlib) >"$work/build-hb.log" 2>&1 || { cat "$work/build-hb.log"; exit 1; }
hb_bin=$(cd Benchmarks/HummingbirdEcho && swift build -c release --static-swift-stdlib --show-bin-path)/HummingbirdEcho

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"sku":"MUG-001","quantity":2,"note":"a small JSON body"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# to_ms VALUE: wrk's "812.00us" / "1.20ms" / "1.01s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "%s", v } }'
}

wait_ready() {
    for _ in $(seq 1 200); do
        if curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

declare -A RPS P50 P99 RSS
# run_wrk NAME PORT ROUTE CONNS: one wrk run, added to the row's sums (averaged over ROUNDS below).
run_wrk() {
    local name=$1 port=$2 route=$3 conns=$4 threads=2 script=()
    ((conns == 1)) && threads=1
    [[ $route == echo ]] && script=(-s "$work/post.lua")
    wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "${script[@]}" "http://127.0.0.1:$port/$route" >"$work/wrk.txt" 2>&1
    local key="$name/$route/c$conns"
    RPS[$key]=$(( ${RPS[$key]:-0} + $(awk '/Requests\/sec/ {printf "%d", $2}' "$work/wrk.txt") ))
    P50[$key]=$(awk -v a="${P50[$key]:-0}" -v b="$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")")" 'BEGIN { printf "%.3f", a + b }')
    P99[$key]=$(awk -v a="${P99[$key]:-0}" -v b="$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")")" 'BEGIN { printf "%.3f", a + b }')
    if grep -q "Non-2xx\|Socket errors" "$work/wrk.txt"; then
        echo "warning: $key: $(grep -E 'Non-2xx|Socket errors' "$work/wrk.txt")" >&2
    fi
}

SAGAMART_ENV=development PORT=$OURS_PORT LOG_LEVEL=warning "$ours_bin" >"$work/ours.log" 2>&1 &
ours_pid=$!
PORT=$HB_PORT "$hb_bin" >"$work/hb.log" 2>&1 &
hb_pid=$!

# nginx: the fast C server, both routes a fixed answer (the body of a POST is read and discarded).
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $(nproc);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /health { return 200 '{"status":"ok"}'; }
        location = /echo { return 200 '{"sku":"MUG-001","quantity":2,"note":"a small JSON body"}'; }
    }
}
CONF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
nginx_pid=$!
wait_ready "$OURS_PORT"
wait_ready "$HB_PORT"
wait_ready "$NGINX_PORT"

# The three servers run side by side (an idle one costs nothing) and each row is measured for all three
# back to back, ROUNDS times, in mirrored order (ours, hb, nginx, then nginx, hb, ours): this machine's
# speed drifts by tens of percent within minutes, and servers measured one after the other for minutes
# each were compared across that drift.
for route in health echo; do
    for conns in "$CONNECTIONS" 1; do
        for round in $(seq 1 "$ROUNDS"); do
            order=("sagamart $OURS_PORT" "hummingbird $HB_PORT" "nginx $NGINX_PORT")
            ((round % 2 == 0)) && order=("nginx $NGINX_PORT" "hummingbird $HB_PORT" "sagamart $OURS_PORT")
            for entry in "${order[@]}"; do
                read -r name port <<<"$entry"
                run_wrk "$name" "$port" "$route" "$conns"
            done
        done
        for name in sagamart hummingbird nginx; do
            key="$name/$route/c$conns"
            RPS[$key]=$((RPS[$key] / ROUNDS))
            P50[$key]=$(awk -v a="${P50[$key]}" -v n="$ROUNDS" 'BEGIN { printf "%.3f", a / n }')
            P99[$key]=$(awk -v a="${P99[$key]}" -v n="$ROUNDS" 'BEGIN { printf "%.3f", a / n }')
        done
    done
done

RSS[sagamart]=$(awk '/VmHWM/ {print $2}' "/proc/$ours_pid/status")
RSS[hummingbird]=$(awk '/VmHWM/ {print $2}' "/proc/$hb_pid/status")
# The master's and its workers' peak RSS together.
RSS[nginx]=$(for pid in $nginx_pid $(pgrep -P "$nginx_pid"); do awk '/VmHWM/ {print $2}' "/proc/$pid/status"; done | awk '{s += $1} END {print s}')
kill -TERM "$ours_pid" "$hb_pid"
kill -QUIT "$nginx_pid"
wait "$ours_pid" "$hb_pid" "$nginx_pid" || true

echo
echo "HTTP benchmark: wrk on loopback, the mean of $ROUNDS runs of $DURATION per row and server (interleaved), $(nproc) cores"
printf "%-22s %-12s %12s %10s %10s\n" "route" "server" "requests/s" "p50 ms" "p99 ms"
for route in health echo; do
    for conns in "$CONNECTIONS" 1; do
        for name in sagamart hummingbird nginx; do
            key="$name/$route/c$conns"
            printf "%-22s %-12s %12s %10s %10s\n" "$route c=$conns" "$name" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}"
        done
        ours=${RPS[sagamart/$route/c$conns]}
        printf "%-22s %-12s %12s\n" "" "ratio to hb" "$(awk -v a="$ours" -v b="${RPS[hummingbird/$route/c$conns]}" 'BEGIN { printf "%.2f", a / b }')"
        printf "%-22s %-12s %12s\n" "" "ratio to nginx" "$(awk -v a="$ours" -v b="${RPS[nginx/$route/c$conns]}" 'BEGIN { printf "%.2f", a / b }')"
    done
done
echo "peak RSS: sagamart ${RSS[sagamart]} kB, hummingbird ${RSS[hummingbird]} kB, nginx ${RSS[nginx]} kB (master and workers)"
