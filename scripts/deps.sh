#!/usr/bin/env bash
# Checks what SagaMart needs to build, test and run, and installs what is missing when run as root.
# Usage: scripts/deps.sh [--bench]   (--bench also wants wrk for the benchmarks)
set -euo pipefail

missing=()
need() { # need PACKAGE TEST-COMMAND...
    local package=$1
    shift
    if ! "$@" >/dev/null 2>&1; then missing+=("$package"); fi
}

if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift 6 toolchain is not on PATH (swift.org/install); SagaMart needs Swift 6.1 or later." >&2
    exit 1
fi

need pkg-config command -v pkg-config
need libpq-dev test -f /usr/include/postgresql/libpq-fe.h
need libsqlite3-dev test -f /usr/include/sqlite3.h
need postgresql bash -c 'ls /usr/lib/postgresql/*/bin/initdb'
need procps command -v pkill
# Backups of the PostgreSQL-backed services (make backup, make restore, the restore drill).
need pgbackrest command -v pgbackrest
# The TLS edge (make run TLS=1 and its test): nginx from Debian, a certificate made with openssl.
need nginx bash -c 'command -v nginx || test -x /usr/sbin/nginx'
need openssl command -v openssl
need curl command -v curl
# The console's browser test: Debian's Chromium and its WebDriver, driven by Selenium (below).
need chromium test -x /usr/bin/chromium
need chromium-driver test -x /usr/bin/chromedriver
if [[ ${1:-} == --bench ]]; then
    need wrk command -v wrk
fi

# Python from PyPI: the deploy checks (docker-compose.yml and Kubernetes manifests against the JSON schemas),
# the OpenAPI document's checks (openapi-spec-validator, schemathesis) and the console's browser test
# (Selenium). Pinned: the versions the tests were written against.
python_packages=(pyyaml==6.0.3 jsonschema==4.26.0 openapi-spec-validator==0.9.0 schemathesis==4.32.5 selenium==4.51.0)
if ! python3 -c "import yaml, jsonschema, openapi_spec_validator, schemathesis, selenium" >/dev/null 2>&1; then
    if command -v python3 >/dev/null 2>&1; then
        python3 -m pip install -q "${python_packages[@]}" || {
            echo "install them with: python3 -m pip install ${python_packages[*]}" >&2
            exit 1
        }
    else
        missing+=(python3 python3-pip)
    fi
fi

if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian package starts a cluster of its own; the project makes its own clusters and needs none.
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
        pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read -r version name; do
            pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
        done
    fi
else
    echo "missing: ${missing[*]}" >&2
    echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
