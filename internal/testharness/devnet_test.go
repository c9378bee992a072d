package testharness

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/internal/devnet"
)

const gwei = 1_000_000_000

// TestDevnetDepositDataFile checks that the genesis validators come from a
// staking-deposit-cli file signed for the devnet's GENESIS_FORK_VERSION, that
// a deposit signed for another fork version is left out, and that a chain on
// Fulu from genesis (`make run`'s) makes blocks.
func TestDevnetDepositDataFile(t *testing.T) {
	if testing.Short() {
		t.Skip("DEVNET TEST NOT RUN in -short mode: it runs a chain for about two minutes")
	}
	bins := DevnetBinaries(t)
	require.NoError(t, blsinit.Init())
	const n = 8
	// 0x01 credentials for an address that no interop genesis would produce.
	creds := make([]byte, 32)
	creds[0] = 0x01
	copy(creds[12:], bytesOf(t, "5ca1ab1e000000000000000000000000000000e2"))

	// Interop key 0's public key, as listed in Prysm's and Lighthouse's
	// interop key tests, pins the derivation the deposits below rely on.
	require.Equal(t, "a99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
		hex.EncodeToString(interopKey(t, 0).GetPublicKey().Serialize()))

	var entries []depositJSON
	for i := range n {
		entries = append(entries, makeDeposit(t, interopKey(t, i), creds, 32*gwei, devnet.GenesisForkVersion))
	}
	// Signed over mainnet's genesis fork version: prysmctl must drop it.
	entries = append(entries, makeDeposit(t, interopKey(t, n), creds, 32*gwei, [4]byte{}))
	depositFile := filepath.Join(t.TempDir(), "deposit_data.json")
	b, err := json.Marshal(entries)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(depositFile, b, 0o600))

	// One node is up in about 10 s: half the default genesis delay is
	// plenty, and StartDevnetWith retries with a longer one if not.
	cfg := DevnetConfig{Binaries: bins, DepositDataFile: depositFile, FuluAtGenesis: true, GenesisDelay: devnet.DefaultGenesisDelay / 2}
	d := StartDevnetWith(t, cfg, func(d *Devnet) (func(), error) {
		ctx, cancel := context.WithDeadline(t.Context(), d.GenesisTime)
		defer cancel()
		// Prysm serves the genesis state before genesis, so the validator
		// set is checked before any client runs.
		vals := getData[[]validatorJSON](t, ctx, d.BeaconURLs[0]+"/eth/v1/beacon/states/genesis/validators")
		require.Len(t, vals, n)
		for i, v := range vals {
			require.Equal(t, fmt.Sprint(i), v.Index)
			require.Equal(t, entries[i].PubKey, strings.TrimPrefix(v.Validator.Pubkey, "0x"))
			require.Equal(t, hex.EncodeToString(creds), strings.TrimPrefix(v.Validator.WithdrawalCredentials, "0x"))
			require.Contains(t, []string{"pending_initialized", "active_ongoing"}, v.Status)
		}
		_, err := d.StartPrysmValidator(t.Context(), PrysmValidatorConfig{Count: n})
		return func() {}, err
	})
	require.Equal(t, devnet.FuluFromGenesis, d.Schedule)
	ctx, cancel := context.WithDeadline(t.Context(), d.EpochStart(1))
	defer cancel()
	// StartDevnetWith returned devnet.GenesisSettleSlots into the chain:
	// blocks are there, on Fulu.
	fork, err := d.HeadFork(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, devnet.ForkFulu, fork.Fork)
	require.Equal(t, uint64(0), fork.Epoch)
	require.Eventually(t, func() bool { return headSlot(t, ctx, d.BeaconURLs[0]) >= 1 }, 4*devnet.SecondsPerSlot*time.Second,
		time.Second, "a block on a chain on Fulu from genesis")
	head, err := d.Head(ctx, 0)
	require.NoError(t, err)
	require.False(t, head.ELOffline, "el_offline with the deposit contract in geth's genesis")
}

// validatorJSON is one entry of /eth/v1/beacon/states/{state}/validators.
type validatorJSON struct {
	Index     string `json:"index"`
	Balance   string `json:"balance"`
	Status    string `json:"status"`
	Validator struct {
		Pubkey                string `json:"pubkey"`
		WithdrawalCredentials string `json:"withdrawal_credentials"`
		EffectiveBalance      string `json:"effective_balance"`
	} `json:"validator"`
}

