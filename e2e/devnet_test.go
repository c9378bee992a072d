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
	// bigValidator is deposited 64 ETH with 0x02 (compounding) credentials:
	// from Electra its effective balance is above 32 ETH (EIP-7251).
	bigValidator = numValidators - 1
	bigDeposit   = 64_000_000_000

	// testMnemonic is BIP-39's all-"abandon" test mnemonic: public, so the
	// keys are worthless anywhere but on this throwaway chain.
	testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	// withdrawalAddress receives the 0x01 and 0x02 validators' withdrawals.
	withdrawalAddress = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	// feeRecipient is --fee-recipient, which the proposer configuration's
	// default overrides: a block paying it would be a bug.
	feeRecipient = "0x5ca1ab1e00000000000000000000000000000e2e"
	graffiti     = "vigil-e2e"

	// genesisDelay leaves room for two geth + beacon-chain pairs to start on
	// a loaded two-core machine and for vigil to load its keys before slot 0.
	genesisDelay = 45 * time.Second

	// The run's schedule, in epochs and slots from genesis (Deneb at 0,
	// Electra at devnet.ElectraForkEpoch, Fulu at devnet.FuluForkEpoch).
	// Epochs 0..lastCheckedEpoch are checked; rewards for an epoch are served
	// only after two more epoch transitions.
	restartEpoch, restartSlotInEpoch   = devnet.ElectraForkEpoch, 12
	failoverEpoch, failoverSlotInEpoch = devnet.FuluForkEpoch, 20
	exitEpoch, exitSlotInEpoch         = devnet.FuluForkEpoch, 24 // SHARD_COMMITTEE_PERIOD is FuluForkEpoch
	lastCheckedEpoch                   = devnet.FuluForkEpoch + 1
	minParticipation                   = 0.95
	minSyncParticipation               = 0.80
)

// Domain types from the consensus specs (phase0 "Domain types"), spelled out
// here so the test checks vigil's signing roots without vigil's own code.
var (
	domainBeaconProposer = phase0.DomainType{0x00, 0x00, 0x00, 0x00}
	domainBeaconAttester = phase0.DomainType{0x01, 0x00, 0x00, 0x00}
	domainVoluntaryExit  = phase0.DomainType{0x04, 0x00, 0x00, 0x00}
)

