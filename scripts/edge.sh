#!/usr/bin/env bash
# Starts the TLS edge from Debian's nginx in the foreground, with the same template docker-compose uses:
#   scripts/edge.sh WORKDIR GATEWAY_UPSTREAM HTTPS_PORT HTTP_PORT TLS_DIR
# WORKDIR receives the rendered configuration, logs and temporary files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$1 GATEWAY_UPSTREAM=$2 EDGE_HTTPS_PORT=$3 EDGE_HTTP_PORT=$4 TLS_DIR=$(cd "$5" && pwd)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "nginx is not installed: run make deps" >&2; exit 1; }
mkdir -p "$WORK/logs" "$WORK/tmp"
WORK=$(cd "$WORK" && pwd)
sed -e "s|\${EDGE_HTTPS_PORT}|$EDGE_HTTPS_PORT|g" -e "s|\${EDGE_HTTP_PORT}|$EDGE_HTTP_PORT|g" \
    -e "s|\${GATEWAY_UPSTREAM}|$GATEWAY_UPSTREAM|g" -e "s|\${TLS_DIR}|$TLS_DIR|g" \
    "$ROOT/Deploy/edge/edge.conf.template" >"$WORK/edge.conf"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $WORK/logs/access.log;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    include $WORK/edge.conf;
}
CONF
exec "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;'
