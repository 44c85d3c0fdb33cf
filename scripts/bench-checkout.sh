#!/usr/bin/env bash
# make bench-checkout: starts the system (release build, SQLite with synchronous=FULL, so every commit is
# durable) on fresh data, drives concurrent checkouts through the gateway, and prints checkouts/s,
# p50/p95/p99, errors, and per process the CPU milliseconds and kilobytes written per checkout and the
# resident memory idle (before the load) and at its peak, and for the machine how its time went during the
# load and what reached the disk. Settings: CONCURRENCY (32), DURATION seconds (20),
# ORDER_SHARDS (N SQLite files for the order service; then 64 customers check out, spread over the shards),
# RATE (checkouts started per second, open loop, instead of CONCURRENCY clients: the same work per second
# whatever the build's speed, so per-checkout counts of two builds compare; background work such as feed
# polling is spread over fewer checkouts when a run is slower), RUNS (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
# RUNS=N (1 to 20): N runs one after the other, each on fresh data, then the median and range of the headline
# figures. On a shared virtual machine the same build's runs differ by up to 70 % (every function costs more
# CPU in a slow run, the host's doing: its memory latency, printed beside, is higher then), so two builds
# compare by interleaved runs or their medians, not by one run each.
if [[ ${RUNS:-1} != 1 ]]; then
    if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 1 || RUNS > 20)); then
        echo "RUNS must be a whole number from 1 to 20" >&2
        exit 2
    fi
    summary=$(mktemp)
    errors=$(mktemp)
    trap 'rm -f "$summary" "$errors"' EXIT
    for run in $(seq 1 "$RUNS"); do
        # The load tool's second-by-second lines go to standard error: shown only when a run fails.
        if ! out=$(RUNS=1 "$0" 2>"$errors"); then
            cat "$errors" >&2
            echo "$out"
            exit 1
        fi
        # checkouts/s, p99 of approved checkouts, CPU ms per checkout (all services), the host's memory latency
        line=$(awk '/^checkouts\/s: / { rate = $2 }
            /^approved checkouts. latency ms: / { p99 = $NF }
            /^  all +cpu / { cpu = $3 }
            /^host: memory latency / { memory = $4 }
            /^  machine +busy / { busy = $3; stolen = $17 }
            END { printf "%s %s %s %s %s %s\n", rate, p99, cpu, memory == "" ? "-" : memory, busy == "" ? "-" : busy, stolen == "" ? "-" : stolen }' <<<"$out")
        echo "$line" >>"$summary"
        read -r rate p99 cpu memory busy stolen <<<"$line"
        echo "run $run of $RUNS: checkouts/s $rate   p99 $p99 ms   cpu $cpu ms per checkout   host memory latency $memory ns   machine busy $busy % (stolen $stolen %)"
    done
    for column in 1 2 3 4 5; do
        sort -g -k"$column","$column" "$summary" | awk -v c="$column" '$c != "-" { v[++n] = $c } END {
            if (n == 0) exit
            m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            name = c == 1 ? "checkouts/s" : c == 2 ? "p99 ms (approved)" : c == 3 ? "cpu ms per checkout" : c == 4 ? "host memory ns" : "machine busy %"
            printf "median of %d runs: %-20s %8.2f   (range %.2f to %.2f)\n", n, name, m, v[1], v[n] }'
    done
    exit 0
fi
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-20}
BASE_PORT=${BASE_PORT:-18180}
DATA_DIR=$(mktemp -d)
# RATE_LIMITS=off: the figures measure the system, not the gateway's limiter.
export DATA_DIR BASE_PORT CONFIGURATION=release LOG_LEVEL=warning RATE_LIMITS=off
KEYS=alice-dev-key
if [[ -n ${ORDER_SHARDS:-} ]]; then
    CUSTOMER_API_KEYS=$(for i in $(seq 0 63); do printf 'bench-%d:bench-%d-key,' "$i" "$i"; done | sed 's/,$//')
    KEYS=$(for i in $(seq 0 63); do printf 'bench-%d-key,' "$i"; done | sed 's/,$//')
    export ORDER_SHARDS CUSTOMER_API_KEYS
