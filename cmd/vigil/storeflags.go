package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// keyStoreFlags are the flags that choose and configure the key store
// (Vault or a local directory). Placeholder: owned by the Vault store work.
func keyStoreFlags() []cli.Flag { return nil }

// openKeyStore opens the store named by kind ("vault" or "dir") with the
// settings from keyStoreFlags. Placeholder: owned by the Vault store work.
func openKeyStore(_ *cli.Context, _ *env, _ string) (keystore.Store, error) {
	return nil, errors.New("key stores are not wired yet")
}
