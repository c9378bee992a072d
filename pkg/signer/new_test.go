package signer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

func TestNew(t *testing.T) {
	ctx := context.Background()
	sp := *chaintest.Spec(genesis)
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
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), quiet}
		}, nil, ""},
		{"missing database", func(*slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithChain(chaintest.Fixed(sp))}
		}, signer.ErrMissingOption, "WithSlashingDB"},
		{"missing chain", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db)}
		}, signer.ErrMissingOption, "WithChain"},
		{"genesis validators root differs from the database's", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(other))}
		}, slashprotect.ErrWrongNetwork, "another network"},
		{"key whose secret is not its pubkey", func(db *slashprotect.DB) []signer.Option {
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(bad)}
		}, signer.ErrKeyMismatch, ""},
		{"invalid chain spec", func(db *slashprotect.DB) []signer.Option {
			broken := sp
			broken.SlotsPerEpoch = 0
			return []signer.Option{signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(broken))}
		}, chain.ErrSpec, "SLOTS_PER_EPOCH"},
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
		s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), quiet)
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
	sp := *chaintest.Spec(genesis)
	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	_, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(bad))
	require.ErrorIs(t, err, signer.ErrKeyMismatch)
	require.NotContains(t, err.Error(), secretHex)

	s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(k),
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

// TestWithoutSlashingDB is the exit command's signer: it signs exits and
// never a block or attestation.
func TestWithoutSlashingDB(t *testing.T) {
	ctx := context.Background()
	sp := *chaintest.Spec(genesis)
	k := signertest.Key(t, 0)
	s, err := signer.New(ctx, signer.WithoutSlashingDB(), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(k),
		signer.WithLogger(slog.New(slog.DiscardHandler)), signer.WithClock(func() time.Time { return genesis.Add(time.Hour) }))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.SignVoluntaryExit(ctx, k.Pubkey, &phase0.VoluntaryExit{Epoch: 7, ValidatorIndex: 3})
	require.NoError(t, err)
	_, err = s.SignAttestation(ctx, k.Pubkey, att(sp, 16, 1, 1))
	require.ErrorIs(t, err, signer.ErrNoSlashingDB)
	_, err = s.SignBeaconBlock(ctx, k.Pubkey, &phase0.BeaconBlock{Slot: 2, Body: &phase0.BeaconBlockBody{}})
	require.ErrorIs(t, err, signer.ErrNoSlashingDB)

	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	_, err = signer.New(ctx, signer.WithoutSlashingDB(), signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)))
	require.ErrorContains(t, err, "exclude each other")
}
