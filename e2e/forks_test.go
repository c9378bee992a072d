package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
)

// fork is one entry of the chain's fork schedule as the beacon node's spec
// states it.
type fork struct {
	name    string
	epoch   uint64
	version phase0.Version
}

// forkSchedule is the node's fork schedule from Capella on, oldest first:
// the test derives every signing domain from it, not from vigil's code.
type forkSchedule []fork

// readForkSchedule reads the schedule from /eth/v1/config/spec.
func readForkSchedule(ctx context.Context, b beaconAPI) forkSchedule {
	b.t.Helper()
	spec := get[map[string]any](ctx, b, "/eth/v1/config/spec")
	var s forkSchedule
	for _, name := range []string{"CAPELLA", "DENEB", "ELECTRA", "FULU"} {
		epoch, ok := spec[name+"_FORK_EPOCH"].(string)
		require.True(b.t, ok, "%s_FORK_EPOCH in the node's spec", name)
		version, ok := spec[name+"_FORK_VERSION"].(string)
		require.True(b.t, ok, "%s_FORK_VERSION in the node's spec", name)
		var f fork
		f.name = map[string]string{"CAPELLA": "capella", "DENEB": "deneb", "ELECTRA": "electra", "FULU": "fulu"}[name]
		f.epoch = mustUint(b.t, epoch)
		copy(f.version[:], mustHex(b.t, version))
		s = append(s, f)
	}
	return s
}

// at returns the fork in force at epoch.
func (s forkSchedule) at(epoch uint64) fork {
	cur := s[0]
	for _, f := range s {
		if f.epoch <= epoch {
			cur = f
		}
	}
	return cur
}

