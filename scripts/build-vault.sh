#!/usr/bin/env bash
# Builds HashiCorp Vault (the version pinned by tools/vault/go.mod and go.sum)
# from the Go module proxy into a cache directory outside the checkout, keyed
# by version, and prints the binary's path. The integration tests run it as
# `vault server -dev`. A binary already in the cache is reused; cold (empty
# module cache) the build takes about 10 minutes on 2 cores and makes a 500 MB
# binary.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v1.21.1"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/vault-$version"
bin="$dir/vault"

log() { printf '== %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

log "building Vault $version into $bin; cold, this takes about 10 minutes"
mkdir -p "$dir"
# Build to a temporary name in the same directory and rename it into place,
# so an interrupted build never leaves a file that looks complete.
tmp="$(mktemp "$dir/vault.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
# -mod=mod: Vault's dependency graph needs the replace directives in
# tools/vault/go.mod; go.sum there pins every module.
(cd tools/vault && GOFLAGS=-mod=mod go build -mod=mod -o "$tmp" .)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
log "Vault built in $((SECONDS - start)) s"
echo "$bin"
