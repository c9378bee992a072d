// Package e2e runs vigil's validator client on a real local chain (geth and
// Prysm beacon nodes from internal/devnet) and checks its work from the
// chain's own record.
package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/internal/devnet"
	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
)

const (
	slotsPerEpoch = devnet.SlotsPerEpoch
	slotDuration  = devnet.SecondsPerSlot * time.Second
	epochDuration = slotsPerEpoch * slotDuration

	// halfValidators keys live in Vault, as many in a keystore directory.
	halfValidators = 32
	numValidators  = 2 * halfValidators
	// prysmValidators run on Prysm's own validator client with interop keys
	// on the same chain, for a side-by-side resource comparison.
	prysmValidators = numValidators

	// testMnemonic is BIP-39's all-"abandon" test mnemonic: public, so the
	// keys are worthless anywhere but on this throwaway chain.
	testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	feeRecipient = "0x5ca1ab1e00000000000000000000000000000e2e"
	graffiti     = "vigil-e2e"

	// genesisDelay leaves room for two geth + beacon-chain pairs to start on
	// a loaded two-core machine and for vigil to load its keys before slot 0.
	genesisDelay = 35 * time.Second

	// The run's schedule, in epochs and slots from genesis. Epochs
	// 0..lastCheckedEpoch are checked; rewards for an epoch are served only
	// after two more epoch transitions.
	restartEpoch, restartSlotInEpoch   = 1, 3
	failoverEpoch, failoverSlotInEpoch = 3, 2
	exitEpoch                          = 4 // SHARD_COMMITTEE_PERIOD is 4 on the devnet
	lastCheckedEpoch                   = 4
	minParticipation                   = 0.95
	minSyncParticipation               = 0.80
)

// Domain types from the consensus specs (phase0 "Domain types"), spelled out
// here so the test checks vigil's signing roots without vigil's own code.
var (
	domainBeaconProposer = phase0.DomainType{0x00, 0x00, 0x00, 0x00}
	domainBeaconAttester = phase0.DomainType{0x01, 0x00, 0x00, 0x00}
)

