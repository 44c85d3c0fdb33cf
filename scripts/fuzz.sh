#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (Tools/Fuzz) with -sanitize=fuzzer,address and runs each for
# RUNS executions (default 10 million), seeded from the tests' cases (scripts/fuzz_seeds.py). Any crash,
# hang (over 5 s), leak or sanitizer report fails it and leaves the input in $OUT/<target>/.
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10000000}
shift || true
TARGETS=("${@:-request chunked response json scanner}")
read -ra TARGETS <<<"${TARGETS[*]}"
OUT=${FUZZ_OUT:-.build/fuzz-runs}
echo "building the fuzz targets (sanitizers: fuzzer, address)..."
# --sanitize links libFuzzer's driver; -Xswiftc instruments every module for coverage and ASan.
swift build -q -c release --product fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
    --scratch-path .build/fuzz 2>&1 \
    | grep -v "Cannot export local symbol" || true
BIN=$(swift build -c release --product fuzz --sanitize=fuzzer --sanitize=address --scratch-path .build/fuzz --show-bin-path)/fuzz
[[ -x $BIN ]] || { echo "the fuzz build failed" >&2; exit 1; }
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 scripts/fuzz_seeds.py "$seeds"
status=0
for target in "${TARGETS[@]}"; do
    mkdir -p "$OUT/$target/corpus"
    start=$SECONDS
    if FUZZ_TARGET=$target "$BIN" -runs="$RUNS" -timeout=5 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$OUT/$target/" "$OUT/$target/corpus" "$seeds/$target" >"$OUT/$target/log" 2>&1; then
        executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$target/log" | grep -o '[0-9]*$' || echo "?")
        coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$OUT/$target/log" | tail -1 || true)
        printf 'fuzz %-8s %s executions, %s, %d s, no crash, hang or sanitizer report\n' "$target" "$executions" "$coverage" \
            $((SECONDS - start))
    else
        echo "fuzz $target FAILED: see $OUT/$target/log and the input in $OUT/$target/" >&2
        grep -E "ERROR|==[0-9]+==|Fatal error|panic" "$OUT/$target/log" | head -5 >&2
        status=1
    fi
done
exit $status
