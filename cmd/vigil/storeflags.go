package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// Key store kinds accepted by openKeyStore.
const (
	kindVault = "vault"
	kindDir   = "dir"
)

const (
	flagKeysDir                = "keys-dir"
	flagVaultAddress           = "vault-address"
	flagVaultTokenFile         = "vault-token-file"
	flagVaultMount             = "vault-mount"
	flagVaultPrefix            = "vault-prefix"
	flagVaultNamespace         = "vault-namespace"
	flagVaultAppRoleRoleID     = "vault-approle-role-id"
	flagVaultAppRoleSecretFile = "vault-approle-secret-id-file"
	flagVaultAppRoleMount      = "vault-approle-mount"
	flagVaultCAFile            = "vault-ca-file"
	flagVaultClientCert        = "vault-client-cert"
	flagVaultClientKey         = "vault-client-key"
	flagVaultParallelism       = "vault-parallelism"
)

// Vault's own environment variables, honoured when the matching vigil flag,
// VIGIL_* variable and config key are all unset.
const (
	envVaultAddr       = "VAULT_ADDR"
	envVaultToken      = "VAULT_TOKEN"
	envVaultNamespace  = "VAULT_NAMESPACE"
	envVaultCACert     = "VAULT_CACERT"
	envVaultClientCert = "VAULT_CLIENT_CERT"
	envVaultClientKey  = "VAULT_CLIENT_KEY"
	// envVigilVaultToken is the only vigil-specific way to pass a token value.
	// There is deliberately no --vault-token flag: a command line is visible
	// to every user through ps and /proc.
	envVigilVaultToken = "VIGIL_VAULT_TOKEN"
)

// keyStoreFlags are the flags that configure the key stores (a local
// directory or Vault); the command's --store flag chooses between them.
func keyStoreFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag(flagKeysDir, "`DIR` of EIP-2335 keystores of the dir key store (default <data-dir>/keys)", ""),
		stringFlag(flagVaultAddress, "Vault `URL` (default $"+envVaultAddr+")", ""),
		stringFlag(flagVaultTokenFile, "`FILE` (mode 0600) holding the Vault token, re-read when Vault rejects the token "+
			"(a Vault Agent sink); otherwise the token comes from $"+envVigilVaultToken+" or $"+envVaultToken, ""),
		stringFlag(flagVaultMount, "path of the KV version 2 secrets engine", vaultstore.DefaultMount),
		stringFlag(flagVaultPrefix, "`PATH` inside the mount under which each key is a secret named by its public key", vaultstore.DefaultPrefix),
		stringFlag(flagVaultNamespace, "Vault Enterprise `NAMESPACE` (default $"+envVaultNamespace+")", ""),
		stringFlag(flagVaultAppRoleRoleID, "log in with AppRole using this role `ID`", ""),
		stringFlag(flagVaultAppRoleSecretFile, "`FILE` (mode 0600) holding the AppRole secret ID, read at every login", ""),
		stringFlag(flagVaultAppRoleMount, "path of the AppRole auth method", vaultstore.DefaultAppRoleMount),
		stringFlag(flagVaultCAFile, "PEM `FILE` of CA certificates that verify Vault's TLS certificate (default $"+envVaultCACert+")", ""),
		stringFlag(flagVaultClientCert, "PEM `FILE` with a TLS client certificate for Vault (default $"+envVaultClientCert+")", ""),
		stringFlag(flagVaultClientKey, "PEM `FILE` with the TLS client certificate's key (default $"+envVaultClientKey+")", ""),
		intFlag(flagVaultParallelism, "Vault requests in flight while loading or listing keys", vaultstore.DefaultParallelism),
	}
}

// openKeyStore opens the store named by kind ("vault" or "dir") with the
// settings from keyStoreFlags. A Vault store renews its token for as long as
// the command runs.
func openKeyStore(c *cli.Context, e *env, kind string) (keystore.Store, error) {
	switch kind {
	case kindDir:
		dir := c.String(flagKeysDir)
		if dir == "" {
			dir = filepath.Join(e.DataDir, "keys")
		}
		dir, err := expandHome(dir)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagKeysDir, err)
		}
		s, err := dirstore.New(dir)
		if err != nil {
			return nil, fmt.Errorf("open key directory: %w", err)
		}
		return s, nil
	case kindVault:
		cfg, err := vaultConfig(c)
		if err != nil {
			return nil, err
		}
		s, err := vaultstore.New(c.Context, cfg, vaultstore.WithLogger(e.Log))
		if err != nil {
			return nil, fmt.Errorf("open Vault key store: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown key store %q: want %s or %s", kind, kindVault, kindDir)
	}
}

// vaultConfig gathers the Vault settings. VAULT_TOKEN is used only when no
// other credential is configured, so a token left in an operator's shell
// cannot silently win over the AppRole or token file in vigil's config.
func vaultConfig(c *cli.Context) (vaultstore.Config, error) {
	orEnv := func(flag, env string) string {
		if v := c.String(flag); v != "" {
			return v
		}
		return os.Getenv(env)
	}
	cfg := vaultstore.Config{
		Address:             orEnv(flagVaultAddress, envVaultAddr),
		Mount:               c.String(flagVaultMount),
		Prefix:              c.String(flagVaultPrefix),
		Namespace:           orEnv(flagVaultNamespace, envVaultNamespace),
		Token:               os.Getenv(envVigilVaultToken),
		TokenFile:           c.String(flagVaultTokenFile),
		AppRoleRoleID:       c.String(flagVaultAppRoleRoleID),
		AppRoleSecretIDFile: c.String(flagVaultAppRoleSecretFile),
		AppRoleMount:        c.String(flagVaultAppRoleMount),
		CAFile:              orEnv(flagVaultCAFile, envVaultCACert),
		ClientCert:          orEnv(flagVaultClientCert, envVaultClientCert),
		ClientKey:           orEnv(flagVaultClientKey, envVaultClientKey),
		Parallelism:         c.Int(flagVaultParallelism),
	}
	if cfg.Address == "" {
		return cfg, fmt.Errorf("--store vault needs Vault's address: set --%s or %s", flagVaultAddress, envVaultAddr)
	}
	if cfg.Token == "" && cfg.TokenFile == "" && cfg.AppRoleRoleID == "" && cfg.AppRoleSecretIDFile == "" {
		cfg.Token = os.Getenv(envVaultToken)
	}
	if cfg.Parallelism < 1 {
		return cfg, fmt.Errorf("--%s %d: want at least 1", flagVaultParallelism, cfg.Parallelism)
	}
	return cfg, nil
}
