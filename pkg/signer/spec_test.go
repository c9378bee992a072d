package signer_test

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// beaconSpec is what go-eth2-client's Spec() returns for the test chain:
// versions as phase0.Version, epochs and counts as uint64, durations as
// time.Duration, domains as phase0.DomainType (its parseSpecString).
func beaconSpec() map[string]any {
	sp := signertest.ChainSpec(genesis)
	d := sp.Domains
	return map[string]any{
		"CONFIG_NAME":                           "vigil-test",
		"GENESIS_FORK_VERSION":                  sp.GenesisForkVersion,
		"SECONDS_PER_SLOT":                      3 * time.Second,
		"SLOTS_PER_EPOCH":                       uint64(8),
		"ALTAIR_FORK_VERSION":                   sp.Altair.Version,
		"ALTAIR_FORK_EPOCH":                     uint64(1),
		"BELLATRIX_FORK_VERSION":                sp.Bellatrix.Version,
		"BELLATRIX_FORK_EPOCH":                  uint64(2),
		"CAPELLA_FORK_VERSION":                  sp.Capella.Version,
		"CAPELLA_FORK_EPOCH":                    uint64(3),
		"DENEB_FORK_VERSION":                    sp.Deneb.Version,
		"DENEB_FORK_EPOCH":                      phase0.Epoch(4),
		"ELECTRA_FORK_VERSION":                  sp.Electra.Version,
		"ELECTRA_FORK_EPOCH":                    uint64(5),
		"FULU_FORK_VERSION":                     sp.Fulu.Version,
		"FULU_FORK_EPOCH":                       uint64(6),
		"DOMAIN_BEACON_PROPOSER":                d.BeaconProposer,
		"DOMAIN_BEACON_ATTESTER":                d.BeaconAttester,
		"DOMAIN_RANDAO":                         d.Randao,
		"DOMAIN_DEPOSIT":                        d.Deposit,
		"DOMAIN_VOLUNTARY_EXIT":                 d.VoluntaryExit,
		"DOMAIN_SELECTION_PROOF":                d.SelectionProof,
		"DOMAIN_AGGREGATE_AND_PROOF":            d.AggregateAndProof,
		"DOMAIN_SYNC_COMMITTEE":                 d.SyncCommittee,
		"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF": d.SyncCommitteeSelectionProof,
		"DOMAIN_CONTRIBUTION_AND_PROOF":         d.ContributionAndProof,
		"DOMAIN_APPLICATION_BUILDER":            d.ApplicationBuilder,
	}
}

func TestChainSpecFromBeacon(t *testing.T) {
	sp := signertest.ChainSpec(genesis)
	gen := &apiv1.Genesis{GenesisTime: genesis, GenesisValidatorsRoot: sp.GenesisValidatorsRoot, GenesisForkVersion: sp.GenesisForkVersion}
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		genesis *apiv1.Genesis
		want    func(c *signer.ChainSpec)
		errHas  string
	}{
		{name: "complete"},
		{name: "fulu unknown to the node", edit: func(m map[string]any) {
			delete(m, "FULU_FORK_VERSION")
			delete(m, "FULU_FORK_EPOCH")
		}, want: func(c *signer.ChainSpec) { c.Fulu = signer.Fork{Epoch: signer.FarFutureEpoch} }},
		{name: "unscheduled fork as max uint64", edit: func(m map[string]any) {
			m["FULU_FORK_EPOCH"] = uint64(18446744073709551615)
		}, want: func(c *signer.ChainSpec) { c.Fulu.Epoch = signer.FarFutureEpoch }},
		{name: "builder domain defaults", edit: func(m map[string]any) { delete(m, "DOMAIN_APPLICATION_BUILDER") }},
		{name: "epoch as decimal string", edit: func(m map[string]any) { m["ALTAIR_FORK_EPOCH"] = "1" }},
		{name: "missing SECONDS_PER_SLOT", edit: func(m map[string]any) { delete(m, "SECONDS_PER_SLOT") }, errHas: "SECONDS_PER_SLOT is missing"},
		{name: "missing SLOTS_PER_EPOCH", edit: func(m map[string]any) { delete(m, "SLOTS_PER_EPOCH") }, errHas: "SLOTS_PER_EPOCH is missing"},
		{name: "missing attester domain", edit: func(m map[string]any) { delete(m, "DOMAIN_BEACON_ATTESTER") }, errHas: "DOMAIN_BEACON_ATTESTER is missing"},
		{name: "mistyped domain", edit: func(m map[string]any) { m["DOMAIN_RANDAO"] = "0x02000000" }, errHas: "DOMAIN_RANDAO has type string"},
		{name: "version without epoch", edit: func(m map[string]any) { delete(m, "DENEB_FORK_EPOCH") }, errHas: "DENEB_FORK_VERSION and DENEB_FORK_EPOCH"},
		{name: "forks out of order", edit: func(m map[string]any) { m["CAPELLA_FORK_EPOCH"] = uint64(9) }, errHas: "deneb fork epoch 4 is before capella"},
		{name: "genesis version disagrees", edit: func(m map[string]any) { m["GENESIS_FORK_VERSION"] = phase0.Version{9} }, errHas: "differs from genesis fork version"},
		{name: "empty genesis", genesis: &apiv1.Genesis{}, edit: func(m map[string]any) { delete(m, "GENESIS_FORK_VERSION") }, errHas: "genesis time is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := maps.Clone(beaconSpec())
			if tc.edit != nil {
				tc.edit(m)
			}
			g := gen
			if tc.genesis != nil {
				g = tc.genesis
			}
			got, err := signer.ChainSpecFromBeacon(m, g)
			if tc.errHas != "" {
				require.ErrorIs(t, err, signer.ErrChainSpec)
				require.Contains(t, strings.ToLower(err.Error()), strings.ToLower(tc.errHas))
				return
			}
			require.NoError(t, err)
			want := signertest.ChainSpec(genesis)
			if tc.want != nil {
				tc.want(&want)
			}
			require.Equal(t, want, got)
		})
	}
}