// TestDevnet is the end-to-end test of issues 4 and 10: 64 validators from
// vigil's key generation (0x00, 0x01 and 0x02 credentials, one 0x02 validator
// with 64 ETH) are in the genesis of a fresh chain that starts on Deneb and
// crosses into Electra and Fulu while vigil runs. vigil, started before
// genesis with half the keys in Vault and half in a keystore directory and a
// proposer configuration file, performs all their duties next to Prysm's
// validator client running as many interop validators (the reference it is
// measured against). Mid-run it is restarted (it must not double-sign), keys
// and the proposer configuration are reloaded by SIGHUP, its first beacon
// node is stopped (duties must continue on the second), and a validator
// exits on Fulu. vigil's beacon node pool runs beside it against the same
// nodes. Everything is then checked from the beacon node's data and vigil's
// exported slashing-protection database, and no secret of the run may appear
// in any log, metric or output.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("E2E TEST NOT RUN: -short skips the devnet run (about ten minutes); run `make e2e`")
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
	proposers := newProposerConfig(t, filepath.Join(work, "proposer-config.json"), vigilKeys)

	metricsAddr := testharness.LoopbackAddr(t)
	logs := []string{filepath.Join(work, "vigil-1.log"), filepath.Join(work, "vigil-2.log")}
	runArgs := func(d *testharness.Devnet) []string {
		return []string{"validator", "run",
			"--beacon-node", d.BeaconURLs[0], "--beacon-node", d.BeaconURLs[1],
			"--key-store", "vault", "--key-store", "dir", "--keys-dir", keysDir,
			"--fee-recipient", feeRecipient, "--proposer-config", proposers.path, "--graffiti", graffiti,
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
	require.Equal(t, devnet.CrossingForks, d.Schedule)
	ctx, cancel := context.WithDeadline(t.Context(), d.EpochStart(lastCheckedEpoch+3))
	defer cancel()
	node0, node1 := beaconAPI{t, d.BeaconURLs[0]}, beaconAPI{t, d.BeaconURLs[1]}
	forks := readForkSchedule(ctx, node0)
	electra, fulu := forks.named(t, "electra"), forks.named(t, "fulu")
	all, genesisVals := node0.validators(ctx, "genesis")
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
	checkGenesisCredentials(t, genesisVals, all, vigilKeys)
	pool := startPoolCheck(ctx, t, d, numValidators+prysmValidators)

	checkForkBoundary(ctx, t, d, electra, logs[0])
	pool.checkHeadEvents(t, electra.epoch*slotsPerEpoch)
	pool.checkLiveness(ctx, t, 0)

	// Restart mid-epoch: SIGTERM must finish the slot and exit 0, and the new
	// process must pick up where the old one stopped without double-signing.
	excused := excusedDuties{}
	sleepUntil(ctx, t, d, slotStart(d, restartEpoch, restartSlotInEpoch))
	stopSlot := currentSlot(d)
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
	resumeSlot := currentSlot(d)
	excused.window(stopSlot, resumeSlot, "restart", indices...)
	t.Logf("vigil restarted in slot %d (stopped in slot %d)", resumeSlot, stopSlot)
	restoreKeys(t, keysDir, heldDir, held)
	proposers.changeDefault(t)
	proposers.sighupAt = currentSlot(d)
	vc.sighup(t)
	waitForLog(ctx, t, vc, "keys picked up after SIGHUP", func(l logLine) bool { return l.Msg == "New validator keys picked up" })
	waitForLog(ctx, t, vc, "proposer configuration reloaded after SIGHUP", func(l logLine) bool { return l.Msg == "Proposer configuration reloaded" })
	proposers.reloadedAt = currentSlot(d)
	excused.window(stopSlot, proposers.reloadedAt, "held back until SIGHUP", all[held[0]], all[held[1]])
	t.Logf("SIGHUP: %d keys and the proposer configuration picked up in slot %d", len(held), proposers.reloadedAt)

	checkForkBoundary(ctx, t, d, fulu, logs[1])
	pool.checkHeadEvents(t, fulu.epoch*slotsPerEpoch)

	// Fail over: the first beacon node goes away; vigil and the pool must
	// keep going on the second.
	sleepUntil(ctx, t, d, slotStart(d, failoverEpoch, failoverSlotInEpoch))
	require.NoError(t, d.StopBeaconNode(0))
	t.Logf("stopped beacon node 0 at slot %d", currentSlot(d))
	pool.checkFailover(ctx, t, failoverEpoch+1)

	// A voluntary exit on Fulu through the exit command while the client
	// runs: it needs no terminal with --yes, and refuses without one.
	sleepUntil(ctx, t, d, slotStart(d, exitEpoch, exitSlotInEpoch))
	exitIndex := indices[len(indices)/2]
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
		indices: indices, pubkeyOf: pubkeyOf, big: all[vigilKeys[bigValidator]], fork: forks.at(lastCheckedEpoch + 2).name,
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
	cp, err := d.WaitForFinalizedEpoch(ctx, 1, fulu.epoch)
	require.NoError(t, err)
	head, err := d.Head(ctx, 1)
	require.NoError(t, err)
	require.False(t, head.IsOptimistic, "node 1's head must be fully verified by geth")
	require.False(t, head.ELOffline, "node 1 reports its execution client offline")

	committees := map[uint64]map[[2]uint64][]uint64{}
	committeesOf := func(epoch uint64) map[[2]uint64][]uint64 {
		if committees[epoch] == nil {
			committees[epoch] = node1.committees(ctx, epoch)
		}
		return committees[epoch]
	}
	// Prysm v7.1.2 does not carry attestations of the last Deneb slot over
	// into Electra blocks (docs/devnet.md), whoever made them.
	for _, i := range dutiesAt(committeesOf(0), electra.epoch*slotsPerEpoch-1) {
		excused.add(0, i, "last Deneb slot, not carried into Electra by Prysm")
	}
	var prysmIndices []uint64
	for _, i := range all {
		if pubkeyOf[i] == "" {
			prysmIndices = append(prysmIndices, i)
		}
	}
	att := checkAttestations(ctx, t, node1, forks, indices, prysmIndices, committeesOf, &excused)
	// The keys picked up by SIGHUP attest from the epoch after on, unless
	// the chain lost their slot's votes, Prysm's included.
	for epoch := uint64(restartEpoch + 1); epoch <= lastCheckedEpoch; epoch++ {
		slots := dutySlots(committeesOf(epoch))
		for _, pk := range held {
			i := all[pk]
			require.True(t, att.credited[epoch][i].Target || excused.reason(epoch, i, slots[i]) == slotMissedByPrysmToo,
				"validator %d, reloaded by SIGHUP, not credited in epoch %d", i, epoch)
		}
	}

	// Blocks, attestations in blocks, sync aggregates and the slashing database.
	doc := exportSlashing(t, vigil, work)
	require.Equal(t, "0x"+hex.EncodeToString(d.GenesisValidatorsRoot[:]), doc.Metadata.GenesisValidatorsRoot)
	prot := indexInterchange(t, doc)
	chainRec := checkBlocks(ctx, t, blockCheck{
		node: node1, forks: forks, gvr: phase0.Root(d.GenesisValidatorsRoot), pubkeyOf: pubkeyOf, prot: prot,
		proposers: proposers, committeesOf: committeesOf, exitIndex: exitIndex, lastSlot: (lastCheckedEpoch+1)*slotsPerEpoch - 1,
	})
	view.checkInclusionDelays(t, committeesOf(view.epoch), chainRec.firstIncluded, indices, pubkeyOf)

	// Every attestation the rewards credited must be in the database too.
	for epoch, got := range att.credited {
		for i, r := range got {
			if r.Target {
				_, recorded := prot.att[pubkeyOf[i]][epoch]
				require.True(t, recorded, "validator %d was credited for epoch %d but vigil has no record", i, epoch)
			}
		}
	}

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
	// A failed proposal may have failed before signing (a refused fee
	// recipient) or after (publishing): at most one record each.
	require.GreaterOrEqual(t, prot.nBlock, logged["block/ok"], "one block record per block vigil published")
	require.LessOrEqual(t, prot.nBlock, logged["block/ok"]+logged["block/failed"], "no block record vigil did not try to sign")

	// Every duty on both forks, from vigil's log and from the chain.
	tally := chainRec.tally
	dutiesByFork(t, forks, tally, logs...)
	crossed := []string{electra.name, fulu.name}
	tally.requireEach(t, crossed, "attestations included", "blocks", "sync aggregate bits",
		"duty:attestation", "duty:aggregate_and_proof", "duty:block", "duty:sync_committee_message",
		"duty:contribution_and_proof", "duty:proposer_preparation")
	t.Logf("per fork: %s", tally)

	// Nobody was slashed, nothing slashable is pending, the exit went in on
	// Fulu under the Capella domain (EIP-7044).
	_, after := node1.validators(ctx, "head")
	for i, v := range after {
		require.False(t, v.Validator.Slashed, "validator %d slashed", i)
	}
	require.Empty(t, get[[]json.RawMessage](ctx, node1, "/eth/v2/beacon/pool/attester_slashings"))
	require.Empty(t, get[[]json.RawMessage](ctx, node1, "/eth/v1/beacon/pool/proposer_slashings"))
	// Electra's first epoch transition credited the 64 ETH validator's
	// excess, queued by upgrade_to_electra as a pending deposit.
	require.Equal(t, fmt.Sprint(bigDeposit), after[all[vigilKeys[bigValidator]]].Validator.EffectiveBalance,
		"effective balance of the 0x02 validator with 64 ETH after Electra (EIP-7251)")
	require.Contains(t, []string{"active_exiting", "exited_unslashed"}, after[exitIndex].Status, "validator %d after vigil validator exit", exitIndex)
	require.Equal(t, fulu.name, forks.at(chainRec.exitSlot/slotsPerEpoch).name, "the exit was included on Fulu")
	require.NoError(t, d.CheckRunning())

	// No secret of the run in anything vigil wrote or served.
	sources := map[string]string{"vigil command output": vigil.transcript.String(), "metrics": view.raw, "validators API": view.validatorsAPI}
	for _, f := range append(logs, filepath.Join(work, "slashing-export.json")) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		sources[filepath.Base(f)] = string(b)
	}
	requireNoSecrets(t, runSecrets(t, vault.RootToken, keysDir, numValidators), sources)

	t.Logf("checked %d attestation inclusions and %d blocks against %d attestation and %d block records; sync aggregate bits %.1f%%; empty slots %d of %d",
		chainRec.checkedAttestations, chainRec.proposals, prot.nAtt, prot.nBlock, 100*chainRec.syncRate, chainRec.emptySlots, chainRec.lastSlot)
	current, nCrossed := forkLine(forks, lastCheckedEpoch)
	line := fmt.Sprintf("e2e: fork=%s forks_crossed=%d participation=%.1f%% proposals=%d finalized_epoch=%d missed=%d",
		current, nCrossed, att.participation, chainRec.proposals, cp.Finalized, att.missed)
	t.Log(line)
	fmt.Println(line)
}