// named returns the fork called name.
func (s forkSchedule) named(t *testing.T, name string) fork {
	t.Helper()
	for _, f := range s {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fork %s in %v", name, s)
	return fork{}
}

// domainAt is get_domain for a message of epoch: the fork version in force
// at that epoch, so that a message signed one epoch before a fork and one
// signed at the fork's first epoch use different versions.
func (s forkSchedule) domainAt(t *testing.T, dt phase0.DomainType, epoch uint64, gvr phase0.Root) phase0.Domain {
	t.Helper()
	return domain(t, dt, s.at(epoch).version, gvr)
}

// checkForkBoundary waits until a few slots into fork f's first epoch and
// checks that both nodes' head state is on it, that the live log of the
// running vigil named the activation, and that the chain did not stall.
func checkForkBoundary(ctx context.Context, t *testing.T, d *testharness.Devnet, f fork, logFile string) {
	t.Helper()
	sleepUntil(ctx, t, d, slotStart(d, f.epoch, 3))
	for i := range d.BeaconURLs {
		info, err := d.HeadFork(ctx, i)
		require.NoError(t, err)
		require.Equal(t, f.name, string(info.Fork), "node %d's head fork in epoch %d", i, f.epoch)
		require.Equal(t, f.epoch, info.Epoch)
	}
	head := beaconAPI{t, d.BeaconURLs[0]}.headSlot(ctx)
	require.GreaterOrEqual(t, head, f.epoch*slotsPerEpoch, "the head block must be from %s's first epoch", f.name)
	lines, _ := readLog(t, logFile)
	var activated bool
	for _, l := range lines {
		if l.Msg == "Fork activated" && l.Fork == f.name && l.Epoch == f.epoch {
			activated = true
		}
	}
	require.True(t, activated, "vigil's log has no `Fork activated fork=%s epoch=%d`", f.name, f.epoch)
	t.Logf("%s at epoch %d: head slot %d, %s after genesis", f.name, f.epoch, head, time.Since(d.GenesisTime).Round(time.Second))
}

// headSlot is the node's head slot.
func (b beaconAPI) headSlot(ctx context.Context) uint64 {
	b.t.Helper()
	h := get[struct {
		Header struct {
			Message struct {
				Slot string `json:"slot"`
			} `json:"message"`
		} `json:"header"`
	}](ctx, b, "/eth/v1/beacon/headers/head")
	return mustUint(b.t, h.Header.Message.Slot)
}

// includedAttestation is an attestation in a block, in either format:
// before Electra its committee is data.index; from Electra data.index is 0
// and committee_bits names the committees whose members' bits are
// concatenated in aggregation_bits (EIP-7549).
type includedAttestation struct {
	AggregationBits string                  `json:"aggregation_bits"`
	CommitteeBits   string                  `json:"committee_bits"`
	Data            *phase0.AttestationData `json:"data"`
}

// attesters returns the validator indices whose bits are set, given the
// epoch's committees keyed by (slot, index). electra says which format the
// block's fork uses.
func (a includedAttestation) attesters(t *testing.T, committees map[[2]uint64][]uint64, electra bool) []uint64 {
	t.Helper()
	slot := uint64(a.Data.Slot)
	var members []uint64
	if electra {
		require.NotEmpty(t, a.CommitteeBits, "an Electra block's attestation has committee_bits")
		require.Zero(t, a.Data.Index, "EIP-7549: data.index is 0 from Electra on (slot %d)", slot)
		set := bitvectorSet(t, a.CommitteeBits)
		require.NotEmpty(t, set, "committee_bits with no committee (slot %d)", slot)
		for _, c := range set {
			committee := committees[[2]uint64{slot, uint64(c)}]
			require.NotEmpty(t, committee, "committee %d at slot %d", c, slot)
			members = append(members, committee...)
		}
	} else {
		require.Empty(t, a.CommitteeBits, "a pre-Electra attestation has no committee_bits")
		members = committees[[2]uint64{slot, uint64(a.Data.Index)}]
		require.NotEmpty(t, members, "committee %d at slot %d", a.Data.Index, slot)
	}
	bits := bitlistSet(t, a.AggregationBits)
	out := make([]uint64, 0, len(bits))
	for _, pos := range bits {
		require.Less(t, pos, len(members), "aggregation bit %d beyond the committees of slot %d", pos, slot)
		out = append(out, members[pos])
	}
	return out
}

// bitvectorSet returns the positions set in an SSZ bitvector.
func bitvectorSet(t *testing.T, h string) []int {
	t.Helper()
	var set []int
	for i, x := range mustHex(t, h) {
		for j := range 8 {
			if x&(1<<j) != 0 {
				set = append(set, i*8+j)
			}
		}
	}
	return set
}

// forkTally counts, per fork, what vigil did and what the chain shows.
type forkTally map[string]map[string]int

func (f forkTally) add(fork, what string, n int) {
	if f[fork] == nil {
		f[fork] = map[string]int{}
	}
	f[fork][what] += n
}

// requireEach fails unless every fork in forks has a positive count of each
// of whats.
func (f forkTally) requireEach(t *testing.T, forks []string, whats ...string) {
	t.Helper()
	for _, fk := range forks {
		for _, w := range whats {
			require.Positive(t, f[fk][w], "%s on %s: %v", w, fk, f[fk])
		}
	}
}

func (f forkTally) String() string {
	b, _ := json.Marshal(map[string]map[string]int(f))
	return string(b)
}

// dutiesByFork sums vigil's successful "Duty" log lines by kind and by the
// fork of their slot.
func dutiesByFork(t *testing.T, s forkSchedule, tally forkTally, logs ...string) {
	t.Helper()
	for _, f := range logs {
		lines, _ := readLog(t, f)
		for _, l := range lines {
			if l.Msg == "Duty" && l.Result == "ok" {
				tally.add(s.at(l.Slot/slotsPerEpoch).name, "duty:"+l.Kind, l.Validators)
			}
		}
	}
}

// forkLine names the forks the run crossed, oldest first, for the summary.
func forkLine(s forkSchedule, lastEpoch uint64) (current string, crossed int) {
	start := s.at(0).name
	for _, f := range s {
		if f.epoch > 0 && f.epoch <= lastEpoch {
			crossed++
		}
	}
	current = s.at(lastEpoch).name
	if crossed == 0 {
		return start, 0
	}
	return fmt.Sprint(current), crossed
}
