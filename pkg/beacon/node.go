package beacon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ethhttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/rs/zerolog"
)

// nodeClient is everything the pool asks of one node's go-eth2-client.
type nodeClient interface {
	eth2client.AggregateAttestationProvider
	eth2client.AggregateAttestationsSubmitter
	eth2client.AttestationDataProvider
	eth2client.AttestationRewardsProvider
	eth2client.AttestationsSubmitter
	eth2client.AttesterDutiesProvider
	eth2client.BeaconBlockHeadersProvider
	eth2client.BeaconBlockRootProvider
	eth2client.BeaconCommitteeSubscriptionsSubmitter
	eth2client.BeaconCommitteesProvider
	eth2client.BlindedProposalSubmitter
	eth2client.FinalityProvider
	eth2client.ForkProvider
	eth2client.ForkScheduleProvider
	eth2client.GenesisProvider
	eth2client.GenesisTimeProvider
	eth2client.NodeSyncingProvider
	eth2client.NodeVersionProvider
	eth2client.ProposalPreparationsSubmitter
	eth2client.ProposalProvider
	eth2client.ProposalSubmitter
	eth2client.ProposerDutiesProvider
	eth2client.ProposerDutiesV2Provider
	eth2client.SignedBeaconBlockProvider
	eth2client.SlotDurationProvider
	eth2client.SlotsPerEpochProvider
	eth2client.SpecProvider
	eth2client.SyncCommitteeContributionProvider
	eth2client.SyncCommitteeContributionsSubmitter
	eth2client.SyncCommitteeDutiesProvider
	eth2client.SyncCommitteeMessagesSubmitter
	eth2client.SyncCommitteeSubscriptionsSubmitter
	eth2client.TargetAggregatorsPerCommitteeProvider
	eth2client.ValidatorLivenessProvider
	eth2client.ValidatorRegistrationsSubmitter
	eth2client.ValidatorsProvider
	eth2client.VoluntaryExitSubmitter
}

var _ nodeClient = (*ethhttp.Service)(nil)

// latencyWeight is the weight of the newest sample in the latency EWMA.
const latencyWeight = 0.2

// maxResponseBytes caps the small JSON answers the pool reads itself.
const maxResponseBytes = 1 << 20

// node is one configured beacon node.
type node struct {
	index int
	// name is the redacted URL, the only form that is logged or reported.
	name string
	// base carries the credentials; it is never logged.
	base      *url.URL
	redactor  *strings.Replacer
	client    nodeClient
	httpc     *http.Client
	transport *http.Transport

	mu sync.Mutex
	h  health
}

// health is a node's mutable state, guarded by node.mu.
type health struct {
	state      NodeState
	reachable  bool
	wrongChain bool
	// genesis is set once the node's chain has been checked; it is cleared
	// when the node becomes unreachable so that a node restarted on another
	// network is checked again before use.
	genesis     *apiv1.Genesis
	version     string
	sync        syncState
	latency     time.Duration
	requests    uint64
	failures    uint64
	consecutive int
	lastErr     string
	lastCheck   time.Time
}

// syncState is /eth/v1/node/syncing. go-eth2-client's SyncState drops
// el_offline, which decides whether a node can produce blocks, so the pool
// reads this endpoint itself.
type syncState struct {
	HeadSlot     phase0.Slot
	SyncDistance phase0.Slot
	IsSyncing    bool
	IsOptimistic bool
	ELOffline    bool
}

