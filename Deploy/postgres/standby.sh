#!/usr/bin/env bash
# The hot standby's entrypoint (runs as postgres): on its first start a base backup of the primary
# (PRIMARY_HOST, as `replicator` with REPLICATION_PASSWORD) with -R, so the server starts as a standby that
# streams from the primary; then the server, read-only (hot_standby). Promotion is the operator's step.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?PRIMARY_HOST must be set}" "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}"
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    export PGPASSWORD=$REPLICATION_PASSWORD
    until pg_basebackup -h "$PRIMARY_HOST" -p "${PRIMARY_PORT:-5432}" -U replicator -D "$PGDATA" -R -X stream -c fast; do
        echo "standby: the primary is not ready yet; trying again"
        find "$PGDATA" -mindepth 1 -delete
        sleep 2
    done
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on "$@"
