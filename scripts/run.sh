#!/usr/bin/env bash
# vigil's main job on a local default: a throw-away devnet (geth + Prysm's
# beacon node, built once from the Go module proxy and cached), on Fulu from
# genesis as mainnet is, whose genesis validators are 64 keys vigil generates
# (0x00, 0x01 and 0x02 withdrawal credentials, one 0x02 validator with 64 ETH),
# with `vigil validator run` validating on it and logging every duty live.
# Ctrl-C stops everything; state and logs stay in .vigil-demo/devnet/.
set -euo pipefail
cd "$(dirname "$0")/.."

export VIGIL_DEVNET_BIN_DIR="$(scripts/build-devnet.sh)"
[ -x bin/vigil ] || go build -o bin/vigil ./cmd/vigil
exec go run ./cmd/devnet "$@"