// parseAddress accepts an address with or without a scheme and returns the
// full URL and its redacted name.
func parseAddress(address string) (*url.URL, string, error) {
	raw := strings.TrimSpace(address)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes its input, credentials included: do not wrap it.
		return nil, "", errors.New("beacon node address is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, "", fmt.Errorf("beacon node address %s: scheme %q is not http or https", redactedName(u), u.Scheme)
	}
	if u.Host == "" {
		return nil, "", errors.New("beacon node address has no host")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, redactedName(u), nil
}

// redactedName is scheme://host, with "/…" standing for a path or query that
// may hold an API key.
func redactedName(u *url.URL) string {
	name := u.Scheme + "://" + u.Host
	if u.Path != "" || u.RawQuery != "" {
		name += "/…"
	}
	return name
}

// newRedactor removes from error text every secret part of u, including
// net/http's own "user:***@" form.
func newRedactor(u *url.URL) *strings.Replacer {
	var pairs []string
	if u.User != nil {
		pairs = append(pairs, u.User.String()+"@", "", u.User.Username()+":***@", "")
		if pw, ok := u.User.Password(); ok && pw != "" {
			pairs = append(pairs, url.QueryEscape(pw), "***", pw, "***")
		}
		if name := u.User.Username(); name != "" {
			pairs = append(pairs, name+"@", "")
		}
	}
	if u.Path != "" {
		pairs = append(pairs, u.Path, "/…")
	}
	if u.RawQuery != "" {
		pairs = append(pairs, u.RawQuery, "…")
	}
	return strings.NewReplacer(pairs...)
}

// redact returns err's text with every secret part of the node URL removed,
// and go-eth2-client's multi-line joined errors on one line.
func (n *node) redact(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(n.redactor.Replace(err.Error()), "\n", ": ")
}

// newNode builds the go-eth2-client HTTP client for one address. It never
// contacts the node: the pool's health loop does.
func newNode(ctx context.Context, index int, address string, timeout time.Duration) (*node, error) {
	u, name, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
	}
	httpc := &http.Client{Transport: transport}
	svc, err := ethhttp.New(ctx,
		ethhttp.WithAddress(u.String()),
		ethhttp.WithTimeout(timeout),
		ethhttp.WithHTTPClient(httpc),
		// go-eth2-client logs through zerolog at trace otherwise; the pool
		// logs what matters itself, with credentials redacted.
		ethhttp.WithLogLevel(zerolog.Disabled),
		// A node that is down at start must not stop vigil from starting:
		// the pool keeps checking it and uses it once it answers.
		ethhttp.WithAllowDelayedStart(true),
	)
	if err != nil {
		n := &node{redactor: newRedactor(u)}
		return nil, fmt.Errorf("beacon node %s: create client: %s", name, n.redact(err))
	}
	client, ok := svc.(*ethhttp.Service)
	if !ok {
		return nil, fmt.Errorf("beacon node %s: go-eth2-client returned %T, not *http.Service", name, svc)
	}
	return &node{
		index:     index,
		name:      name,
		base:      u,
		redactor:  newRedactor(u),
		client:    client,
		httpc:     httpc,
		transport: transport,
		h:         health{state: StateUnknown},
	}, nil
}

// endpoint returns the full URL of a Beacon API path on this node.
func (n *node) endpoint(path, query string) string {
	u := *n.base
	u.Path += path
	u.RawQuery = query
	return u.String()
}

// getJSON fetches a small JSON document from the node.
func (n *node) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.endpoint(path, ""), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := n.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &api.Error{Method: http.MethodGet, Endpoint: path, StatusCode: resp.StatusCode, Data: body}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// fetchSyncing reads /eth/v1/node/syncing.
func (n *node) fetchSyncing(ctx context.Context) (syncState, error) {
	var doc struct {
		Data struct {
			HeadSlot     string `json:"head_slot"`
			SyncDistance string `json:"sync_distance"`
			IsSyncing    bool   `json:"is_syncing"`
			IsOptimistic bool   `json:"is_optimistic"`
			ELOffline    bool   `json:"el_offline"`
		} `json:"data"`
	}
	if err := n.getJSON(ctx, "/eth/v1/node/syncing", &doc); err != nil {
		return syncState{}, err
	}
	head, err := strconv.ParseUint(doc.Data.HeadSlot, 10, 64)
	if err != nil {
		return syncState{}, fmt.Errorf("syncing: head_slot %q: %w", doc.Data.HeadSlot, err)
	}
	distance, err := strconv.ParseUint(doc.Data.SyncDistance, 10, 64)
	if err != nil {
		return syncState{}, fmt.Errorf("syncing: sync_distance %q: %w", doc.Data.SyncDistance, err)
	}
	return syncState{
		HeadSlot:     phase0.Slot(head),
		SyncDistance: phase0.Slot(distance),
		IsSyncing:    doc.Data.IsSyncing,
		IsOptimistic: doc.Data.IsOptimistic,
		ELOffline:    doc.Data.ELOffline,
	}, nil
}

