package testharness

import (
	"bytes"
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

// TestDevnetCrossesForks runs the chain the e2e test uses: two peered geth +
// beacon-chain pairs, starting at Deneb, which must enter Electra and Fulu
// while running, with blocks, attestations and finality carrying on across
// both boundaries and across the link between the nodes. The 64 genesis
// validators come from a deposit file with 0x00, 0x01 and 0x02 withdrawal
// credentials, one 0x02 validator deposited 64 ETH: after Electra its
// effective balance must be above 32 ETH (upgrade_to_electra queues a
// compounding validator's excess balance as a pending deposit). Prysm's
// validator client runs half the keys on each node, over gRPC and over the
// REST API. At the end the first node stops and the second carries on.
func TestDevnetCrossesForks(t *testing.T) {
	skipDevnetIfShort(t)
	bins := DevnetBinaries(t)
	require.NoError(t, blsinit.Init())
	const n, big = 64, 63
	addr := bytesOf(t, "5ca1ab1e000000000000000000000000000000e2")
	var entries []depositJSON
	for i := range n {
		sk := interopKey(t, i)
		creds := make([]byte, 32)
		amount := uint64(32 * gwei)
		switch {
		case i < n/2: // 0x00: the hash of a BLS withdrawal key (here the signing key's own)
			h := sha256.Sum256(sk.GetPublicKey().Serialize())
			copy(creds, h[:])
			creds[0] = 0x00
		case i < 3*n/4:
			creds[0] = 0x01
			copy(creds[12:], addr)
		default:
			creds[0] = 0x02
			copy(creds[12:], addr)
			if i == big {
				amount = 64 * gwei
			}
		}
		entries = append(entries, makeDeposit(t, sk, creds, amount, devnet.GenesisForkVersion))
	}
	depositFile := filepath.Join(t.TempDir(), "deposit_data.json")
	b, err := json.Marshal(entries)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(depositFile, b, 0o600))

	d := StartDevnetWithValidators(t, DevnetConfig{Binaries: bins, DepositDataFile: depositFile, BeaconNodes: 2},
		PrysmValidatorConfig{BeaconNode: 0, StartIndex: 0, Count: n / 2},
		PrysmValidatorConfig{BeaconNode: 1, StartIndex: n / 2, Count: n / 2, REST: true})
	require.Equal(t, devnet.CrossingForks, d.Schedule)
	require.Len(t, d.BeaconURLs, 2)
	ctx, cancel := context.WithDeadline(t.Context(), d.EpochStart(devnet.FuluForkEpoch+3))
	defer cancel()

	spec := getData[map[string]any](t, ctx, d.BeaconURLs[0]+"/eth/v1/config/spec")
	require.Equal(t, fmt.Sprint(devnet.SecondsPerSlot), spec["SECONDS_PER_SLOT"])
	require.Equal(t, fmt.Sprint(devnet.SlotsPerEpoch), spec["SLOTS_PER_EPOCH"])
	require.Equal(t, fmt.Sprint(devnet.ElectraForkEpoch), spec["ELECTRA_FORK_EPOCH"])
	require.Equal(t, fmt.Sprint(devnet.FuluForkEpoch), spec["FULU_FORK_EPOCH"])
	require.Equal(t, fmt.Sprint(devnet.ShardCommitteePeriod), spec["SHARD_COMMITTEE_PERIOD"])
	require.Equal(t, "0x20000089", spec["GENESIS_FORK_VERSION"])

	// Deneb caps the effective balance at 32 ETH; the balance is 64.
	genesisVals := getData[[]validatorJSON](t, ctx, d.BeaconURLs[0]+"/eth/v1/beacon/states/genesis/validators")
	require.Len(t, genesisVals, n)
	for i, v := range genesisVals {
		require.Equal(t, "0x"+entries[i].WithdrawalCredentials, v.Validator.WithdrawalCredentials, "validator %d", i)
	}
	require.Equal(t, fmt.Sprint(64*gwei), genesisVals[big].Balance)
	require.Equal(t, fmt.Sprint(32*gwei), genesisVals[big].Validator.EffectiveBalance)
	fork, err := d.HeadFork(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, devnet.ForkDeneb, fork.Fork)

	for _, want := range []struct {
		fork  devnet.Fork
		epoch uint64
		prev  [4]byte
	}{
		{devnet.ForkElectra, devnet.ElectraForkEpoch, devnet.DenebForkVersion},
		{devnet.ForkFulu, devnet.FuluForkEpoch, devnet.ElectraForkVersion},
	} {
		// The head state is at the new fork once a block of its epoch is
		// the head, a few slots into the epoch at the latest.
		waitUntil(ctx, t, d, d.EpochStart(want.epoch).Add(3*devnet.SecondsPerSlot*time.Second))
		for i := range d.BeaconURLs {
			fork, err := d.HeadFork(ctx, i)
			require.NoError(t, err)
			require.Equal(t, want.fork, fork.Fork, "node %d's head fork in epoch %d", i, want.epoch)
			require.Equal(t, want.epoch, fork.Epoch)
			require.Equal(t, want.prev, fork.PreviousVersion)
		}
		slot := headSlot(t, ctx, d.BeaconURLs[0])
		require.GreaterOrEqual(t, slot, want.epoch*devnet.SlotsPerEpoch, "the head block must be from the %s epoch", want.fork)
		t.Logf("%s at epoch %d: head slot %d, %s after genesis", want.fork, want.epoch, slot, time.Since(d.GenesisTime).Round(time.Second))

		if want.fork == devnet.ForkElectra {
			// Each node's own validators are half the stake; a node that saw
			// the other half attest in epoch 0 got their attestations over
			// the link. (Prysm serves liveness for the current and previous
			// epoch only.)
			for i := range d.BeaconURLs {
				live := liveness(t, ctx, d.BeaconURLs[i], 0, n)
				require.GreaterOrEqual(t, live, n*9/10, "node %d: validators seen live in epoch 0", i)
			}
			peers, err := d.PeerCount(ctx, 1)
			require.NoError(t, err)
			require.Equal(t, 1, peers, "node 1's peers")
		}
	}

	// Electra's first epoch transition credited the queued excess: the 0x02
	// validator's effective balance is its whole 64 ETH.
	heads := getData[[]validatorJSON](t, ctx, d.BeaconURLs[0]+"/eth/v1/beacon/states/head/validators?id="+fmt.Sprint(big))
	require.Len(t, heads, 1)
	require.Equal(t, fmt.Sprint(64*gwei), heads[0].Validator.EffectiveBalance, "effective balance of the 0x02 validator with 64 ETH after Electra")
	t.Logf("0x02 validator %d: balance %s, effective balance %s Gwei", big, heads[0].Balance, heads[0].Validator.EffectiveBalance)

	// Finality carries on across the forks: the first Fulu epoch is
	// finalized by attestations made on Fulu. (Nothing is finalized before
	// the end of epoch 3: justification starts with epoch 1, at the end of
	// epoch 2, and finalizing epoch 2 needs epoch 3 justified too.)
	cp, err := d.WaitForFinalizedEpoch(ctx, 0, devnet.FuluForkEpoch)
	require.NoError(t, err)
	t.Logf("finalized epoch %d (justified %d) %s after genesis", cp.Finalized, cp.CurrentJustified, time.Since(d.GenesisTime).Round(time.Second))
	logRSS(t, d)

	for i := range d.BeaconURLs {
		head, err := d.Head(ctx, i)
		require.NoError(t, err)
		// Not optimistic: geth validated every payload over the engine API.
		// Not el_offline: Prysm's deposit follower finds the deposit contract
		// (without it, it reports the execution client offline throughout).
		require.False(t, head.IsOptimistic, "node %d's head must be fully verified by geth", i)
		require.False(t, head.ELOffline, "node %d reports its execution client offline", i)
		require.LessOrEqual(t, head.SyncDistance, uint64(1))
	}
	h0, h1 := headSlot(t, ctx, d.BeaconURLs[0]), headSlot(t, ctx, d.BeaconURLs[1])
	require.InDelta(t, h0, h1, 1, "the nodes' heads must agree within a slot")

	require.NoError(t, d.StopBeaconNode(0))
	before := headSlot(t, ctx, d.BeaconURLs[1])
	// Node 1's validators propose about half the slots; four slots without a
	// new head would be a one-in-sixteen fluke, eight are effectively never.
	require.Eventually(t, func() bool {
		h, err := d.Head(ctx, 1)
		return err == nil && h.HeadSlot > before
	}, 8*devnet.SecondsPerSlot*time.Second, time.Second, "node 1's head must advance after node 0 stops")
	require.NoError(t, d.CheckRunning())
}