// TestDevnet is issue 4's end-to-end test: 64 validators from vigil's key
// generation are in the genesis of a fresh chain; vigil, started before
// genesis with half the keys in Vault and half in a keystore directory,
// performs all their duties next to Prysm's validator client running as many
// interop validators (the reference it is measured against). Mid-run it is restarted
// mid-epoch (it must not double-sign) and its first beacon node is stopped
// (duties must continue on the second). Everything is then checked from the
// beacon node's data and vigil's exported slashing-protection database.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("E2E TEST NOT RUN: -short skips the devnet run (about five minutes); run `make e2e`")
	}
	bins := testharness.DevnetBinaries(t)
	vault := testharness.StartVault(t)
	work := workDir(t)
	vigil := &vigilCLI{
		bin:     buildVigil(t),
		dataDir: filepath.Join(work, "vigil"),
		env:     []string{"VIGIL_VAULT_ADDRESS=" + vault.Addr, "VIGIL_VAULT_TOKEN=" + vault.RootToken},
	}
	require.NoError(t, os.MkdirAll(vigil.dataDir, 0o700))
	keysDir := filepath.Join(work, "keys")
	depositFile, vigilKeys := generateKeys(t, vigil, work, keysDir)

	metricsAddr := testharness.LoopbackAddr(t)
	logs := []string{filepath.Join(work, "vigil-1.log"), filepath.Join(work, "vigil-2.log")}
	runArgs := func(d *testharness.Devnet) []string {
		return []string{"validator", "run",
			"--beacon-node", d.BeaconURLs[0], "--beacon-node", d.BeaconURLs[1],
			"--key-store", "vault", "--key-store", "dir", "--keys-dir", keysDir,
			"--fee-recipient", feeRecipient, "--graffiti", graffiti,
			"--doppelganger-epochs", "0", "--key-poll-interval", "0",
			"--metrics-address", metricsAddr,
		}
	}
	var prysm *devnet.Process
	var vc *vigilProcess
	d := testharness.StartDevnetWith(t, testharness.DevnetConfig{
		Binaries: bins, DepositDataFile: depositFile, GenesisDelay: genesisDelay, BeaconNodes: 2,
	}, func(d *testharness.Devnet) (func(), error) {
		// A chain started afresh has the same validators, so the same
		// genesis validators root: what vigil signed on a thrown-away one
		// must not stay in its database or its log.
		freshStart(t, vigil.dataDir, logs[0])
		var err error
		// Node 1 outlives node 0, so Prysm's client attaches there.
		if prysm, err = d.StartPrysmValidator(t.Context(), testharness.PrysmValidatorConfig{BeaconNode: 1, Count: prysmValidators}); err != nil {
			return nil, err
		}
		vc = vigil.start(t, logs[0], runArgs(d)...)
		ready, cancel := context.WithDeadline(t.Context(), d.GenesisTime)
		defer cancel()
		waitForLog(ready, t, vc, "duties starting before genesis (raise genesisDelay if it comes later)", func(l logLine) bool { return l.Msg == "Duties starting" })
		t.Logf("vigil ready %s before genesis", time.Until(d.GenesisTime).Round(time.Second))
		return vc.kill, nil
	})
	ctx, cancel := context.WithDeadline(t.Context(), d.EpochStart(lastCheckedEpoch+3))
	defer cancel()
	node0, node1 := beaconAPI{t, d.BeaconURLs[0]}, beaconAPI{t, d.BeaconURLs[1]}
	all, _ := node0.validators(ctx, "genesis")
	require.Len(t, all, numValidators+prysmValidators, "every deposit must be in genesis")
	indices := make([]uint64, 0, numValidators)
	pubkeyOf := map[uint64]string{}
	for _, pk := range vigilKeys {
		i, ok := all[pk]
		require.True(t, ok, "vigil's key %s is not in genesis", pk)
		indices = append(indices, i)
		pubkeyOf[i] = pk
	}
	slices.Sort(indices)

	// Restart mid-epoch: SIGTERM must finish the slot and exit 0, and the new
	// process must pick up where the old one stopped without double-signing.
	sleepUntil(ctx, t, d, slotStart(d, restartEpoch, restartSlotInEpoch))
	rss, err := vc.rssBytes()
	require.NoError(t, err)
	require.Equal(t, 0, vc.stop(t, 2*slotDuration+5*time.Second), "SIGTERM must exit 0\n%s", tail(logs[0], 20))
	// Two directory keys are missing when the new process starts and come
	// back with a SIGHUP: they must be picked up without a restart.
	held := vigilKeys[numValidators-4 : numValidators-2]
	heldDir := filepath.Join(work, "held-keys")
	holdBackKeys(t, keysDir, heldDir, held)
	vc = vigil.start(t, logs[1], runArgs(d)...)
	waitForLog(ctx, t, vc, "duties starting after restart", func(l logLine) bool { return l.Msg == "Duties starting" })
	t.Logf("vigil restarted in slot %d (restart began at slot %d)", currentSlot(d), restartEpoch*slotsPerEpoch+restartSlotInEpoch)
	restoreKeys(t, keysDir, heldDir, held)
	vc.sighup(t)
	waitForLog(ctx, t, vc, "keys picked up after SIGHUP", func(l logLine) bool { return l.Msg == "New validator keys picked up" })
	t.Logf("SIGHUP: %d keys picked up in slot %d", len(held), currentSlot(d))

	// Fail over: the first beacon node goes away; vigil must keep going on
	// the second.
	sleepUntil(ctx, t, d, slotStart(d, failoverEpoch, failoverSlotInEpoch))
	require.NoError(t, d.StopBeaconNode(0))
	t.Logf("stopped beacon node 0 at slot %d", currentSlot(d))

	// A voluntary exit through the exit command while the client runs: it
	// needs no terminal with --yes, and refuses without one.
	sleepUntil(ctx, t, d, slotStart(d, exitEpoch, 1))
	exitIndex := indices[len(indices)-1]
	exitArgs := []string{"validator", "exit", "--beacon-node", d.BeaconURLs[0], "--beacon-node", d.BeaconURLs[1],
		"--key-store", "vault", "--key-store", "dir", "--keys-dir", keysDir, "--pubkey", pubkeyOf[exitIndex]}
	out := vigil.runFail(t, exitArgs...)
	require.Contains(t, out, "not a terminal")
	vigil.run(t, append(exitArgs, "--yes")...)

	// Run until the node serves rewards for the last checked epoch.
	sleepUntil(ctx, t, d, slotStart(d, lastCheckedEpoch+2, 1))
	require.True(t, vc.running(), "vigil exited early: %v\n%s", vc.err, tail(logs[1], 30))
	view := checkMonitor(ctx, t, monitorCheck{
		addr: metricsAddr, vigil: vigil, node: node1, stoppedNode: d.BeaconURLs[0], liveNode: d.BeaconURLs[1],
		indices: indices, pubkeyOf: pubkeyOf,
	})
	rss2, err := vc.rssBytes()
	require.NoError(t, err)
	prysmRSS, err := prysm.RSSBytes()
	require.NoError(t, err)
	require.Equal(t, 0, vc.stop(t, 2*slotDuration+5*time.Second), "SIGTERM must exit 0\n%s", tail(logs[1], 20))
	t.Logf("vigil RSS with %d keys: %d MiB (first process, epoch %d), %d MiB (second process, epoch %d); Prysm's validator client with %d keys: %d MiB",
		numValidators, rss>>20, restartEpoch, rss2>>20, lastCheckedEpoch+2, prysmValidators, prysmRSS>>20)
	for _, p := range d.Processes() {
		if r, err := p.RSSBytes(); err == nil {
			t.Logf("%s RSS %d MiB", p.Name, r>>20)
		}
	}

	// From here on the chain's record: node 1 has seen everything.
	cp, err := d.WaitForFinalizedEpoch(ctx, 1, 2)
	require.NoError(t, err)
	headSlot := currentSlot(d)

	// Attestations: the node's own rewards say who attested on time.
	var credited, missed int
	creditedBy := map[uint64]map[uint64]attestationReward{}
	for epoch := uint64(0); epoch <= lastCheckedEpoch; epoch++ {
		var got map[uint64]attestationReward
		require.Eventually(t, func() bool {
			var ok bool
			got, ok = node1.attestationRewards(ctx, epoch, indices)
			return ok
		}, 2*epochDuration, slotDuration, "rewards for epoch %d", epoch)
		creditedBy[epoch] = got
		var n, source, head int
		var absent []uint64
		for _, i := range indices {
			r := got[i]
			if r.Target {
				n++
			} else {
				absent = append(absent, i)
			}
			if r.Source {
				source++
			}
			if r.Head {
				head++
			}
		}
		credited += n
		missed += len(indices) - n
		p := float64(n) / float64(len(indices))
		t.Logf("epoch %d: %d/%d of vigil's validators credited with the target (%.1f%%), %d timely source, %d correct head; not credited: %v",
			epoch, n, len(indices), 100*p, source, head, absent)
		// The restart epoch is exempt: the two keys held back until the
		// SIGHUP miss their duty there when it falls before they are back.
		if epoch != restartEpoch {
			require.GreaterOrEqual(t, p, minParticipation, "participation in epoch %d", epoch)
		}
	}
	participation := 100 * float64(credited) / float64(credited+missed)
	// The keys picked up by SIGHUP attest from the epoch after on.
	for epoch := uint64(restartEpoch + 1); epoch <= lastCheckedEpoch; epoch++ {
		for _, pk := range held {
			i := all[pk]
			require.True(t, creditedBy[epoch][i].Target, "validator %d, reloaded by SIGHUP, not credited in epoch %d", i, epoch)
		}
	}

	// Blocks, sync aggregates and the slashing database.
	doc := exportSlashing(t, vigil, work)
	require.Equal(t, "0x"+hex.EncodeToString(d.GenesisValidatorsRoot[:]), doc.Metadata.GenesisValidatorsRoot)
	prot := indexInterchange(t, doc)
	forkVersion := currentForkVersion(ctx, node1)
	var gvr phase0.Root
	copy(gvr[:], d.GenesisValidatorsRoot[:])
	proposerDomain := domain(t, domainBeaconProposer, forkVersion, gvr)
	attesterDomain := domain(t, domainBeaconAttester, forkVersion, gvr)

	lastSlot := uint64((lastCheckedEpoch+1)*slotsPerEpoch - 1)
	committees := map[uint64]map[[2]uint64][]uint64{}
	var proposals, emptySlots, syncSet, syncTotal, checkedAttestations int
	firstIncluded := map[[2]uint64]uint64{} // (validator, attestation slot) → first block slot
	for slot := uint64(1); slot <= lastSlot; slot++ {
		blk, root, ok := node1.block(ctx, slot)
		if !ok {
			emptySlots++
			continue
		}
		proposer := mustUint(t, blk.Message.ProposerIndex)
		if pk, isOurs := pubkeyOf[proposer]; isOurs {
			proposals++
			require.True(t, strings.HasPrefix(string(mustHex(t, blk.Message.Body.Graffiti)), graffiti), "slot %d graffiti", slot)
			want := signingRoot(t, root, proposerDomain)
			require.Equal(t, want, prot.blocks[pk][slot], "slashing database record of the block at slot %d", slot)
		}
		if slot >= 2 {
			s, n := bitvectorCount(t, blk.Message.Body.SyncAggregate.Bits)
			syncSet, syncTotal = syncSet+s, syncTotal+n
		}
		for _, raw := range blk.Message.Body.Attestations {
			var a apiAttestation
			require.NoError(t, json.Unmarshal(raw, &a))
			epoch := uint64(a.Data.Slot) / slotsPerEpoch
			if committees[epoch] == nil {
				committees[epoch] = node1.committees(ctx, epoch)
			}
			committee := committees[epoch][[2]uint64{uint64(a.Data.Slot), uint64(a.Data.Index)}]
			require.NotEmpty(t, committee, "committee %d at slot %d", a.Data.Index, a.Data.Slot)
			dataRoot, err := a.Data.HashTreeRoot()
			require.NoError(t, err)
			want := signingRoot(t, dataRoot, attesterDomain)
			for _, pos := range bitlistSet(t, a.AggregationBits) {
				require.Less(t, pos, len(committee))
				pk, isOurs := pubkeyOf[committee[pos]]
				if !isOurs {
					continue
				}
				require.Equal(t, want, prot.att[pk][uint64(a.Data.Target.Epoch)],
					"slashing database record of validator %d's attestation for target %d, included at slot %d", committee[pos], a.Data.Target.Epoch, slot)
				checkedAttestations++
				key := [2]uint64{committee[pos], uint64(a.Data.Slot)}
				if first, seen := firstIncluded[key]; !seen || slot < first {
					firstIncluded[key] = slot
				}
			}
		}
	}
	if committees[view.epoch] == nil {
		committees[view.epoch] = node1.committees(ctx, view.epoch)
	}
	view.checkInclusionDelays(t, committees[view.epoch], firstIncluded, indices, pubkeyOf)

	// Every attestation the rewards credited must be in the database too.
	for epoch, got := range creditedBy {
		for i, r := range got {
			if r.Target {
				_, recorded := prot.att[pubkeyOf[i]][epoch]
				require.True(t, recorded, "validator %d was credited for epoch %d but vigil has no record", i, epoch)
			}
		}
	}
	syncRate := float64(syncSet) / float64(syncTotal)
	require.Greater(t, proposals, 0)
	require.GreaterOrEqual(t, syncRate, minSyncParticipation, "sync committee participation in blocks")

	// The performance monitor evaluated every epoch since the restart, the
	// restart epoch's missed attestations (and their inactivity penalties)
	// included.
	lines, _ := readLog(t, logs[1])
	evaluated := map[uint64]bool{}
	for _, l := range lines {
		if l.Msg == "Evaluated validator performance" {
			evaluated[l.Epoch] = true
		}
	}
	for epoch := uint64(restartEpoch); epoch <= lastCheckedEpoch; epoch++ {
		require.True(t, evaluated[epoch], "performance of epoch %d never evaluated; evaluated %v", epoch, evaluated)
	}

	// What the logs say vigil signed matches the database.
	logged, attested := dutyCounts(t, logs...)
	t.Logf("duties logged: %v; attestations of distinct slots: %d", logged, attested)
	// A restarted process joins the slot it starts in, so it may sign again
	// what its predecessor signed in that slot: an identical message (same
	// signing root) the database allows as a repeat without a new record.
	require.GreaterOrEqual(t, prot.nAtt, attested, "every attestation vigil reported submitted must be recorded")
	require.LessOrEqual(t, prot.nAtt, attested+logged["attestation/failed"], "no attestation recorded that vigil did not try to submit")
	require.Positive(t, logged["sync_committee_message/ok"])
	require.Positive(t, logged["block/ok"])

	// Nobody was slashed, nothing slashable is pending, the exit went in.
	_, after := node1.validators(ctx, "head")
	for i, v := range after {
		require.False(t, v.Validator.Slashed, "validator %d slashed", i)
	}
	require.Empty(t, get[[]json.RawMessage](ctx, node1, "/eth/v1/beacon/pool/attester_slashings"))
	require.Empty(t, get[[]json.RawMessage](ctx, node1, "/eth/v1/beacon/pool/proposer_slashings"))
	require.Contains(t, []string{"active_exiting", "exited_unslashed"}, after[exitIndex].Status, "validator %d after vigil validator exit", exitIndex)
	require.NoError(t, d.CheckRunning())

	t.Logf("checked %d attestation inclusions and %d blocks against %d attestation and %d block records; sync aggregate bits %.1f%%; empty slots %d of %d; chain head at slot %d",
		checkedAttestations, proposals, prot.nAtt, prot.nBlock, 100*syncRate, emptySlots, lastSlot, headSlot)
	line := fmt.Sprintf("e2e: participation=%.1f%% proposals=%d finalized_epoch=%d missed=%d", participation, proposals, cp.Finalized, missed)
	t.Log(line)
	fmt.Println(line)
}

