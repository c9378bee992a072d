package slashprotect_test

import (
	"context"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

// TestImportBesideSigner moves a key's history into a database that a
// running signer holds: the import goes in beside it, the signer's next
// check sees the imported record, and the import's handle never signs.
func TestImportBesideSigner(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": sqliteURL, "postgres": testharness.Postgres} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := url(t)
			root := phase0.Root{0x11}
			signing, err := slashprotect.Open(ctx, u, slashprotect.WithGenesisValidatorsRoot(root))
			require.NoError(t, err)
			defer signing.Close()

			_, err = slashprotect.Open(ctx, u, slashprotect.WithExclusiveAccess())
			require.ErrorIs(t, err, slashprotect.ErrInUse, "an administrative command still waits for the signer to stop")

			beside, err := slashprotect.Open(ctx, u, slashprotect.WithImportBesideSigner())
			require.NoError(t, err)
			pk := phase0.BLSPubKey{0xaa}
			doc := slashprotecttest.Doc(root, slashprotecttest.IV{PK: pk, Atts: []slashprotecttest.IA{{Source: 1, Target: 2, Root: 5}}})
			rep, err := beside.Import(ctx, strings.NewReader(doc), slashprotect.ImportOptions{Force: true})
			require.NoError(t, err)
			require.Equal(t, 1, rep.NewAttestations)
			_, err = beside.CheckAndRecordBlock(ctx, slashprotect.BlockRequest{Pubkey: pk, Slot: 100})
			require.ErrorIs(t, err, slashprotect.ErrImportOnly)
			require.NoError(t, beside.Close())

			v, err := signing.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{
				{Pubkey: pk, SourceEpoch: 1, TargetEpoch: 2, SigningRoot: phase0.Root{9}},
			})
			require.NoError(t, err)
			require.False(t, v[0].Allowed, "the imported vote protects the key in the running signer")
			require.ErrorIs(t, v[0].Err(), slashprotect.ErrDoubleVote)
		})
	}
}