// generateKeys derives the 64 validators with `vigil keys generate` and
// returns the deposit data file, with Prysm's interop validators after
// vigil's, and vigil's public keys. Keys 0–15 (0x00 credentials) and 16–31
// (0x01) go straight into Vault; keys 32–62 (0x02) and 63 (0x02, 64 ETH)
// into a keystore directory, written through vigil's dirstore with PBKDF2
// keystores (EIP-2335's other KDF, at its standard cost) instead of the
// scrypt the CLI writes: decrypting 32 scrypt keystores takes half a minute
// on two cores, longer than a restart may leave duties undone.
func generateKeys(t *testing.T, vigil *vigilCLI, work, keysDir string) (string, []string) {
	t.Helper()
	mnemonicFile := filepath.Join(work, "mnemonic")
	require.NoError(t, os.WriteFile(mnemonicFile, []byte(testMnemonic+"\n"), 0o600))
	batches := []struct {
		start, count int
		store        string
		extra        []string
	}{
		{0, 16, "vault", nil},
		{16, 16, "vault", []string{"--withdrawal-address", withdrawalAddress, "--withdrawal-type", "0x01"}},
		{32, 31, "none", []string{"--withdrawal-address", withdrawalAddress, "--withdrawal-type", "0x02"}},
		{bigValidator, 1, "none", []string{"--withdrawal-address", withdrawalAddress, "--withdrawal-type", "0x02", "--amount", fmt.Sprint(bigDeposit)}},
	}
	var files []string
	for i, b := range batches {
		dir := filepath.Join(work, fmt.Sprintf("deposits-%d", i))
		require.NoError(t, os.MkdirAll(dir, 0o700))
		vigil.run(t, append([]string{"keys", "generate", "--mnemonic-file", mnemonicFile,
			"--network", "devnet", "--fork-version", "0x" + hex.EncodeToString(devnet.GenesisForkVersion[:]),
			"--store", b.store, "--start-index", fmt.Sprint(b.start), "--count", fmt.Sprint(b.count), "--deposit-dir", dir}, b.extra...)...)
		files = append(files, onlyFile(t, filepath.Join(dir, "deposit_data-*.json")))
	}

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
	pks := mergeDeposits(t, depositFile, append(files, interopFile)...)
	require.Len(t, pks, numValidators+prysmValidators)
	return depositFile, pks[:numValidators]
}

