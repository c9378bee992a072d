package beacon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// maxRewardsBytes caps a rewards answer: about 150 bytes per validator, so
// room for a few hundred thousand.
const maxRewardsBytes = 64 << 20

// AttestationRewards fetches the attestation rewards of an epoch, failing
// over between nodes. The pool decodes the answer itself: the Beacon API
// gives the inactivity penalty as a signed number, negative when charged (as
// Prysm and Lighthouse send it), which go-eth2-client v0.30.1 reads as
// unsigned, rejecting the whole answer as soon as one validator has missed a
// target. Inactivity is returned as the penalty's magnitude, whichever sign
// the node uses.
func (p *Pool) AttestationRewards(ctx context.Context, opts *api.AttestationRewardsOpts) (*api.Response[*apiv1.AttestationRewards], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return readNode(ctx, p, OpAttestationRewards, opts.Common.Timeout,
		func(ctx context.Context, n *node) (*api.Response[*apiv1.AttestationRewards], error) {
			return n.attestationRewards(ctx, opts)
		})
}

func (n *node) attestationRewards(ctx context.Context, opts *api.AttestationRewardsOpts) (*api.Response[*apiv1.AttestationRewards], error) {
	ids := make([]string, 0, len(opts.Indices)+len(opts.PubKeys))
	for _, i := range opts.Indices {
		ids = append(ids, strconv.FormatUint(uint64(i), 10))
	}
	for _, pk := range opts.PubKeys {
		ids = append(ids, fmt.Sprintf("%#x", pk[:]))
	}
	reqBody, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encode rewards request: %w", err)
	}
	path := fmt.Sprintf("/eth/v1/beacon/rewards/attestations/%d", opts.Epoch)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.endpoint(path, ""), bytes.NewReader(reqBody))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRewardsBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &api.Error{Method: http.MethodPost, Endpoint: path, StatusCode: resp.StatusCode, Data: body}
	}
	data, meta, err := decodeAttestationRewards(body)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &api.Response[*apiv1.AttestationRewards]{Data: data, Metadata: meta}, nil
}

// rewardsDoc is the rewards answer with every number as the API's decimal
// string.
type rewardsDoc struct {
	ExecutionOptimistic bool `json:"execution_optimistic"`
	Finalized           bool `json:"finalized"`
	Data                struct {
		IdealRewards []struct {
			EffectiveBalance string `json:"effective_balance"`
			Head             string `json:"head"`
			Target           string `json:"target"`
			Source           string `json:"source"`
			InclusionDelay   string `json:"inclusion_delay"`
			Inactivity       string `json:"inactivity"`
		} `json:"ideal_rewards"`
		TotalRewards []struct {
			ValidatorIndex string `json:"validator_index"`
			Head           string `json:"head"`
			Target         string `json:"target"`
			Source         string `json:"source"`
			InclusionDelay string `json:"inclusion_delay"`
			Inactivity     string `json:"inactivity"`
		} `json:"total_rewards"`
	} `json:"data"`
}

func decodeAttestationRewards(body []byte) (*apiv1.AttestationRewards, map[string]any, error) {
	var doc rewardsDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, err
	}
	var d decoder
	out := &apiv1.AttestationRewards{
		IdealRewards: make([]apiv1.IdealAttestationRewards, len(doc.Data.IdealRewards)),
		TotalRewards: make([]apiv1.ValidatorAttestationRewards, len(doc.Data.TotalRewards)),
	}
	for i, r := range doc.Data.IdealRewards {
		out.IdealRewards[i] = apiv1.IdealAttestationRewards{
			EffectiveBalance: phase0.Gwei(d.uint("ideal effective_balance", r.EffectiveBalance)),
			Head:             phase0.Gwei(d.uint("ideal head", r.Head)),
			Target:           phase0.Gwei(d.uint("ideal target", r.Target)),
			Source:           phase0.Gwei(d.uint("ideal source", r.Source)),
			InclusionDelay:   d.optionalGwei("ideal inclusion_delay", r.InclusionDelay),
			Inactivity:       d.magnitude("ideal inactivity", r.Inactivity),
		}
	}
	for i, r := range doc.Data.TotalRewards {
		out.TotalRewards[i] = apiv1.ValidatorAttestationRewards{
			ValidatorIndex: phase0.ValidatorIndex(d.uint("validator_index", r.ValidatorIndex)),
			Head:           phase0.Gwei(d.uint("head", r.Head)),
			Target:         d.int("target", r.Target),
			Source:         d.int("source", r.Source),
			InclusionDelay: d.optionalGwei("inclusion_delay", r.InclusionDelay),
			Inactivity:     d.magnitude("inactivity", r.Inactivity),
		}
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	meta := map[string]any{"execution_optimistic": doc.ExecutionOptimistic, "finalized": doc.Finalized}
	return out, meta, nil
}

// decoder parses the API's decimal strings, keeping the first error.
type decoder struct{ err error }

func (d *decoder) fail(field, v string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s %q: %w", field, v, err)
	}
}

func (d *decoder) uint(field, v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		d.fail(field, v, err)
	}
	return n
}

func (d *decoder) int(field, v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d.fail(field, v, err)
	}
	return n
}

// magnitude reads a penalty given as a signed number of either sign.
func (d *decoder) magnitude(field, v string) phase0.Gwei {
	if v == "" {
		return 0
	}
	n := d.int(field, v)
	if n < 0 {
		n = -n
	}
	return phase0.Gwei(n)
}

func (d *decoder) optionalGwei(field, v string) *phase0.Gwei {
	if v == "" {
		return nil
	}
	g := phase0.Gwei(d.uint(field, v))
	return &g
}