// generateKeys derives the 64 validators with `vigil keys generate` (the
// first half straight into Vault) and returns the deposit data file, with
// Prysm's interop validators after vigil's, and vigil's public keys.
// The second half goes into a keystore directory through vigil's dirstore
// with PBKDF2 keystores (EIP-2335's other KDF, at its standard cost) instead of
// the scrypt the CLI writes: decrypting 32 scrypt keystores takes half a
// minute on two cores, longer than a restart may leave duties undone.
func generateKeys(t *testing.T, vigil *vigilCLI, work, keysDir string) (string, []string) {
	t.Helper()
	mnemonicFile := filepath.Join(work, "mnemonic")
	require.NoError(t, os.WriteFile(mnemonicFile, []byte(testMnemonic+"\n"), 0o600))
	dep := [2]string{filepath.Join(work, "deposits-vault"), filepath.Join(work, "deposits-dir")}
	for _, dir := range dep {
		require.NoError(t, os.MkdirAll(dir, 0o700))
	}
	common := []string{"keys", "generate", "--mnemonic-file", mnemonicFile, "--count", fmt.Sprint(halfValidators),
		"--network", "devnet", "--fork-version", "0x" + hex.EncodeToString(devnet.GenesisForkVersion[:])}
	vigil.run(t, append(common, "--store", "vault", "--start-index", "0", "--deposit-dir", dep[0])...)
	vigil.run(t, append(common, "--store", "none", "--start-index", fmt.Sprint(halfValidators), "--deposit-dir", dep[1])...)

	seed, err := keystore.Seed(testMnemonic, "")
	require.NoError(t, err)
	store, err := dirstore.New(keysDir, dirstore.WithEncryptParams(keystore.EncryptParams{KDF: keystore.KDFPBKDF2, Cost: 1 << 18}))
	require.NoError(t, err)
	for i := uint32(halfValidators); i < numValidators; i++ {
		key, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(i), time.Now())
		require.NoError(t, err)
		require.NoError(t, store.Put(t.Context(), key))
		key.Zero()
	}

	interopFile := filepath.Join(work, "deposits-interop.json")
	writeInteropDeposits(t, interopFile, prysmValidators)
	depositFile := filepath.Join(work, "deposit_data.json")
	pks := mergeDeposits(t, depositFile, onlyFile(t, filepath.Join(dep[0], "deposit_data-*.json")), onlyFile(t, filepath.Join(dep[1], "deposit_data-*.json")), interopFile)
	require.Len(t, pks, numValidators+prysmValidators)
	return depositFile, pks[:numValidators]
}