// headSlot is the slot of the node's head block.
func headSlot(t *testing.T, ctx context.Context, base string) uint64 {
	t.Helper()
	head := getData[struct {
		Header struct {
			Message struct {
				Slot string `json:"slot"`
			} `json:"message"`
		} `json:"header"`
	}](t, ctx, base+"/eth/v1/beacon/headers/head")
	slot, err := strconv.ParseUint(head.Header.Message.Slot, 10, 64)
	require.NoError(t, err)
	return slot
}

// getData polls a Beacon API GET until it answers 200 and returns its "data".
func getData[T any](t *testing.T, ctx context.Context, url string) T {
	t.Helper()
	var out struct {
		Data T `json:"data"`
	}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				require.NoError(t, err, "decode %s", url)
				return out.Data
			}
			last = resp.Status
			resp.Body.Close()
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v (last answer: %s)", url, ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// depositJSON is one entry of a staking-deposit-cli deposit_data file.
type depositJSON struct {
	PubKey                string `json:"pubkey"`
	WithdrawalCredentials string `json:"withdrawal_credentials"`
	Amount                uint64 `json:"amount"`
	Signature             string `json:"signature"`
	DepositMessageRoot    string `json:"deposit_message_root"`
	DepositDataRoot       string `json:"deposit_data_root"`
	ForkVersion           string `json:"fork_version"`
	NetworkName           string `json:"network_name"`
	DepositCLIVersion     string `json:"deposit_cli_version"`
}

// interopKey is Prysm's deterministic interop key i: sha256 of i as a 32-byte
// little-endian integer, read little-endian and reduced mod r
// (prysm runtime/interop/generate_keys.go).
func interopKey(t *testing.T, i int) *bls.SecretKey {
	t.Helper()
	var in [32]byte
	binary.LittleEndian.PutUint32(in[:], uint32(i))
	h := sha256.Sum256(in[:])
	var sk bls.SecretKey
	require.NoError(t, sk.SetLittleEndianMod(h[:]))
	return &sk
}

// makeDeposit builds a deposit of amountGwei signed per consensus-specs
// phase0/beacon-chain.md "Deposits": the signing root of the DepositMessage
// under DOMAIN_DEPOSIT computed with forkVersion and a zero genesis
// validators root.
func makeDeposit(t *testing.T, sk *bls.SecretKey, creds []byte, amountGwei uint64, forkVersion [4]byte) depositJSON {
	t.Helper()
	var pk phase0.BLSPubKey
	copy(pk[:], sk.GetPublicKey().Serialize())
	amount := phase0.Gwei(amountGwei)
	msgRoot, err := (&phase0.DepositMessage{PublicKey: pk, WithdrawalCredentials: creds, Amount: amount}).HashTreeRoot()
	require.NoError(t, err)
	forkRoot, err := (&phase0.ForkData{CurrentVersion: forkVersion}).HashTreeRoot()
	require.NoError(t, err)
	var domain phase0.Domain
	copy(domain[:4], []byte{0x03, 0x00, 0x00, 0x00}) // DOMAIN_DEPOSIT
	copy(domain[4:], forkRoot[:28])
	signingRoot, err := (&phase0.SigningData{ObjectRoot: msgRoot, Domain: domain}).HashTreeRoot()
	require.NoError(t, err)
	var sig phase0.BLSSignature
	copy(sig[:], sk.SignByte(signingRoot[:]).Serialize())
	dataRoot, err := (&phase0.DepositData{PublicKey: pk, WithdrawalCredentials: creds, Amount: amount, Signature: sig}).HashTreeRoot()
	require.NoError(t, err)
	return depositJSON{
		PubKey:                hex.EncodeToString(pk[:]),
		WithdrawalCredentials: hex.EncodeToString(creds),
		Amount:                uint64(amount),
		Signature:             hex.EncodeToString(sig[:]),
		DepositMessageRoot:    hex.EncodeToString(msgRoot[:]),
		DepositDataRoot:       hex.EncodeToString(dataRoot[:]),
		ForkVersion:           hex.EncodeToString(forkVersion[:]),
		NetworkName:           "vigil-devnet",
		DepositCLIVersion:     "2.7.0",
	}
}

func bytesOf(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
