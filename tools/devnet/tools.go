//go:build tools

// Package tools pins the devnet's consensus binaries (Prysm's beacon-chain,
// prysmctl and validator) so that go.mod and go.sum record every module they
// need and scripts/build-devnet.sh builds them reproducibly with -mod=mod. The
// build tag keeps this file out of every build: main packages are not
// importable, but `go mod tidy` still follows these imports. geth has its own
// module, tools/geth: its version conflicts with Prysm's go-ethereum pin.
package tools

import (
	_ "github.com/OffchainLabs/prysm/v7/cmd/beacon-chain"
	_ "github.com/OffchainLabs/prysm/v7/cmd/prysmctl"
	_ "github.com/OffchainLabs/prysm/v7/cmd/validator"
)
