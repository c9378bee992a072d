package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
)

// beaconAPI reads the chain's own record from a beacon node, independently of
// vigil's code: plain HTTP and JSON.
type beaconAPI struct {
	t   *testing.T
	url string
}

var errNotFound = errors.New("404 not found")

func (b beaconAPI) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w: %s", method, path, errNotFound, data)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	return json.Unmarshal(data, out)
}

// get fetches path and decodes its "data" into T, failing the test on error.
func get[T any](ctx context.Context, b beaconAPI, path string) T {
	b.t.Helper()
	var out struct {
		Data T `json:"data"`
	}
	require.NoError(b.t, b.do(ctx, http.MethodGet, path, nil, &out))
	return out.Data
}

type apiValidator struct {
	Index     string `json:"index"`
	Status    string `json:"status"`
	Balance   string `json:"balance"`
	Validator struct {
		Pubkey                string `json:"pubkey"`
		Slashed               bool   `json:"slashed"`
		WithdrawalCredentials string `json:"withdrawal_credentials"`
		EffectiveBalance      string `json:"effective_balance"`
		ExitEpoch             string `json:"exit_epoch"`
	} `json:"validator"`
}

// validators maps public keys (0x hex) to indices at state.
func (b beaconAPI) validators(ctx context.Context, state string) (map[string]uint64, map[uint64]apiValidator) {
	b.t.Helper()
	vals := get[[]apiValidator](ctx, b, "/eth/v1/beacon/states/"+state+"/validators")
	byKey := map[string]uint64{}
	byIndex := map[uint64]apiValidator{}
	for _, v := range vals {
		i := mustUint(b.t, v.Index)
		byKey[strings.ToLower(v.Validator.Pubkey)] = i
		byIndex[i] = v
	}
	return byKey, byIndex
}

// balances returns every validator's balance at slot's state.
func (b beaconAPI) balances(ctx context.Context, slot uint64) map[uint64]uint64 {
	b.t.Helper()
	type balance struct {
		Index   string `json:"index"`
		Balance string `json:"balance"`
	}
	out := map[uint64]uint64{}
	for _, v := range get[[]balance](ctx, b, fmt.Sprintf("/eth/v1/beacon/states/%d/validator_balances", slot)) {
		out[mustUint(b.t, v.Index)] = mustUint(b.t, v.Balance)
	}
	return out
}

// attestationReward is what one validator's attestation for an epoch earned.
type attestationReward struct {
	// Target is set when an attestation with the correct target was included
	// within the epoch's inclusion window: it counted towards justification.
	Target bool
	// Source and Head are the timely source and head flags; with 8-slot
	// epochs timely source needs inclusion within 2 slots, so a missed block
	// costs it even when the attestation was on time.
	Source, Head bool
}

// attestationRewards returns each validator's rewards for epoch. ok is
// false while the node cannot serve the epoch yet.
func (b beaconAPI) attestationRewards(ctx context.Context, epoch uint64, indices []uint64) (map[uint64]attestationReward, bool) {
	b.t.Helper()
	body := make([]string, len(indices))
	for i, idx := range indices {
		body[i] = strconv.FormatUint(idx, 10)
	}
	var out struct {
		Data struct {
			TotalRewards []struct {
				ValidatorIndex string `json:"validator_index"`
				Head           string `json:"head"`
				Target         string `json:"target"`
				Source         string `json:"source"`
			} `json:"total_rewards"`
		} `json:"data"`
	}
	err := b.do(ctx, http.MethodPost, fmt.Sprintf("/eth/v1/beacon/rewards/attestations/%d", epoch), body, &out)
	if err != nil {
		b.t.Logf("rewards for epoch %d not served yet: %v", epoch, err)
		return nil, false
	}
	got := map[uint64]attestationReward{}
	for _, r := range out.Data.TotalRewards {
		src, _ := strconv.ParseInt(r.Source, 10, 64)
		tgt, _ := strconv.ParseInt(r.Target, 10, 64)
		head, _ := strconv.ParseInt(r.Head, 10, 64)
		got[mustUint(b.t, r.ValidatorIndex)] = attestationReward{Target: tgt > 0, Source: src > 0, Head: head > 0}
	}
	return got, true
}

// apiBlock is the part of a signed beacon block the test checks.
type apiBlock struct {
	Message struct {
		Slot          string `json:"slot"`
		ProposerIndex string `json:"proposer_index"`
		Body          struct {
			Graffiti      string            `json:"graffiti"`
			Attestations  []json.RawMessage `json:"attestations"`
			SyncAggregate struct {
				Bits string `json:"sync_committee_bits"`
			} `json:"sync_aggregate"`
			ExecutionPayload struct {
				FeeRecipient string `json:"fee_recipient"`
			} `json:"execution_payload"`
			VoluntaryExits []struct {
				Message struct {
					Epoch          string `json:"epoch"`
					ValidatorIndex string `json:"validator_index"`
				} `json:"message"`
				Signature string `json:"signature"`
			} `json:"voluntary_exits"`
		} `json:"body"`
	} `json:"message"`
}

