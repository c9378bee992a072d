package main

import (
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// Every flag name of every command. A flag is read only through these
// constants, so that the CLI, the config file and the docs spell it alike.
const (
	// Global.
	flagConfig    = "config"
	flagLogLevel  = "log-level"
	flagLogFormat = "log-format"
	flagDataDir   = "data-dir"

	// Shared by several commands.
	flagPubkey      = "pubkey"
	flagFormat      = "format"
	flagOut         = "out"
	flagYes         = "yes"
	flagNetwork     = "network"
	flagForkVersion = "fork-version"

	// Key stores.
	flagStore                  = "store"
	flagKeyStore               = "key-store"
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
	flagVaultAllowInsecureHTTP = "vault-allow-insecure-http"

	// keys generate, import, export.
	flagMnemonicFile           = "mnemonic-file"
	flagMnemonicPassphraseFile = "mnemonic-passphrase-file"
	flagStartIndex             = "start-index"
	flagCount                  = "count"
	flagWithdrawalAddress      = "withdrawal-address"
	flagWithdrawalType         = "withdrawal-type"
	flagAmount                 = "amount"
	flagDepositDir             = "deposit-dir"
	flagKeystoreDir            = "keystore-dir"
	flagKeystorePasswordFile   = "keystore-password-file"
	flagKeystores              = "keystores"
	flagPasswordFile           = "password-file"

	// slashing.
	flagSlashingDB            = "slashing-db"
	flagGenesisValidatorsRoot = "genesis-validators-root"
	flagMinimal               = "minimal"
	flagLimit                 = "limit"
	flagHorizonEpochs         = "horizon-epochs"
	flagSlotsPerEpoch         = "slots-per-epoch"
	flagGenesisTime           = "genesis-time"
	flagSecondsPerSlot        = "seconds-per-slot"
	flagForce                 = "force"

	// validator run and exit.
	flagBeaconNode            = "beacon-node"
	flagFeeRecipient          = "fee-recipient"
	flagGraffiti              = "graffiti"
	flagBuilder               = "builder"
	flagGasLimit              = "gas-limit"
	flagDoppelgangerEpochs    = "doppelganger-epochs"
	flagAllowLongGap          = "allow-long-gap"
	flagKeyPollInterval       = "key-poll-interval"
	flagMetricsAddress        = "metrics-address"
	flagMetricsValidatorLimit = "metrics-validator-limit"
	flagEnablePprof           = "enable-pprof"
	flagEpoch                 = "epoch"
	flagProposerConfig        = "proposer-config"
	flagBlockTimeout          = "block-production-timeout"
	flagSlashingPruneEpochs   = "slashing-prune-epochs"

	// status.
	flagInstance = "instance"
	flagEpochs   = "epochs"
)

// Key store kinds accepted by --store and --key-store.
const (
	kindVault = "vault"
	kindDir   = "dir"
	kindNone  = "none"
)

// envVigilVaultToken is the only vigil-specific way to pass a Vault token
// value. There is deliberately no --vault-token flag: a command line is
// visible to every user through ps and /proc. Vault's own variables are
// vaultstore's (Config.ApplyEnv).
const envVigilVaultToken = "VIGIL_VAULT_TOKEN"

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    flagConfig,
			Usage:   "YAML `FILE` whose top-level keys are flag names (e.g. `data-dir: /var/lib/vigil`)",
			EnvVars: cliutil.EnvVars(flagConfig),
		},
		cliutil.StringFlag(flagLogLevel, "log level: debug, info, warn or error", "info"),
		cliutil.StringFlag(flagLogFormat, "log format: text or json", "text"),
		cliutil.StringFlag(flagDataDir, "`DIR` for vigil's state (created 0700)", "~/.vigil"),
	}
}

// keyStoreFlags configure the key stores (a local directory or Vault).
func keyStoreFlags() []cli.Flag {
	return []cli.Flag{
		cliutil.StringFlag(flagKeysDir, "`DIR` of EIP-2335 keystores of the dir key store (default <data-dir>/keys)", ""),
		cliutil.StringFlag(flagVaultAddress, "Vault `URL` (default $"+vaultstore.EnvAddr+")", ""),
		cliutil.StringFlag(flagVaultTokenFile, "`FILE` (mode 0600) holding the Vault token, re-read when Vault rejects the token "+
			"(a Vault Agent sink); otherwise the token comes from $"+envVigilVaultToken+" or $"+vaultstore.EnvToken, ""),
		cliutil.StringFlag(flagVaultMount, "path of the KV version 2 secrets engine", vaultstore.DefaultMount),
		cliutil.StringFlag(flagVaultPrefix, "`PATH` inside the mount under which each key is a secret named by its public key", vaultstore.DefaultPrefix),
		cliutil.StringFlag(flagVaultNamespace, "Vault Enterprise `NAMESPACE` (default $"+vaultstore.EnvNamespace+")", ""),
		cliutil.StringFlag(flagVaultAppRoleRoleID, "log in with AppRole using this role `ID`", ""),
		cliutil.StringFlag(flagVaultAppRoleSecretFile, "`FILE` (mode 0600) holding the AppRole secret ID, read at every login", ""),
		cliutil.StringFlag(flagVaultAppRoleMount, "path of the AppRole auth method", vaultstore.DefaultAppRoleMount),
		cliutil.StringFlag(flagVaultCAFile, "PEM `FILE` of CA certificates that verify Vault's TLS certificate (default $"+vaultstore.EnvCACert+")", ""),
		cliutil.StringFlag(flagVaultClientCert, "PEM `FILE` with a TLS client certificate for Vault (default $"+vaultstore.EnvClientCert+")", ""),
		cliutil.StringFlag(flagVaultClientKey, "PEM `FILE` with the TLS client certificate's key (default $"+vaultstore.EnvClientKey+")", ""),
		cliutil.IntFlag(flagVaultParallelism, "Vault requests in flight while loading or listing keys", vaultstore.DefaultParallelism),
		cliutil.BoolFlag(flagVaultAllowInsecureHTTP, "accept a plain http:// --vault-address that is not loopback, sending the Vault token "+
			"and the keys unencrypted (labs only; use https:// or a Vault Agent on loopback)"),
	}
}

// slashingDBFlag chooses the slashing-protection database; every command that
// signs or administers slashing protection takes it.
func slashingDBFlag() cli.Flag {
	return cliutil.StringFlag(flagSlashingDB, "slashing-protection database: `URL` sqlite:///abs/path/file.db or postgres://... (default: sqlite://<data-dir>/slashing.db)", "")
}

// beaconNodeFlag and keyStoreKindFlag select the beacon nodes and the key
// stores of the commands that work on a running chain.
func beaconNodeFlag(usage string) cli.Flag { return cliutil.StringSliceFlag(flagBeaconNode, usage) }

func keyStoreKindFlag(usage string) cli.Flag { return cliutil.StringSliceFlag(flagKeyStore, usage) }

// yesFlag is command line only, unlike every other flag: a --yes left in a
// config file or the environment would confirm every irreversible action.
func yesFlag(usage string) cli.Flag { return &cli.BoolFlag{Name: flagYes, Usage: usage} }
