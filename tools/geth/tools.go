//go:build tools

// Package tools pins the devnet's execution client, geth, so that go.mod and
// go.sum record every module it needs and scripts/build-devnet.sh builds it
// reproducibly with -mod=mod. It is a module of its own because the geth
// release that runs Prague and Osaka (v1.17) conflicts with the go-ethereum
// library version Prysm pins (tools/devnet). The build tag keeps this file out
// of every build; `go mod tidy` still follows the import.
package tools

import (
	_ "github.com/ethereum/go-ethereum/cmd/geth"
)
