#!/usr/bin/env bash
# Builds vigil-lint (tools/lint: Prometheus's rule and PromQL parsers and
# BuildKit's Dockerfile parser and linter, which the tests in configs/ run)
# from the Go module proxy into a cache directory outside the checkout, and
# prints the binary's path. The cache is keyed by a hash of the tools module's
# files, so any change to them builds a new binary; an existing one is reused.
# Cold (empty module and build caches) the build took 127 s
# on 2 busy cores, downloading about 180 MB of modules; it makes a 14 MB binary.
set -euo pipefail
export LC_ALL=C # the glob order below is part of the cache key
cd "$(dirname "$0")/.."

key="$(cat tools/lint/go.mod tools/lint/go.sum tools/lint/*.go | sha256sum | cut -c1-12)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/lint-$key"
bin="$dir/vigil-lint"

log() { printf '== %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

log "building vigil-lint into $bin"
mkdir -p "$dir"
# Build to a temporary name in the same directory and rename it into place,
# so an interrupted build never leaves a file that looks complete.
tmp="$(mktemp "$dir/vigil-lint.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
# -mod=mod: go.sum in tools/lint pins every module.
(cd tools/lint && GOFLAGS=-mod=mod go build -trimpath -o "$tmp" .)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
log "vigil-lint built in $((SECONDS - start)) s"
echo "$bin"