func TestNew(t *testing.T) {
	ctx := context.Background()
	sp := signertest.ChainSpec(genesis)
	other := sp
	other.GenesisValidatorsRoot = phase0.Root{0xde, 0xad}
	bad := signertest.Key(t, 1)
	bad.Pubkey = signertest.Key(t, 2).Pubkey
	quiet := signer.WithLogger(slog.New(slog.DiscardHandler))
	tests := []struct {
		name   string
		opts   func(db *slashprotect.DB) []signer.Option
		want   error
		errHas string
	}{
		{"ok", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChainSpec(sp), quiet}
		}, nil, ""},
		{"missing database", func(*slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithChainSpec(sp)}
		}, signer.ErrMissingOption, "WithSlashingDB"},
		{"missing chain spec", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db)}
		}, signer.ErrMissingOption, "WithChainSpec"},
		{"genesis validators root differs from the database's", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChainSpec(other)}
		}, slashprotect.ErrWrongNetwork, "another network"},
		{"key whose secret is not its pubkey", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChainSpec(sp), signer.WithKeys(bad)}
		}, signer.ErrKeyMismatch, ""},
		{"invalid chain spec", func(db *slashprotect.DB) []signer.Option {
			broken := sp
			broken.SlotsPerEpoch = 0
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChainSpec(broken)}
		}, signer.ErrChainSpec, "SLOTS_PER_EPOCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
			s, err := signer.New(ctx, tc.opts(db)...)
			if tc.want == nil {
				require.NoError(t, err)
				require.NoError(t, s.Close())
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.errHas)
			require.Nil(t, s)
		})
	}
	t.Run("records the root in a fresh database", func(t *testing.T) {
		db, err := slashprotect.Open(ctx, "sqlite://"+t.TempDir()+"/fresh.db")
		require.NoError(t, err)
		defer db.Close()
		s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChainSpec(sp), quiet)
		require.NoError(t, err)
		defer s.Close()
		root, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, sp.GenesisValidatorsRoot, root)
	})
}

// TestKeys covers adding and removing keys at runtime and zeroing.
func TestKeys(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{keys: 2})
	e.at(8)
	require.Equal(t, 2, len(e.s.Pubkeys()))

	added := signertest.Key(t, 5)
	require.NoError(t, e.s.AddKeys(added))
	require.True(t, e.s.HasKey(added.Pubkey))
	_, err := e.s.SignRANDAOReveal(ctx, added.Pubkey, 1)
	require.NoError(t, err, "a key added at runtime signs")

	dup := signertest.Key(t, 5)
	dupSecret := dup.Secret
	require.NoError(t, e.s.AddKeys(dup))
	require.True(t, dupSecret.IsZero(), "a duplicate is zeroed, the held key kept")
	require.False(t, added.Secret.IsZero())

	addedSecret := added.Secret
	require.Equal(t, 1, e.s.RemoveKeys(added.Pubkey, phase0.BLSPubKey{0x01}))
	require.True(t, addedSecret.IsZero(), "a removed key is zeroed")
	require.False(t, e.s.HasKey(added.Pubkey))
	_, err = e.s.SignRANDAOReveal(ctx, added.Pubkey, 1)
	require.ErrorIs(t, err, signer.ErrUnknownKey)
	_, err = e.s.SignAttestation(ctx, added.Pubkey, att(e.spec, 8, 0, 1))
	require.ErrorIs(t, err, signer.ErrUnknownKey)

	held := e.s.Pubkeys()
	require.NoError(t, e.s.Close())
	require.Empty(t, e.s.Pubkeys())
	_, err = e.s.SignAttestation(ctx, held[0], att(e.spec, 8, 0, 1))
	require.ErrorIs(t, err, signer.ErrClosed)
	require.ErrorIs(t, e.s.AddKeys(signertest.Key(t, 9)), signer.ErrClosed)
}

// TestSecretsStayOut checks that no error or log line names a secret.
func TestSecretsStayOut(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	k := signertest.Key(t, 0)
	secretHex := k.Secret.SerializeToHexStr()
	bad := signertest.Key(t, 0)
	bad.Pubkey = signertest.Key(t, 1).Pubkey
	sp := signertest.ChainSpec(genesis)
	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	_, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChainSpec(sp), signer.WithKeys(bad))
	require.ErrorIs(t, err, signer.ErrKeyMismatch)
	require.NotContains(t, err.Error(), secretHex)

	s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChainSpec(sp), signer.WithKeys(k),
		signer.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		signer.WithClock(func() time.Time { return genesis.Add(time.Minute) }))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.SignAttestation(ctx, k.Pubkey, att(sp, 16, 0, 1))
	require.NoError(t, err)
	_, err = s.SignAttestation(ctx, k.Pubkey, att(sp, 16, 0, 2))
	require.Error(t, err)
	require.NotContains(t, err.Error(), secretHex)
	require.NotContains(t, logs.String(), secretHex)
	require.NotEmpty(t, logs.String())
}
