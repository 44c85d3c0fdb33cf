#!/usr/bin/env bash
# make bench-wal: scripts/wal-bench.c, built with the VFS's own source, in a temporary folder on the disk
# the services' data goes to (/tmp unless TMPDIR says otherwise). COMMITS (2000) and ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
cc -O2 -IShared/CSQLiteWAL/include -o "$folder/wal-bench" scripts/wal-bench.c Shared/CSQLiteWAL/wal_buffer.c -lsqlite3 -lpthread
"$folder/wal-bench" "$folder" "${COMMITS:-2000}" "${ROUNDS:-5}"