fi
BIN_DIR=$(scripts/build-release.sh --product load 2>/dev/null)
scripts/run.sh >"$DATA_DIR/run.log" 2>&1 &
runner=$!
# The benchmark's own status, not the stopped runner's (it exits 130 on TERM), so `make bench` goes on.
trap 'status=$?; kill -TERM $runner 2>/dev/null; wait $runner 2>/dev/null || true; rm -rf "$DATA_DIR"; exit $status' EXIT
for _ in $(seq 1 1200); do
    grep -q "SagaMart is running" "$DATA_DIR/run.log" 2>/dev/null && break
    if ! kill -0 $runner 2>/dev/null; then cat "$DATA_DIR/run.log"; exit 1; fi
    sleep 0.5
done
GATEWAY=http://127.0.0.1:$BASE_PORT
curl -sf -o /dev/null -X POST "$GATEWAY/v1/products" -H "Authorization: Bearer admin-dev-key" -H 'Content-Type: application/json' \
    -d '{"sku":"BENCH-001","name":"Benchmark item","priceCents":100,"currency":"EUR","stock":100000000}'
mover=
if [[ ${ORDER_SHARDS:-1} =~ ^[0-9]+$ && ${ORDER_SHARDS:-1} -ge 2 ]]; then
    # Halfway through, the bucket of the first customer moves to the next shard under load: the line it
    # prints says how long that bucket's writes were fenced.
    bucket=$(python3 -c 'h=0xcbf29ce484222325
for b in b"bench-0": h=((h^b)*0x100000001b3)%2**64
print(h%256)')
    target=$(((bucket % ORDER_SHARDS + 1) % ORDER_SHARDS))
    ( sleep $((DURATION / 2)); set -a; . "$DATA_DIR/ops.env"; set +a
      "$BIN_DIR/order" move-bucket "$bucket" "$target" 2>/dev/null | grep '^moved' ) &
    mover=$!
fi
# Per process, from /proc: CPU clock ticks (user + system), bytes written to storage, resident memory.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
# Write system calls (write, pwrite, writev: to sockets and to files; SQLite writes a WAL frame with two).
write_calls() { awk '/^syscw/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
# Proportional set size: a shared library's pages divided among the processes that map them (the six share
# libc and SQLite, and the Swift runtime when it is not linked in), what the system really spends per process.
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo '?'; }
# From each service's /metrics (run.sh gives the services in pids' order ports BASE_PORT, BASE_PORT+1, ...): the
# requests it served (http_requests_total, every route and status), its SQLite write transactions committed
# and the commits (fsyncs) that held them (db_write_transactions, db_commits), and the SQL statements its
# connections ran (db_statements, reads and the group commit's own included). Counts, not timings: they compare
# across machines of any speed. "requests transactions commits statements", or "0 0 0 0" when the service does
# not answer.
# The gateway shows /metrics to the admin key only.
counts() {
    local text auth=()
    (($1 == BASE_PORT)) && auth=(-H "Authorization: Bearer admin-dev-key")
    text=$(curl -sf --max-time 5 "${auth[@]}" "http://127.0.0.1:$1/metrics" 2>/dev/null) || text=
    awk '/^http_requests_total[{ ]/ { requests += $NF }
        /^db_write_transactions / { transactions = $2 }
        /^db_commits / { commits = $2 }
        /^db_statements / { statements = $2 }
        END { printf "%d %d %d %d\n", requests, transactions, commits, statements }' <<<"$text"
}
declare -A cpu_before io_before calls_before idle_rss idle_pss counts_before
index=0
while read -r name pid; do
    counts_before[$name]=$(counts $((BASE_PORT + index)))
    index=$((index + 1))
done <"$DATA_DIR/pids"
while read -r name pid; do
    cpu_before[$name]=$(ticks "$pid")
    io_before[$name]=$(written "$pid")
    calls_before[$name]=$(write_calls "$pid")
    idle_rss[$name]=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo '?')
    idle_pss[$name]=$(pss "$pid")
