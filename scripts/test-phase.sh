#!/usr/bin/env bash
# Runs one phase of `make test` (a `swift test` command) under a time limit.
#
# A phase that outlives its limit is hung, not slow (each takes a few minutes): rather than hold CI until its
# own timeout with nothing to show, the threads of the test process are written out (gdb, when installed),
# with the processes it started, then everything it started is killed. The last lines written are a short
# summary (the tests started and not ended, the last output), since a CI log is often read from its end only;
# the summary is also kept in TEST_PHASE_REPORT, which `make test` prints again at its very end.
#
# A hung phase is then run once more (TEST_PHASE_RETRIES, default 1): a hang that no local run reproduces
# otherwise blocks every change behind it with nothing learnt, while this way it is reported at the end of the
# run, where it is seen, and the phase still has to pass in full.
# Usage: scripts/test-phase.sh SECONDS COMMAND [ARGUMENTS...]
#        scripts/test-phase.sh --report     (prints the hangs recorded by this run's phases, if any)
set -uo pipefail
report=${TEST_PHASE_REPORT:-.build/test-phase-hangs.txt}
if [[ ${1:-} == --report ]]; then
    if [[ -s $report ]]; then
        echo "test-phase: phases that hung in this run and passed when run again (a bug to find, not noise):" >&2
        cat "$report" >&2
    fi
    exit 0
fi
limit=$1
shift
retries=${TEST_PHASE_RETRIES:-1}

log=$(mktemp "${TMPDIR:-/tmp}/test-phase.XXXXXX")
trap 'rm -f "$log"' EXIT
# Line-buffered, so the copy below is current when the phase hangs (a pipe is otherwise block-buffered).
buffering=()
command -v stdbuf >/dev/null 2>&1 && buffering=(stdbuf -oL -eL)

# The tests that started and did not end, from Swift Testing's and XCTest's console lines.
in_flight() {
    python3 - "$log" <<'EOF' 2>/dev/null || grep -a -E 'started\.$' "$log" | tail -n 5
import re, sys, collections
open_tests = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    m = re.search(r"Test (?!case passing|run )(.+?) started\.$", line)
    if m:
        open_tests[m.group(1)] += 1
        continue
    m = re.search(r"Test (?!run )(.+?)( with \d+ test cases?)? (passed|failed) after", line)
    if m:
        open_tests[m.group(1)] -= 1
        continue
    m = re.match(r"Test Case '(.+)' (started|passed|failed)", line)
    if m:
        open_tests[m.group(1)] += 1 if m.group(2) == "started" else -1
print(", ".join(name for name, count in open_tests.items() if count > 0) or "none")
EOF
}

# Runs the command once; 124 when it hung (and was stopped), else its own status.
run_once() {
    : >"$log"
    "${buffering[@]}" "$@" > >(tee -a "$log") 2> >(tee -a "$log" >&2) &
    runner=$!
    deadline=$((SECONDS + limit))
    while kill -0 "$runner" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "test-phase: '$*' still running after ${limit}s; its state follows, then it is stopped" >&2
            ps -eo pid,ppid,stat,etime,time,args --forest >&2
            # The test process and the services and tools it started: all the runner's descendants (PostgreSQL
            # clusters are not among them: pg_ctl detaches the server).
            descendants() {
                local child
                for child in $(pgrep -P "$1" || true); do
                    echo "$child"
                    descendants "$child"
                done
            }
            tree=$(descendants "$runner")
            started=$(for pid in $tree; do ps -o comm= -p "$pid" 2>/dev/null; done | sort | uniq -c | tr -s ' \n' ' ')
            for pid in $tree; do
                if [[ $(cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ') == *.xctest* ]] && command -v gdb >/dev/null 2>&1; then
                    echo "test-phase: threads of test process $pid" >&2
                    timeout 120 gdb -p "$pid" -batch -ex 'thread apply all bt 40' 2>&1 | grep -E '^(Thread|#)' >&2
                fi
            done
            kill -KILL "$runner" $tree 2>/dev/null
            wait "$runner" 2>/dev/null
            {
                echo "test-phase: HUNG after ${limit}s: $*"
                echo "test-phase: processes it had started (killed):$started"
                echo "test-phase: the last lines it wrote:"
                tail -n 6 "$log" | cut -c 1-240
                echo "test-phase: tests started and not ended: $(in_flight | cut -c 1-2000)"
            } 2>&1 | tee -a "$report" >&2
            return 124
        fi
        sleep 2
    done
    wait "$runner"
}

mkdir -p "$(dirname "$report")"
attempt=0
while true; do
    run_once "$@"
    status=$?
    if ((status != 124 || attempt >= retries)); then
        exit "$status"
    fi
    attempt=$((attempt + 1))
    echo "test-phase: running '$*' again (attempt $((attempt + 1))); the hang above is reported at the end" >&2
done
