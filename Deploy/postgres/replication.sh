#!/usr/bin/env bash
# Lets a hot standby stream from this cluster: the replication role `replicator` (REPLICATION_PASSWORD) and a
# pg_hba entry for it. Run on the primary's first start (/docker-entrypoint-initdb.d), by Kubernetes' init
# ConfigMap and by `make run-pg`. psql settings come from the PG* variables; PGDATA names the cluster's folder.
set -euo pipefail
PSQL=(psql -v ON_ERROR_STOP=1 --no-psqlrc -q)
"${PSQL[@]}" -d postgres -v password="${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}" <<'SQL'
SELECT format('CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD %L', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'replicator') \gexec
SELECT format('ALTER ROLE replicator WITH REPLICATION LOGIN PASSWORD %L', :'password') \gexec
SQL
hba="${PGDATA:?PGDATA must be set}/pg_hba.conf"
grep -q '^host replication replicator ' "$hba" || echo 'host replication replicator all scram-sha-256' >>"$hba"
"${PSQL[@]}" -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