done <"$DATA_DIR/pids"
# Context switches of the whole machine (the services' threads hand work to each other: event loops,
# database threads, the load tool), from /proc/stat.
switches() { awk '/^ctxt/ {print $2}' /proc/stat; }
# The machine's time by state during the load (the cpu line of /proc/stat): busy (user, nice, system, irq,
# softirq), idle, waiting on I/O, and stolen (the host ran another tenant on our virtual CPU). Time stolen or
# idle is time the services could not use: it tells a slow run of a busy host from a slow build.
cpu_states() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8, $5, $6, $9}' /proc/stat; }
# What reached the disk the data is on (the whole machine's block device: write requests and 512-byte
# sectors, /sys/class/block/<device>/stat). A process's `written` below is what the kernel counts as it
# dirties page-cache folios: one large write may dirty large folios whole, so it can count more than the
# disk gets.
disk=$(basename "$(df --output=source "$DATA_DIR" 2>/dev/null | tail -1)")
disk_writes() { awk '{print $5, $7}' "/sys/class/block/$disk/stat" 2>/dev/null || true; }
# The allocator setting the services run with (run.sh's default or the caller's), read from the gateway's own
# environment: it moves CPU per checkout by about 13 %, so a figure is compared only with one under the same.
gateway_pid=$(awk '$1 == "gateway" {print $2}' "$DATA_DIR/pids")
tunables=$(tr '\0' '\n' <"/proc/$gateway_pid/environ" 2>/dev/null | sed -n 's/^GLIBC_TUNABLES=//p')
# The services' CPU scheduling (CPU_SCHEDULING, SCHED_BATCH unless it says normal), read off the gateway's
# loop thread: it moves CPU per checkout as much as the allocator setting does.
loop_task=$(grep -lx 'http-0' /proc/"$gateway_pid"/task/*/comm 2>/dev/null | head -1 || true)
scheduling=$(awk '$1 == "policy" {print $3}' "${loop_task%/comm}/sched" 2>/dev/null || true)
case $scheduling in 0) scheduling=normal ;; 3) scheduling=batch ;; *) scheduling=${scheduling:-unknown} ;; esac
echo "checkout benchmark: ${RATE:+$RATE checkouts/s, open loop, not }$CONCURRENCY clients for ${DURATION}s through $GATEWAY ($(nproc) cores, SQLite, synchronous=FULL${ORDER_SHARDS:+, ORDER_SHARDS=$ORDER_SHARDS}, GLIBC_TUNABLES=${tunables:-unset}, CPU scheduling ${scheduling})"
# How the running gateway's executable is linked (a BIN=... build may differ from scripts/build-release.sh's):
# the Swift runtime in it or beside it, packed relocations, exported symbols. Idle memory depends on all three.
gateway_exe=$(readlink "/proc/$gateway_pid/exe")
dynamic=$(readelf -dW "$gateway_exe")
echo "executables: $(grep -q 'libswiftCore' <<<"$dynamic" && echo 'Swift runtime shared' || echo 'Swift runtime static'), $(grep -q '(RELR)' <<<"$dynamic" && echo 'packed relocations (RELR)' || echo 'relocations unpacked'), $(readelf --dyn-syms -W "$gateway_exe" | awk 'NR > 3 && $7 != "UND" && $5 != "LOCAL"' | wc -l) symbols exported"
# The host's phase (scripts/host-probe.c), measured with the services idle just before the load: a random walk
# through 32 MB (the time to memory) and 8 MB (what the other tenants leave of the shared last-level cache).
probe="$DATA_DIR/host-probe"
if cc -O2 -o "$probe" scripts/host-probe.c 2>/dev/null; then
    read -r _ far _ near <<<"$("$probe" 32 8 | tr '\n' ' ')"
    echo "host: memory latency $far ns per dependent load over 32 MB, $near ns over 8 MB (higher when other tenants contend; CPU per checkout follows, loosely)"
else
    echo "host: memory latency not measured (no C compiler)"
fi
switches_before=$(switches)
cpu_states_before=$(cpu_states)
disk_before=$(disk_writes)
# The load tool shares the machine: its own CPU (the subshell's waited-for children, /proc fields 16 and 17)
# is printed beside the services'.
(
    "$BIN_DIR/load" --sku BENCH-001 --gateway "$GATEWAY" ${RATE:+--rate "$RATE"} --concurrency "$CONCURRENCY" --duration "$DURATION" --key "$KEYS" |
        tee "$DATA_DIR/bench.out"
    awk '{print $16 + $17}' "/proc/$BASHPID/stat" >"$DATA_DIR/load.ticks"
)
if [[ -n $mover ]]; then wait "$mover" || echo "the bucket move failed"; fi
approved=$(awk '/^checkouts: / {print $2}' "$DATA_DIR/bench.out")
switches_after=$(switches)
cpu_states_after=$(cpu_states)
disk_after=$(disk_writes)
hz=$(getconf CLK_TCK)
echo "per process: CPU ms per checkout (user+system), kB written per checkout (page-cache folios dirtied; the disk line below is what reached the disk), write calls per checkout, RSS kB idle and peak, PSS kB idle and after"
total_cpu=0
total_calls=0
while read -r name pid; do
    cpu=$(( $(ticks "$pid") - ${cpu_before[$name]} ))
    io=$(( $(written "$pid") - ${io_before[$name]} ))
    calls=$(( $(write_calls "$pid") - ${calls_before[$name]} ))
    total_cpu=$((total_cpu + cpu))
    total_calls=$((total_calls + calls))
    awk -v n="$name" -v c="$cpu" -v w="$io" -v k="$calls" -v a="${approved:-0}" -v hz="$hz" -v idle="${idle_rss[$name]}" \
        -v peak="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo '?')" \
        -v pss_idle="${idle_pss[$name]}" -v pss_now="$(pss "$pid")" \
        'BEGIN { a = a > 0 ? a : 1; printf "  %-10s cpu %6.2f ms   written %6.2f kB in %5.1f calls   rss idle %s peak %s   pss idle %s after %s\n", n, c * 1000 / hz / a, w / 1024 / a, k / a, idle, peak, pss_idle, pss_now }'
done <"$DATA_DIR/pids"
awk -v c="$total_cpu" -v k="$total_calls" -v a="${approved:-0}" -v hz="$hz" -v cs=$((switches_after - switches_before)) \
    'BEGIN { a = a > 0 ? a : 1; printf "  %-10s cpu %6.2f ms per checkout   %.0f write calls per checkout   %.0f context switches per checkout (whole machine)\n", "all", c * 1000 / hz / a, k / a, cs / a }'
awk -v before="$cpu_states_before" -v after="$cpu_states_after" -v cores="$(nproc)" 'BEGIN {
    split(before, b, " "); split(after, e, " "); for (i = 1; i <= 4; i++) { d[i] = e[i] - b[i]; t += d[i] }
    t = t > 0 ? t : 1
    printf "  machine    busy %.1f %%   idle %.1f %%   waiting on I/O %.1f %%   stolen by the host %.1f %%   (of %d cores, during the load)\n", 100 * d[1] / t, 100 * d[2] / t, 100 * d[3] / t, 100 * d[4] / t, cores }'
if [[ -n $disk_before && -n $disk_after ]]; then
    awk -v before="$disk_before" -v after="$disk_after" -v a="${approved:-0}" -v device="$disk" 'BEGIN {
        split(before, b, " "); split(after, e, " "); a = a > 0 ? a : 1
        printf "  disk       %.1f kB written in %.1f write requests per checkout (device %s, the whole machine)\n", (e[2] - b[2]) * 512 / 1024 / a, (e[1] - b[1]) / a, device }'
else
    echo "  disk       not measured (no block device statistics for ${disk:-the data folder})"
fi
awk -v c="$(cat "$DATA_DIR/load.ticks" 2>/dev/null || echo 0)" -v a="${approved:-0}" -v hz="$hz" \
    'BEGIN { a = a > 0 ? a : 1; printf "  %-10s cpu %6.2f ms per checkout (the clients, on the same cores)\n", "load tool", c * 1000 / hz / a }'
echo "per process: HTTP requests served, SQLite write transactions committed, commits (each an fsync) and SQL statements run per checkout"
index=0
totals="0 0 0 0"
while read -r name pid; do
    read -r requests transactions commits statements <<<"$(counts $((BASE_PORT + index)))"
    read -r requests0 transactions0 commits0 statements0 <<<"${counts_before[$name]}"
    index=$((index + 1))
    row="$((requests - requests0)) $((transactions - transactions0)) $((commits - commits0)) $((statements - statements0))"
    totals=$(awk -v a="$totals" -v b="$row" 'BEGIN { split(a, x, " "); split(b, y, " "); print x[1] + y[1], x[2] + y[2], x[3] + y[3], x[4] + y[4] }')
    awk -v n="$name" -v row="$row" -v a="${approved:-0}" 'BEGIN { a = a > 0 ? a : 1; split(row, v, " ");
        printf "  %-10s requests %5.2f   transactions %5.2f   commits %5.2f   statements %6.2f\n", n, v[1] / a, v[2] / a, v[3] / a, v[4] / a }'
done <"$DATA_DIR/pids"
awk -v n="all" -v row="$totals" -v a="${approved:-0}" 'BEGIN { a = a > 0 ? a : 1; split(row, v, " ");
    printf "  %-10s requests %5.2f   transactions %5.2f   commits %5.2f   statements %6.2f   (%.1f transactions a commit)\n", n, v[1] / a, v[2] / a, v[3] / a, v[4] / a, v[2] / (v[3] > 0 ? v[3] : 1) }'
