package beacon

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
)

// The fuzzers below feed arbitrary bytes, as a beacon node's answer, through
// the code that decodes node responses without go-eth2-client: the
// attestation rewards decoder (rewards.go), the server-sent event framing and
// dispatch (events.go) and the health checks' syncing, genesis and version
// readers (node.go). They answer from memory through an http.RoundTripper,
// so nothing is dialled. Run them with `make fuzz` or, for one,
// go test -run '^$' -fuzz '^FuzzEventStream$' -parallel 1 ./pkg/beacon
// The corpora live in testdata/fuzz/<name>.

// cannedTransport answers every request with status and body, from memory.
type cannedTransport struct {
	status int
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: c.status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(c.body)),
		Request:    r,
	}, nil
}

// cannedNode points a pool node at a canned answer. The .invalid host is
// never resolved: the transport answers first.
func cannedNode(n *node, status int, body []byte) {
	n.base = &url.URL{Scheme: "http", Host: "node.invalid"}
	n.httpc = &http.Client{Transport: cannedTransport{status: status, body: body}}
}

// rewardsSeeds are attestation-rewards answers as nodes send them: the
// Beacon API example, Prysm's and Lighthouse's negative penalties, phase0's
// inclusion delay.
var rewardsSeeds = []string{
	`{"execution_optimistic":false,"finalized":true,"data":{"ideal_rewards":[{"effective_balance":"1000000000","head":"2500","target":"5000","source":"5000","inclusion_delay":"5000","inactivity":"5000"}],"total_rewards":[{"validator_index":"0","head":"2000","target":"2000","source":"4000","inclusion_delay":"2000","inactivity":"2000"}]}}`,
	`{"execution_optimistic":false,"finalized":true,"data":{"ideal_rewards":[{"effective_balance":"32000000000","head":"2000","target":"3000","source":"1500","inactivity":"0"}],"total_rewards":[{"validator_index":"3","head":"2000","target":"3000","source":"1500","inactivity":"0"},{"validator_index":"4","head":"0","target":"-3000","source":"-1500","inactivity":"-120"},{"validator_index":"5","head":"0","target":"-3000","source":"-1500","inactivity":"120","inclusion_delay":"7"}]}}`,
	`{"execution_optimistic":true,"finalized":false,"data":{"ideal_rewards":[],"total_rewards":[]}}`,
	`{"data":{"ideal_rewards":[{"effective_balance":"18446744073709551615","head":"0","target":"0","source":"0","inactivity":"-9223372036854775808"}],"total_rewards":[{"validator_index":"18446744073709551615","head":"0","target":"-9223372036854775808","source":"9223372036854775807","inactivity":"-9223372036854775808"}]}}`,
	`{"code":404,"message":"epoch not finished"}`,
}

// FuzzAttestationRewards checks that no rewards answer makes the decoder
// panic, and that what it accepts is internally consistent: one entry per
// answered validator and penalties as magnitudes.
func FuzzAttestationRewards(f *testing.F) {
	for _, s := range rewardsSeeds {
		f.Add(uint16(200), []byte(s))
	}
	f.Add(uint16(404), []byte(rewardsSeeds[4]))
	f.Add(uint16(500), []byte(`internal error`))
	_, nodes := testNodes(StateHealthy)
	n := nodes[0]
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		code := 200
		if status >= 100 && status < 600 {
			code = int(status)
		}
		cannedNode(n, code, body)
		resp, err := n.attestationRewards(context.Background(), &api.AttestationRewardsOpts{
			Epoch: 9, Indices: []phase0.ValidatorIndex{3}, PubKeys: []phase0.BLSPubKey{{0xab}},
		})
		if err != nil {
			require.Nil(t, resp)
			return
		}
		require.Equal(t, 2, code/100, "only a 2xx answer decodes")
		require.NotNil(t, resp.Data)
		require.Contains(t, resp.Metadata, "finalized")
		// The same answer decodes the same way twice: no state is kept.
		again, _, err := decodeAttestationRewards(body)
		require.NoError(t, err)
		require.Equal(t, resp.Data, again)
	})
}