// block returns the canonical block at slot and its root; ok is false for
// an empty slot.
func (b beaconAPI) block(ctx context.Context, slot uint64) (blk apiBlock, root phase0.Root, ok bool) {
	b.t.Helper()
	var out struct {
		Data apiBlock `json:"data"`
	}
	err := b.do(ctx, http.MethodGet, fmt.Sprintf("/eth/v2/beacon/blocks/%d", slot), nil, &out)
	if errors.Is(err, errNotFound) {
		return blk, root, false
	}
	require.NoError(b.t, err)
	var hdr struct {
		Data struct {
			Root string `json:"root"`
		} `json:"data"`
	}
	require.NoError(b.t, b.do(ctx, http.MethodGet, fmt.Sprintf("/eth/v1/beacon/headers/%d", slot), nil, &hdr))
	copy(root[:], mustHex(b.t, hdr.Data.Root))
	return out.Data, root, true
}

// committees returns the beacon committees of epoch, keyed by slot and index.
func (b beaconAPI) committees(ctx context.Context, epoch uint64) map[[2]uint64][]uint64 {
	b.t.Helper()
	type committee struct {
		Index      string   `json:"index"`
		Slot       string   `json:"slot"`
		Validators []string `json:"validators"`
	}
	state := strconv.FormatUint(epoch*slotsPerEpoch, 10)
	cs := get[[]committee](ctx, b, fmt.Sprintf("/eth/v1/beacon/states/%s/committees?epoch=%d", state, epoch))
	out := map[[2]uint64][]uint64{}
	for _, c := range cs {
		vals := make([]uint64, len(c.Validators))
		for i, v := range c.Validators {
			vals[i] = mustUint(b.t, v)
		}
		out[[2]uint64{mustUint(b.t, c.Slot), mustUint(b.t, c.Index)}] = vals
	}
	return out
}

// bitlistSet returns the positions set in an SSZ bitlist (the highest set
// bit is the length marker, not a member).
func bitlistSet(t *testing.T, h string) []int {
	t.Helper()
	b := mustHex(t, h)
	last := -1
	for i := len(b)*8 - 1; i >= 0; i-- {
		if b[i/8]&(1<<(i%8)) != 0 {
			last = i
			break
		}
	}
	require.GreaterOrEqual(t, last, 0, "bitlist %s has no length marker", h)
	var set []int
	for i := range last {
		if b[i/8]&(1<<(i%8)) != 0 {
			set = append(set, i)
		}
	}
	return set
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	require.NoError(t, err, s)
	return b
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, s)
	return v
}

// interchange is an EIP-3076 slashing-protection interchange document.
type interchange struct {
	Metadata struct {
		GenesisValidatorsRoot string `json:"genesis_validators_root"`
	} `json:"metadata"`
	Data []struct {
		Pubkey       string `json:"pubkey"`
		SignedBlocks []struct {
			Slot        string `json:"slot"`
			SigningRoot string `json:"signing_root"`
		} `json:"signed_blocks"`
		SignedAttestations []struct {
			SourceEpoch string `json:"source_epoch"`
			TargetEpoch string `json:"target_epoch"`
			SigningRoot string `json:"signing_root"`
		} `json:"signed_attestations"`
	} `json:"data"`
}

// protection is an interchange document indexed for the checks.
type protection struct {
	// att[pubkey][target] is the signing root recorded for that target.
	att    map[string]map[uint64]string
	blocks map[string]map[uint64]string
	// spans[pubkey] lists (source, target) pairs.
	spans  map[string][][2]uint64
	nAtt   int
	nBlock int
}

// indexInterchange indexes an export and fails on any slashable pair within
// it: two attestations with one target, a surround, or two blocks in a slot.
func indexInterchange(t *testing.T, doc interchange) protection {
	t.Helper()
	p := protection{att: map[string]map[uint64]string{}, blocks: map[string]map[uint64]string{}, spans: map[string][][2]uint64{}}
	for _, d := range doc.Data {
		pk := strings.ToLower(d.Pubkey)
		if p.att[pk] == nil {
			p.att[pk], p.blocks[pk] = map[uint64]string{}, map[uint64]string{}
		}
		for _, a := range d.SignedAttestations {
			src, tgt := mustUint(t, a.SourceEpoch), mustUint(t, a.TargetEpoch)
			if prev, dup := p.att[pk][tgt]; dup {
				require.Equal(t, prev, a.SigningRoot, "double vote recorded for %s target %d", pk, tgt)
				continue
			}
			for _, s := range p.spans[pk] {
				surround := (src < s[0] && tgt > s[1]) || (s[0] < src && s[1] > tgt)
				require.False(t, surround, "surround vote recorded for %s: (%d,%d) and (%d,%d)", pk, src, tgt, s[0], s[1])
			}
			p.att[pk][tgt] = a.SigningRoot
			p.spans[pk] = append(p.spans[pk], [2]uint64{src, tgt})
			p.nAtt++
		}
		for _, b := range d.SignedBlocks {
			slot := mustUint(t, b.Slot)
			if prev, dup := p.blocks[pk][slot]; dup {
				require.Equal(t, prev, b.SigningRoot, "double block recorded for %s slot %d", pk, slot)
				continue
			}
			p.blocks[pk][slot] = b.SigningRoot
			p.nBlock++
		}
	}
	return p
}
