#!/usr/bin/env bash
# Creates one database and one role per PostgreSQL-backed service (inventory, order, saga). Each role owns
# its database and can connect to nothing else: database per service, enforced by the server.
# Run by the postgres image on first start (/docker-entrypoint-initdb.d) and by `make run-pg`.
# Needs INVENTORY_DB_PASSWORD, ORDER_DB_PASSWORD and SAGA_DB_PASSWORD; psql connection settings come from
# the usual PG* variables (PGHOST, PGPORT, PGUSER).
set -euo pipefail
PSQL=(psql -v ON_ERROR_STOP=1 --no-psqlrc -q)
"${PSQL[@]}" -d postgres -c "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC" -c "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC"
# The order service's data is sharded: "order" is shard 0 and "order_1" shard 1, both owned by its role.
for entry in inventory:inventory order:order order:order_1 saga:saga; do
    service=${entry%%:*} database=${entry#*:}
    variable="${service^^}_DB_PASSWORD"
    password="${!variable:?$variable must be set}"
    "${PSQL[@]}" -d postgres -v role="$service" -v db="$database" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO %I', :'db', :'role') \gexec
SQL
done