// writeInteropDeposits writes deposits for Prysm's deterministic interop keys
// 0..n-1 (secret key i is sha256 of i as 32 little-endian bytes, reduced mod
// r), so that Prysm's validator client can run them on the same chain.
func writeInteropDeposits(t *testing.T, path string, n int) {
	t.Helper()
	require.NoError(t, blsinit.Init())
	network, err := deposit.LookupNetwork("devnet", "0x"+hex.EncodeToString(devnet.GenesisForkVersion[:]))
	require.NoError(t, err)
	var deps []*deposit.Data
	for i := range n {
		var le [32]byte
		binary.LittleEndian.PutUint64(le[:], uint64(i))
		h := sha256.Sum256(le[:])
		sk := new(bls.SecretKey)
		require.NoError(t, sk.SetLittleEndianMod(h[:]))
		key := &keystore.Key{Info: keystore.Info{Pubkey: keystore.PublicKey(sk)}, Secret: sk}
		d, err := deposit.New(key, deposit.BLSWithdrawalCredentials(key.Pubkey), deposit.MinActivationAmount, network)
		require.NoError(t, err)
		deps = append(deps, d)
	}
	b, err := json.Marshal(deps)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// exportSlashing exports vigil's slashing database with the CLI.
func exportSlashing(t *testing.T, vigil *vigilCLI, work string) interchange {
	t.Helper()
	out := filepath.Join(work, "slashing-export.json")
	vigil.run(t, "slashing", "export", "--out", out)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var doc interchange
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

// dutyCounts sums the validators of vigil's "Duty" log lines by kind and
// result, and counts successful attestations once per slot across processes
// (a slot's attesters are the same validators whichever process signs).
func dutyCounts(t *testing.T, logs ...string) (counts map[string]int, attested int) {
	t.Helper()
	counts = map[string]int{}
	perSlot := map[uint64]int{}
	for _, f := range logs {
		lines, other := readLog(t, f)
		require.Empty(t, other, "vigil wrote lines that are not JSON log records to %s (a panic?)", f)
		for _, l := range lines {
			if l.Msg != "Duty" {
				continue
			}
			counts[l.Kind+"/"+l.Result] += l.Validators
			if l.Kind == "attestation" && l.Result == "ok" {
				perSlot[l.Slot] = max(perSlot[l.Slot], l.Validators)
			}
		}
	}
	for _, n := range perSlot {
		attested += n
	}
	return counts, attested
}

func currentForkVersion(ctx context.Context, b beaconAPI) phase0.Version {
	b.t.Helper()
	f := get[struct {
		Current string `json:"current_version"`
	}](ctx, b, "/eth/v1/beacon/states/head/fork")
	var v phase0.Version
	copy(v[:], mustHex(b.t, f.Current))
	return v
}

// domain is compute_domain (consensus specs, phase0 "Misc").
func domain(t *testing.T, dt phase0.DomainType, version phase0.Version, gvr phase0.Root) phase0.Domain {
	t.Helper()
	fd := &phase0.ForkData{CurrentVersion: version, GenesisValidatorsRoot: gvr}
	root, err := fd.HashTreeRoot()
	require.NoError(t, err)
	var d phase0.Domain
	copy(d[:4], dt[:])
	copy(d[4:], root[:28])
	return d
}

// signingRoot is compute_signing_root, as the 0x hex the interchange uses.
func signingRoot(t *testing.T, object phase0.Root, d phase0.Domain) string {
	t.Helper()
	sd := &phase0.SigningData{ObjectRoot: object, Domain: d}
	root, err := sd.HashTreeRoot()
	require.NoError(t, err)
	return "0x" + hex.EncodeToString(root[:])
}

func slotStart(d *testharness.Devnet, epoch, slotInEpoch uint64) time.Time {
	return d.EpochStart(epoch).Add(time.Duration(slotInEpoch) * slotDuration)
}

func currentSlot(d *testharness.Devnet) uint64 {
	if time.Now().Before(d.GenesisTime) {
		return 0
	}
	return uint64(time.Since(d.GenesisTime) / slotDuration)
}

// sleepUntil waits for a point in the chain's schedule (mid-slot, so that a
// slot boundary is never raced), failing early if a devnet process died.
func sleepUntil(ctx context.Context, t *testing.T, d *testharness.Devnet, at time.Time) {
	t.Helper()
	at = at.Add(slotDuration / 2)
	for time.Now().Before(at) {
		require.NoError(t, d.CheckRunning())
		select {
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %v", at.Format(time.TimeOnly), ctx.Err())
		case <-time.After(min(time.Until(at), slotDuration)):
		}
	}
}

// workDir is the test's directory for keys, vigil's data and logs: kept
// under $VIGIL_DEVNET_KEEP_DIR when set (as the devnet harness keeps its
// own), for debugging a failed run.
func workDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("VIGIL_DEVNET_KEEP_DIR")
	if root == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(root, 0o700))
	dir, err := os.MkdirTemp(root, "e2e-vigil-")
	require.NoError(t, err)
	t.Logf("vigil's data and logs kept in %s", dir)
	return dir
}
