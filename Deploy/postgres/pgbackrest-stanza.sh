#!/usr/bin/env bash
# Creates the pgBackRest stanza on the cluster's first start (/docker-entrypoint-initdb.d), so the WAL that
# archive_command pushes has a repository from the beginning.
set -euo pipefail
pgbackrest --stanza=sagamart stanza-create