// checkGenesisCredentials checks the genesis state holds vigil's validators
// with the credentials `keys generate` was asked for: 0x00 for keys 0–15,
// 0x01 for 16–31 and 0x02 from 32 on, the last with 64 ETH (effective 32 ETH
// until Electra's first epoch transition).
func checkGenesisCredentials(t *testing.T, vals map[uint64]apiValidator, index map[string]uint64, keys []string) {
	t.Helper()
	addr := strings.ToLower(strings.TrimPrefix(withdrawalAddress, "0x"))
	for k, pk := range keys {
		v := vals[index[pk]]
		wc := strings.TrimPrefix(v.Validator.WithdrawalCredentials, "0x")
		switch {
		case k < 16:
			require.True(t, strings.HasPrefix(wc, "00"), "validator %d credentials %s", k, wc)
		case k < halfValidators:
			require.Equal(t, "01"+strings.Repeat("0", 22)+addr, wc, "validator %d", k)
		default:
			require.Equal(t, "02"+strings.Repeat("0", 22)+addr, wc, "validator %d", k)
		}
	}
	big := vals[index[keys[bigValidator]]]
	require.Equal(t, fmt.Sprint(bigDeposit), big.Balance)
	require.Equal(t, fmt.Sprint(32_000_000_000), big.Validator.EffectiveBalance, "Deneb caps the effective balance at 32 ETH")
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
