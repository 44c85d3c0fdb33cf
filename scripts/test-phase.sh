#!/usr/bin/env bash
# Runs one phase of `make test` (a `swift test` command) under a time limit.
#
# A phase that outlives its limit is hung, not slow (each takes a few minutes): rather than hold CI until its
# own timeout with nothing to show, the threads of the test process are written out (gdb, when installed),
# with the processes it started, then everything it started is killed and the phase fails.
# Usage: scripts/test-phase.sh SECONDS COMMAND [ARGUMENTS...]
set -uo pipefail
limit=$1
shift

"$@" &
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
        for pid in $tree; do
            if [[ $(cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ') == *.xctest* ]] && command -v gdb >/dev/null 2>&1; then
                echo "test-phase: threads of test process $pid" >&2
                timeout 120 gdb -p "$pid" -batch -ex 'thread apply all bt 40' 2>&1 | grep -E '^(Thread|#)' >&2
            fi
        done
        kill -KILL "$runner" $tree 2>/dev/null
        wait "$runner" 2>/dev/null
        exit 124
    fi
    sleep 2
done
wait "$runner"