// TestDevnetDepositDataFile checks that the genesis validators come from a
// staking-deposit-cli file signed for the devnet's GENESIS_FORK_VERSION, that
// a deposit signed for another fork version is left out, and that a chain on
// Fulu from genesis (`make run`'s) makes blocks.
func TestDevnetDepositDataFile(t *testing.T) {
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

// waitUntil sleeps until at, failing early if a devnet process died.
func waitUntil(ctx context.Context, t *testing.T, d *Devnet, at time.Time) {
	t.Helper()
	for time.Now().Before(at) {
		require.NoError(t, d.CheckRunning())
		select {
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %v", at.Format(time.TimeOnly), ctx.Err())
		case <-time.After(min(time.Until(at), devnet.SecondsPerSlot*time.Second)):
		}
	}
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

// liveness counts the validators 0..n-1 the node saw live in epoch.
func liveness(t *testing.T, ctx context.Context, base string, epoch uint64, n int) int {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	body, err := json.Marshal(ids)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/eth/v1/validator/liveness/%d", base, epoch), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "liveness from %s", base)
	var r struct {
		Data []struct {
			IsLive bool `json:"is_live"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	live := 0
	for _, v := range r.Data {
		if v.IsLive {
			live++
		}
	}
	return live
}

func skipDevnetIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("DEVNET TEST NOT RUN in -short mode: it runs a chain for several minutes")
	}
}

func logRSS(t *testing.T, d *Devnet) {
	t.Helper()
	for _, p := range d.Processes() {
		if rss, err := p.RSSBytes(); err == nil {
			t.Logf("%s rss %d MiB", p.Name, rss>>20)
		}
	}
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
