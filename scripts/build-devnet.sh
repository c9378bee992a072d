#!/usr/bin/env bash
# Builds the local devnet's programs -- geth, Prysm's beacon-chain, prysmctl and
# validator -- from the Go module proxy, pinned by tools/devnet/go.mod and
# go.sum, into a cache directory outside the checkout keyed by version, and
# prints that directory. An earlier build is reused when it is complete and was
# made from the same go.mod and go.sum (recorded in its build-stamp file).
# Cold (empty module and build caches) this takes 8 to 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

version="prysm-v5.3.0"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/devnet-$version"
bins=(geth beacon-chain prysmctl validator)
pkgs=(
	github.com/ethereum/go-ethereum/cmd/geth
	github.com/prysmaticlabs/prysm/v5/cmd/beacon-chain
	github.com/prysmaticlabs/prysm/v5/cmd/prysmctl
	github.com/prysmaticlabs/prysm/v5/cmd/validator
)

log() { printf '== %s\n' "$*" >&2; }

stamp="$(cat tools/devnet/go.mod tools/devnet/go.sum | sha256sum | cut -d' ' -f1)"

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

log "building the devnet binaries (${bins[*]}) into $dir; cold, this takes about 8 minutes"
mkdir -p "$(dirname "$dir")"
# Build into a temporary sibling and rename it into place, so that an
# interrupted build never leaves a directory that looks complete.
tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# -o with a directory and several main packages writes one binary per package,
# named after its directory; one invocation shares the compile graph.
(cd tools/devnet && go build -mod=mod -trimpath -o "$tmp/" "${pkgs[@]}")
echo "$stamp" >"$tmp/build-stamp"
complete "$tmp" || { log "build finished without all of ${bins[*]} in $tmp"; exit 1; }

# An incomplete or outdated leftover is replaced; a concurrent build that
# finished first wins and ours is discarded.
complete "$dir" || rm -rf "$dir"
mv -T "$tmp" "$dir" 2>/dev/null || complete "$dir"
log "devnet binaries built in $((SECONDS - start)) s"
echo "$dir"