// eventSeeds are event streams as nodes write them: the Beacon API examples
// of each topic vigil subscribes to, keep-alive comments, CRLF line ends,
// multi-line data, and events of topics vigil does not ask for.
var eventSeeds = []string{
	"event: head\ndata: {\"slot\":\"10\", \"block\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\", \"state\":\"0x600e852a08c1200654ddf11025f1ceacb3c2e74bdd5c630cde0838b2591b69f9\", \"epoch_transition\":false, \"previous_duty_dependent_root\":\"0x5e0043f107cb57913498fbf2f99ff55e730bf1e151f02f221e977c91a90a0e91\", \"current_duty_dependent_root\":\"0x5e0043f107cb57913498fbf2f99ff55e730bf1e151f02f221e977c91a90a0e91\", \"execution_optimistic\": false}\n\n",
	"event: block\ndata: {\"slot\":\"10\", \"block\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\", \"execution_optimistic\": false}\n\n",
	"event: finalized_checkpoint\ndata: {\"block\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\", \"state\":\"0x600e852a08c1200654ddf11025f1ceacb3c2e74bdd5c630cde0838b2591b69f9\", \"epoch\":\"2\", \"execution_optimistic\": false }\n\n",
	"event: chain_reorg\ndata: {\"slot\":\"200\", \"depth\":\"50\", \"old_head_block\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\", \"new_head_block\":\"0x76262e91970d375a19bfe8a867288d7b9cde43c8635f598d93d39d041706fc76\", \"old_head_state\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\", \"new_head_state\":\"0x600e852a08c1200654ddf11025f1ceacb3c2e74bdd5c630cde0838b2591b69f9\", \"epoch\":\"2\", \"execution_optimistic\": false}\n\n",
	": keep-alive\r\n\r\nevent: head\r\ndata: {\"slot\":\"11\",\"block\":\"0x0100000000000000000000000000000000000000000000000000000000000000\",\"state\":\"0x0200000000000000000000000000000000000000000000000000000000000000\",\"epoch_transition\":true,\"previous_duty_dependent_root\":\"0x0300000000000000000000000000000000000000000000000000000000000000\",\"current_duty_dependent_root\":\"0x0400000000000000000000000000000000000000000000000000000000000000\",\"execution_optimistic\":false}\r\n\r\n",
	"event: block\ndata: {\"slot\":\"12\",\ndata: \"block\":\"0x0500000000000000000000000000000000000000000000000000000000000000\",\"execution_optimistic\":false}\n\nevent: block\ndata: {\"slot\":\"12\",\"block\":\"0x0500000000000000000000000000000000000000000000000000000000000000\",\"execution_optimistic\":false}\n\n",
	"event: payload_attributes\ndata: {\"version\":\"deneb\",\"data\":{}}\n\nid: 7\nretry: 1000\nevent:head\ndata:{}\n\n",
	"event: head\ndata: {\"slot\":\"18446744073709551615\",\"block\":\"0x9a2fefd2fdb57f74993c7780ea5b9030d2897b615b89f808011ca5aebed54eaf\",\"state\":\"0x600e852a08c1200654ddf11025f1ceacb3c2e74bdd5c630cde0838b2591b69f9\",\"epoch_transition\":false,\"previous_duty_dependent_root\":\"0x5e0043f107cb57913498fbf2f99ff55e730bf1e151f02f221e977c91a90a0e91\",\"current_duty_dependent_root\":\"0x5e0043f107cb57913498fbf2f99ff55e730bf1e151f02f221e977c91a90a0e91\",\"execution_optimistic\":false}\n\n",
}

