package signer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

var genesis = time.Unix(1_700_000_000, 0)

// env is one signer over a real SQLite slashing database in a temp dir.
type env struct {
	s  *signer.Signer
	db signer.SlashingDB
	// store is the database itself, for inspecting what was recorded.
	store *slashprotect.DB
	spec  chain.Spec
	clock *signertest.Clock
	obs   *signertest.Observer
	keys  []*keystore.Key
	pks   []phase0.BLSPubKey
}

type envConfig struct {
	keys int
	spec *chain.Spec
	// wrap lets a test put a fault injector in front of the database.
	wrap func(signer.SlashingDB) signer.SlashingDB
	opts []signer.Option
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	if cfg.keys == 0 {
		cfg.keys = 4
	}
	spec := *chaintest.Spec(genesis)
	if cfg.spec != nil {
		spec = *cfg.spec
	}
	store := signertest.OpenSQLite(t, spec.GenesisValidatorsRoot)
	var db signer.SlashingDB = store
	if cfg.wrap != nil {
		db = cfg.wrap(db)
	}
	e := &env{db: db, store: store, spec: spec, clock: signertest.NewClock(genesis), obs: signertest.NewObserver()}
	e.keys = signertest.Keys(t, cfg.keys)
	for _, k := range e.keys {
		e.pks = append(e.pks, k.Pubkey)
	}
	// The signer owns (and zeroes) the keys it is given, so it gets copies.
	given := signertest.Keys(t, cfg.keys)
	opts := append([]signer.Option{
		signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(spec)), signer.WithKeys(given...),
		signer.WithClock(e.clock.Now), signer.WithObserver(e.obs),
		signer.WithLogger(slog.New(slog.DiscardHandler)),
	}, cfg.opts...)
	s, err := signer.New(context.Background(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	e.s = s
	return e
}

// at moves the clock to the start of slot.
func (e *env) at(slot phase0.Slot) {
	e.clock.Set(genesis.Add(time.Duration(slot) * e.spec.SlotDuration))
}

// verify checks sig against the key's public key and a signing root the test
// computed by hand.
func verify(t *testing.T, pk phase0.BLSPubKey, root phase0.Root, sig phase0.BLSSignature) {
	t.Helper()
	var p bls.PublicKey
	require.NoError(t, p.Deserialize(pk[:]))
	var s bls.Sign
	require.NoError(t, s.Deserialize(sig[:]), "signature does not deserialise")
	require.True(t, s.VerifyByte(&p, root[:]), "signature does not verify against the independently computed signing root")
}

// att builds attestation data at slot with the given source and a target in
// the slot's epoch; tag varies the block root.
func att(spec chain.Spec, slot phase0.Slot, source phase0.Epoch, tag byte) *phase0.AttestationData {
	return &phase0.AttestationData{
		Slot:            slot,
		BeaconBlockRoot: phase0.Root{tag, 1},
		Source:          &phase0.Checkpoint{Epoch: source, Root: phase0.Root{tag, 2}},
		Target:          &phase0.Checkpoint{Epoch: phase0.Epoch(uint64(slot) / spec.SlotsPerEpoch), Root: phase0.Root{tag, 3}},
	}
}

// attRoot computes an attestation's signing root by hand.
func attRoot(t *testing.T, spec chain.Spec, v phase0.Version, d *phase0.AttestationData) phase0.Root {
	t.Helper()
	obj, err := d.HashTreeRoot()
	require.NoError(t, err)
	return handSigningRoot(obj, handDomain(spec.Domains.BeaconAttester, v, spec.GenesisValidatorsRoot))
}
