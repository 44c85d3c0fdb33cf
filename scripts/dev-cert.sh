#!/usr/bin/env bash
# Makes a development certificate authority and a certificate for the TLS edge, signed by it, in DIR
# (default ./data/tls): dev-ca.pem (give it to clients: curl --cacert), edge.pem and edge-key.pem (nginx).
# Names: localhost, edge and 127.0.0.1. Kept if already there and still valid for a week.
set -euo pipefail
DIR=${1:-./data/tls}
mkdir -p "$DIR"
cd "$DIR"
if [[ -f edge.pem && -f edge-key.pem && -f dev-ca.pem ]] && openssl x509 -checkend 604800 -noout -in edge.pem >/dev/null 2>&1; then
    exit 0
fi
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -keyout dev-ca-key.pem -out dev-ca.pem \
    -subj "/CN=SagaMart development CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout edge-key.pem -out edge.csr -subj "/CN=localhost" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,DNS:edge,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >edge.ext
openssl x509 -req -in edge.csr -CA dev-ca.pem -CAkey dev-ca-key.pem -CAcreateserial -days 90 -extfile edge.ext \
    -out edge.pem >/dev/null 2>&1
rm -f edge.csr edge.ext dev-ca.srl
# nginx in the compose container reads them as another user; the CA's key stays private.
chmod 644 dev-ca.pem edge.pem edge-key.pem
echo "development certificate in $DIR (trust dev-ca.pem: curl --cacert $DIR/dev-ca.pem https://localhost:PORT/...)"
