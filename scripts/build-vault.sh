#!/usr/bin/env bash
# Builds HashiCorp Vault (the version pinned by tools/vault/go.mod and go.sum)
# from the Go module proxy into a cache directory outside the checkout, keyed
# by version, and prints the binary's path. The integration tests run it as
# `vault server -dev`. A binary already in the cache is reused.
#
# It is upstream's minimal build (the `minimal` tag, what Vault's Makefile
# builds with BUILD_MINIMAL=1): the whole server core with in-memory and Raft
# storage, the token, AppRole, userpass, cert and JWT/OIDC auth methods and the
# KV, PKI, SSH and transit secrets engines, but no cloud auth methods, database
# plugins or other storage backends. vigil uses only tokens, AppRole and KV v2.
# The full build pulled in every cloud SDK: a 500 MB binary and 16 minutes of
# compiling on 2 cores (8 for this one; 10 with a cold module download), most of
# a cold `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v1.21.1"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/vault-$version-minimal"
bin="$dir/vault"

log() { printf '== %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

log "building Vault $version (minimal) into $bin; cold, this takes about 10 minutes on 2 cores"
mkdir -p "$dir"
# Build to a temporary name in the same directory and rename it into place,
# so an interrupted build never leaves a file that looks complete.
tmp="$(mktemp "$dir/vault.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
# -mod=mod: Vault's dependency graph needs the replace directives in
# tools/vault/go.mod; go.sum there pins every module. -s -w: a test server
# needs no symbol table or DWARF, and the link is faster without them.
(cd tools/vault && GOFLAGS=-mod=mod go build -mod=mod -tags minimal -trimpath -ldflags='-s -w' -o "$tmp" .)
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
log "Vault built in $((SECONDS - start)) s"
echo "$bin"
