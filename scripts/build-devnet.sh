#!/usr/bin/env bash
# Builds the local devnet's programs -- geth, Prysm's beacon-chain, prysmctl and
# validator -- from the Go module proxy, pinned by the go.mod and go.sum of
# tools/devnet (Prysm) and tools/geth (geth, a module of its own because its
# go-ethereum version conflicts with Prysm's library pin), into a cache
# directory outside the checkout keyed by version, and prints that directory.
# An earlier build is reused when it is complete and was made from the same
# go.mod and go.sum files (recorded in its build-stamp file).
# Cold (empty module and build caches) this takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep in step with devnet.ToolsVersion (internal/devnet/binaries.go) and the
# pins in tools/devnet/go.mod and tools/geth/go.mod; a test checks all three.
version="prysm-v7.1.2-geth-v1.17.10"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/devnet-$version"
bins=(geth beacon-chain prysmctl validator)
prysm_pkgs=(
	github.com/OffchainLabs/prysm/v7/cmd/beacon-chain
	github.com/OffchainLabs/prysm/v7/cmd/prysmctl
	github.com/OffchainLabs/prysm/v7/cmd/validator
)
geth_pkg=github.com/ethereum/go-ethereum/cmd/geth

log() { printf '== %s\n' "$*" >&2; }

stamp="$(cat tools/devnet/go.mod tools/devnet/go.sum tools/geth/go.mod tools/geth/go.sum | sha256sum | cut -d' ' -f1)"

complete() {
	local b
	for b in "${bins[@]}"; do
		[ -x "$1/$b" ] || return 1
	done
	[ "$(cat "$1/build-stamp" 2>/dev/null)" = "$stamp" ]
}

if complete "$dir"; then
	echo "$dir"
	exit 0
fi

# Prysm v7 pins a quic-go pseudo-version that the checksum database does not
# know; go.sum has its hash, but a cold module cache would still ask the
# database about it and fail. The module itself is served by the proxy.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/quic-go/quic-go"

log "building the devnet binaries (${bins[*]}) into $dir; cold, this takes about 15 minutes"
mkdir -p "$(dirname "$dir")"
# Build into a temporary sibling and rename it into place, so that an
# interrupted build never leaves a directory that looks complete.
tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# -o with a directory and several main packages writes one binary per package,
# named after its directory; one invocation shares the compile graph. The two
# modules are built one after the other: on two cores, in parallel they only
# fight over the CPU.
(cd tools/devnet && go build -mod=mod -trimpath -o "$tmp/" "${prysm_pkgs[@]}")
log "Prysm built in $((SECONDS - start)) s"
(cd tools/geth && go build -mod=mod -trimpath -o "$tmp/" "$geth_pkg")
echo "$stamp" >"$tmp/build-stamp"
complete "$tmp" || { log "build finished without all of ${bins[*]} in $tmp"; exit 1; }

# An incomplete or outdated leftover is replaced; a concurrent build that
# finished first wins and ours is discarded.
complete "$dir" || rm -rf "$dir"
mv -T "$tmp" "$dir" 2>/dev/null || complete "$dir"
log "devnet binaries built in $((SECONDS - start)) s"
echo "$dir"