// fetchGenesis reads /eth/v1/beacon/genesis without go-eth2-client's cache,
// which could outlive a node restarted on another network.
func (n *node) fetchGenesis(ctx context.Context) (*apiv1.Genesis, error) {
	var doc struct {
		Data json.RawMessage `json:"data"`
	}
	if err := n.getJSON(ctx, "/eth/v1/beacon/genesis", &doc); err != nil {
		return nil, err
	}
	g := &apiv1.Genesis{}
	if err := g.UnmarshalJSON(doc.Data); err != nil {
		return nil, fmt.Errorf("decode genesis: %w", err)
	}
	return g, nil
}

// fetchVersion reads /eth/v1/node/version.
func (n *node) fetchVersion(ctx context.Context) (string, error) {
	var doc struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	if err := n.getJSON(ctx, "/eth/v1/node/version", &doc); err != nil {
		return "", err
	}
	return doc.Data.Version, nil
}

// status returns a snapshot for the monitor.
func (n *node) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.statusLocked()
}

func (n *node) statusLocked() NodeStatus {
	return NodeStatus{
		URL:                 n.name,
		Index:               n.index,
		State:               n.h.state,
		Version:             n.h.version,
		HeadSlot:            n.h.sync.HeadSlot,
		SyncDistance:        n.h.sync.SyncDistance,
		IsSyncing:           n.h.sync.IsSyncing,
		IsOptimistic:        n.h.sync.IsOptimistic,
		ELOffline:           n.h.sync.ELOffline,
		Latency:             n.h.latency,
		Requests:            n.h.requests,
		Failures:            n.h.failures,
		ConsecutiveFailures: n.h.consecutive,
		LastError:           n.h.lastErr,
		LastCheck:           n.h.lastCheck,
	}
}

// state returns the node's current verdict.
func (n *node) state() NodeState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.h.state
}

// evaluate derives the state from the facts; call with n.mu held.
func (h *health) evaluate(maxDistance phase0.Slot) NodeState {
	switch {
	case h.wrongChain:
		return StateWrongChain
	case !h.reachable && h.lastCheck.IsZero() && h.lastErr == "":
		return StateUnknown
	case !h.reachable:
		return StateUnreachable
	case h.genesis == nil:
		return StateUnidentified
	case h.sync.IsSyncing || h.sync.SyncDistance > maxDistance:
		return StateSyncing
	case h.sync.IsOptimistic:
		return StateOptimistic
	case h.sync.ELOffline:
		return StateELOffline
	default:
		return StateHealthy
	}
}

// classify says how a request ended. callerCtx is the caller's context, so
// that a caller giving up is not held against the node.
func classify(callerCtx context.Context, err error) Outcome {
	if err == nil {
		return OutcomeSuccess
	}
	if callerCtx.Err() != nil {
		return OutcomeCanceled
	}
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		if apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 {
			return OutcomeRejected
		}
		return OutcomeFailed
	}
	if errors.Is(err, eth2client.ErrNoOptions) || errors.Is(err, eth2client.ErrInvalidOptions) {
		return OutcomeRejected
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return OutcomeTimeout
	}
	if errors.Is(err, eth2client.ErrNotActive) {
		return OutcomeUnreachable
	}
	var urlErr *url.Error
	var netErr net.Error
	if errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return OutcomeUnreachable
	}
	return OutcomeFailed
}

// callerError reports whether err is the caller's own mistake, which every
// node would refuse alike, so failing over is pointless.
func callerError(err error) bool {
	return errors.Is(err, eth2client.ErrNoOptions) || errors.Is(err, eth2client.ErrInvalidOptions)
}
