#!/usr/bin/env bash
# The release build, made as the image makes it (Deploy/Dockerfile): the Swift runtime and Foundation linked
# into each executable (--static-swift-stdlib), so make bench-checkout measures what ships. Every release
# build of the scripts and the Makefile goes through here: a build with other flags in the same folder would
# recompile everything. Arguments go to swift build (one --product, or none for all); prints the folder of
# the executables. scripts/validate_deploy.py checks that the image builds with the same flags.
set -euo pipefail
cd "$(dirname "$0")/.."
# A section per function (Swift, C and C++, the dependencies' too), so that the linker can lay out the code
# that runs at start first (Deploy/startup.order, Package.swift's `shippedLinking`).
RELEASE_FLAGS=(-c release --static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections)
bin=$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)
# SwiftPM does not count the layout file among a link's inputs: relink the shipped executables this build
# makes (all, or those named with --product) when it changed.
products=()
for ((i = 1; i < $#; i++)); do [[ ${!i} == --product ]] && { next=$((i + 1)); products+=("${!next}"); }; done
for executable in gateway inventory order payment shipping saga audit backup; do
    if [[ ${#products[@]} -gt 0 && " ${products[*]} " != *" $executable "* ]]; then continue; fi
    if [[ -f $bin/$executable && Deploy/startup.order -nt $bin/$executable ]]; then rm -f "$bin/$executable"; fi
done
swift build "${RELEASE_FLAGS[@]}" "$@" >&2
echo "$bin"
