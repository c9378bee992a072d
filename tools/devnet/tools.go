//go:build tools

// Package tools pins the devnet's command binaries (geth, Prysm's beacon-chain,
// prysmctl and validator) so that go.mod and go.sum record every module they
// need and scripts/build-devnet.sh builds them reproducibly with -mod=mod. The
// build tag keeps this file out of every build: main packages are not
// importable, but `go mod tidy` still follows these imports.
package tools

import (
	_ "github.com/ethereum/go-ethereum/cmd/geth"
	_ "github.com/prysmaticlabs/prysm/v5/cmd/beacon-chain"
	_ "github.com/prysmaticlabs/prysm/v5/cmd/prysmctl"
	_ "github.com/prysmaticlabs/prysm/v5/cmd/validator"
)
