#!/usr/bin/env bash
# The release build, made as the image makes it (Deploy/Dockerfile): the Swift runtime and Foundation linked
# into each executable (--static-swift-stdlib), so make bench-checkout measures what ships. Every release
# build of the scripts and the Makefile goes through here: a build with other flags in the same folder would
# recompile everything. Arguments go to swift build (one --product, or none for all); prints the folder of
# the executables. scripts/validate_deploy.py checks that the image builds with the same flags.
set -euo pipefail
cd "$(dirname "$0")/.."
RELEASE_FLAGS=(-c release --static-swift-stdlib)
swift build "${RELEASE_FLAGS[@]}" "$@" >&2
swift build "${RELEASE_FLAGS[@]}" --show-bin-path