// FuzzEventStream runs an arbitrary event stream through the pool's own
// server-sent event reader and dispatch, from the node serving reads or from
// another one (whose head events are held), and checks that it never panics
// and never hands the same event to the subscriber twice.
func FuzzEventStream(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	f.Fuzz(func(t *testing.T, fromReader bool, body []byte) {
		p, nodes := testNodes(StateHealthy, StateHealthy)
		clk := &fakeClock{now: time.Unix(1_700_000_100, 0)}
		p.clock = clk
		p.timeout.Store(int64(time.Minute))
		p.slotDuration.Store(int64(12 * time.Second))
		p.genesis = &apiv1.Genesis{GenesisTime: time.Unix(1_700_000_000, 0)}
		n := nodes[1]
		if fromReader {
			n = nodes[0]
		}
		cannedNode(n, http.StatusOK, body)

		var delivered []eventKey
		note := func(k eventKey) { delivered = append(delivered, k) }
		opts := &api.EventsOpts{
			Topics: []string{TopicHead, TopicBlock, TopicChainReorg, TopicFinalizedCheckpoint},
			HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
				note(eventKey{TopicHead, uint64(e.Slot), e.Block})
			},
			BlockHandler: func(_ context.Context, e *apiv1.BlockEvent) {
				note(eventKey{TopicBlock, uint64(e.Slot), e.Block})
			},
			ChainReorgHandler: func(_ context.Context, e *apiv1.ChainReorgEvent) {
				note(eventKey{TopicChainReorg, uint64(e.Slot), e.NewHeadBlock})
			},
			FinalizedCheckpointHandler: func(_ context.Context, e *apiv1.FinalizedCheckpointEvent) {
				note(eventKey{TopicFinalizedCheckpoint, uint64(e.Epoch), e.Block})
			},
		}
		s := newSubscription(p, opts)
		connected, err := s.stream(context.Background(), n)
		require.True(t, connected)
		require.Error(t, err, "a stream always ends with an error, io.EOF at the end of the body")
		// Held heads wait for the read node or the hold deadline: let the
		// deadline pass, as releaseLoop would.
		clk.Advance(time.Minute)
		s.mu.Lock()
		s.releaseLocked(context.Background(), p.readNode(), true)
		require.Empty(t, s.held)
		s.mu.Unlock()
		require.LessOrEqual(t, len(delivered), strings.Count(string(body), "data"), "no more events than data lines")
		// Duplicates are dropped within the last dedupWindow events.
		if len(delivered) <= dedupWindow {
			seen := map[eventKey]bool{}
			for _, k := range delivered {
				require.False(t, seen[k], "event %+v delivered twice", k)
				seen[k] = true
			}
		}
	})
}

// nodeSeeds are answers to the health checks' requests: syncing, genesis and
// version, as the Beacon API specifies them and as nodes send them.
var nodeSeeds = []string{
	`{"data":{"head_slot":"1","sync_distance":"1","is_syncing":true,"is_optimistic":true,"el_offline":true}}`,
	`{"data":{"head_slot":"10234567","sync_distance":"0","is_syncing":false,"is_optimistic":false,"el_offline":false}}`,
	`{"data":{"genesis_time":"1606824023","genesis_validators_root":"0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95","genesis_fork_version":"0x00000000"}}`,
	`{"data":{"genesis_time":"1742213400","genesis_validators_root":"0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f","genesis_fork_version":"0x10000910"}}`,
	`{"data":{"version":"Lighthouse/v7.1.0-cfb1f73/x86_64-linux"}}`,
	`{"data":{"version":"Prysm/v6.0.4 (linux amd64)"}}`,
	`{"code":404,"message":"Chain genesis info is not yet known"}`,
}

// FuzzNodeResponses feeds one arbitrary answer to each of the pool's own
// health-check readers (node syncing, genesis, version) and checks that none
// panics; errors are expected and fine.
func FuzzNodeResponses(f *testing.F) {
	for _, s := range nodeSeeds {
		f.Add([]byte(s))
	}
	_, nodes := testNodes(StateHealthy)
	n := nodes[0]
	f.Fuzz(func(t *testing.T, body []byte) {
		cannedNode(n, http.StatusOK, body)
		ctx := context.Background()
		_, _ = n.fetchSyncing(ctx)
		if g, err := n.fetchGenesis(ctx); err == nil {
			require.NotNil(t, g)
		}
		_, _ = n.fetchVersion(ctx)
	})
}
