#!/usr/bin/env bash
# Prints a fresh set of service credentials for .env (docker compose): an Ed25519 signing key per service
# and for the audit command, and SERVICE_KEYS listing their public keys. Uses openssl.
set -euo pipefail
public=()
for name in gateway inventory order payment shipping saga auditor; do
    pem=$(openssl genpkey -algorithm ed25519 2>/dev/null)
    # The last 32 bytes of the DER forms are the raw private and public keys.
    private=$(openssl pkey -outform DER <<<"$pem" | tail -c 32 | base64)
    pub=$(openssl pkey -pubout -outform DER <<<"$pem" | tail -c 32 | base64)
    printf '%s_SIGNING_KEY=%s\n' "${name^^}" "$private"
    public+=("$name:$pub")
done
(IFS=,; printf 'SERVICE_KEYS=%s\n' "${public[*]}")
