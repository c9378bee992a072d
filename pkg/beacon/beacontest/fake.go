// Package beacontest provides a fake beacon node: an in-process HTTP server
// on 127.0.0.1 serving the part of the standard Beacon API that vigil's
// tests exercise, with switches to make it unreachable, stalled, syncing or
// on another chain.
package beacontest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Routes served by Node, as accepted by SetStatus and Requests.
const (
	RouteSyncing        = "GET /eth/v1/node/syncing"
	RouteVersion        = "GET /eth/v1/node/version"
	RouteGenesis        = "GET /eth/v1/beacon/genesis"
	RouteSpec           = "GET /eth/v1/config/spec"
	RouteAttesterDuties = "POST /eth/v1/validator/duties/attester/{epoch}"
	RouteAttestation    = "GET /eth/v1/validator/attestation_data"
	RouteSubmitAtts     = "POST /eth/v2/beacon/pool/attestations"
	RouteLiveness       = "POST /eth/v1/validator/liveness/{epoch}"
	RouteEvents         = "GET /eth/v1/events"
)

// DefaultGenesisRoot is the genesis validators root a Node serves unless
// told otherwise.
var DefaultGenesisRoot = phase0.Root{0x4b, 0x36, 0x3d, 0xb9}

// DefaultGenesisTime is the genesis time a Node serves unless told otherwise.
var DefaultGenesisTime = time.Unix(1700000000, 0)

// Node is a fake beacon node. Its zero value is not usable; call New.
type Node struct {
	srv  *httptest.Server
	mux  *http.ServeMux
	name string

	mu           sync.Mutex
	genesis      apiv1.Genesis
	spec         map[string]string
	syncing      SyncState
	user, pass   string
	down         bool
	stall        bool
	status       map[string]int
	requests     map[string]int
	attestations []json.RawMessage
	live         map[phase0.ValidatorIndex]bool
	streams      map[chan event]struct{}
	kill         chan struct{}
	closed       chan struct{}
}

// SyncState is what /eth/v1/node/syncing answers.
type SyncState struct {
	HeadSlot     phase0.Slot
	SyncDistance phase0.Slot
	IsSyncing    bool
	IsOptimistic bool
	ELOffline    bool
}

type event struct {
	topic string
	data  []byte
}

// Option configures New.
type Option func(*Node)

// WithGenesisRoot serves a different genesis validators root.
func WithGenesisRoot(root phase0.Root) Option {
	return func(n *Node) { n.genesis.GenesisValidatorsRoot = root }
}

// WithGenesisTime serves a different genesis time.
func WithGenesisTime(t time.Time) Option {
	return func(n *Node) { n.genesis.GenesisTime = t }
}

// WithBasicAuth makes every route require these credentials.
func WithBasicAuth(user, password string) Option {
	return func(n *Node) { n.user, n.pass = user, password }
}

// WithName sets the node's name, served as its version and used as the beacon
// block root of its attestation data so tests can tell which node answered.
func WithName(name string) Option {
	return func(n *Node) { n.name = name }
}

// WithSpec overrides or adds /eth/v1/config/spec values.
func WithSpec(values map[string]string) Option {
	return func(n *Node) { maps.Copy(n.spec, values) }
}

// New starts a fake node on 127.0.0.1 that stops when the test ends.
func New(tb testing.TB, opts ...Option) *Node {
	tb.Helper()
	n := &Node{
		mux:  http.NewServeMux(),
		name: "fake",
		genesis: apiv1.Genesis{
			GenesisTime:           DefaultGenesisTime,
			GenesisValidatorsRoot: DefaultGenesisRoot,
			GenesisForkVersion:    phase0.Version{0x10, 0x00, 0x00, 0x38},
		},
		spec: map[string]string{
			"CONFIG_NAME":                      "vigil-fake",
			"PRESET_BASE":                      "minimal",
			"SECONDS_PER_SLOT":                 "12",
			"SLOTS_PER_EPOCH":                  "8",
			"TARGET_AGGREGATORS_PER_COMMITTEE": "16",
			"GENESIS_FORK_VERSION":             "0x10000038",
			"ALTAIR_FORK_EPOCH":                "0",
			"BELLATRIX_FORK_EPOCH":             "0",
			"CAPELLA_FORK_EPOCH":               "0",
			"DENEB_FORK_EPOCH":                 "0",
			"ELECTRA_FORK_EPOCH":               "18446744073709551615",
			"FULU_FORK_EPOCH":                  "18446744073709551615",
		},
		syncing:  SyncState{HeadSlot: 100},
		status:   make(map[string]int),
		requests: make(map[string]int),
		live:     make(map[phase0.ValidatorIndex]bool),
		streams:  make(map[chan event]struct{}),
		kill:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	for _, opt := range opts {
		opt(n)
	}
	n.Handle(RouteSyncing, n.serveSyncing)
	n.Handle(RouteVersion, n.serveVersion)
	n.Handle(RouteGenesis, n.serveGenesis)
	n.Handle(RouteSpec, n.serveSpec)
	n.Handle(RouteAttesterDuties, n.serveAttesterDuties)
	n.Handle(RouteAttestation, n.serveAttestationData)
	n.Handle(RouteSubmitAtts, n.serveSubmitAttestations)
	n.Handle(RouteLiveness, n.serveLiveness)
	n.Handle(RouteEvents, n.serveEvents)

	n.srv = httptest.NewServer(n.mux)
	tb.Cleanup(n.Close)
	return n
}

// URL returns the node's base URL, without credentials.
func (n *Node) URL() string { return n.srv.URL }

// Close ends every stream and stops the server.
func (n *Node) Close() {
	n.mu.Lock()
	select {
	case <-n.closed:
		n.mu.Unlock()
		return
	default:
		close(n.closed)
	}
	n.mu.Unlock()
	n.srv.CloseClientConnections()
	n.srv.Close()
}

// Handle adds a route, e.g. for an endpoint the fake does not serve; the
// route obeys SetDown, SetStall, SetStatus and basic auth like the others.
func (n *Node) Handle(route string, h http.HandlerFunc) {
	n.mux.Handle(route, n.wrap(route, h))
}

// SetSyncing sets what /eth/v1/node/syncing answers.
func (n *Node) SetSyncing(s SyncState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.syncing = s
}

// SetDown makes the node drop every connection without answering, as a
// crashed node behind a proxy would, and ends open event streams.
func (n *Node) SetDown(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
	if down {
		close(n.kill)
		n.kill = make(chan struct{})
	}
}

// SetStall makes every route hang until the client gives up.
func (n *Node) SetStall(stall bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stall = stall
}

// SetStatus makes route answer with an error status and a Beacon API error
// body; 0 restores normal answers.
func (n *Node) SetStatus(route string, code int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if code == 0 {
		delete(n.status, route)
		return
	}
	n.status[route] = code
}

// SetLive marks validators as live for the liveness endpoint.
func (n *Node) SetLive(indices ...phase0.ValidatorIndex) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, i := range indices {
		n.live[i] = true
	}
}

// Requests returns how many requests reached route, answered or not.
func (n *Node) Requests(route string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.requests[route]
}

// Attestations returns the bodies of accepted attestation submissions.
func (n *Node) Attestations() []json.RawMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.attestations)
}

// Subscribers returns how many event streams are open.
func (n *Node) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.streams)
}

// Emit sends an event to every open stream; data is JSON-encoded.
func (n *Node) Emit(topic string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", topic, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.streams {
		select {
		case ch <- event{topic: topic, data: b}:
		default:
			return fmt.Errorf("event stream of %s is full", n.name)
		}
	}
	return nil
}

// BlockRoot is the root the node names as head in its attestation data.
func (n *Node) BlockRoot() phase0.Root {
	var root phase0.Root
	copy(root[:], n.name)
	return root
}

func (n *Node) wrap(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.requests[route]++
		down, stall, code := n.down, n.stall, n.status[route]
		user, pass := n.user, n.pass
		n.mu.Unlock()

		if down {
			hijackClose(w)
			return
		}
		if stall {
			select {
			case <-r.Context().Done():
			case <-n.closed:
			}
			return
		}
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				writeError(w, http.StatusUnauthorized, "unauthorised")
				return
			}
		}
		if code != 0 {
			writeError(w, code, "forced by test")
			return
		}
		h(w, r)
	})
}

func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("beacontest: response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"code":%d,"message":%q}`, code, msg)
}

func writeData(w http.ResponseWriter, data any, extra map[string]any) {
	doc := map[string]any{"data": data}
	maps.Copy(doc, extra)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (n *Node) serveSyncing(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	s := n.syncing
	n.mu.Unlock()
	writeData(w, map[string]any{
		"head_slot":     strconv.FormatUint(uint64(s.HeadSlot), 10),
		"sync_distance": strconv.FormatUint(uint64(s.SyncDistance), 10),
		"is_syncing":    s.IsSyncing,
		"is_optimistic": s.IsOptimistic,
		"el_offline":    s.ELOffline,
	}, nil)
}

func (n *Node) serveVersion(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]string{"version": "beacontest/" + n.name}, nil)
}

func (n *Node) serveGenesis(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	g := n.genesis
	n.mu.Unlock()
	writeData(w, &g, nil)
}

func (n *Node) serveSpec(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	spec := maps.Clone(n.spec)
	n.mu.Unlock()
	writeData(w, spec, nil)
}

func (n *Node) slotsPerEpoch() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, _ := strconv.ParseUint(n.spec["SLOTS_PER_EPOCH"], 10, 64)
	return max(v, 1)
}

// serveAttesterDuties gives validator i a duty in slot i mod SLOTS_PER_EPOCH
// of the epoch, committee 0, position i.
func (n *Node) serveAttesterDuties(w http.ResponseWriter, r *http.Request) {
	epoch, err := strconv.ParseUint(r.PathValue("epoch"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad epoch")
		return
	}
	var indices []string
	if err := json.NewDecoder(r.Body).Decode(&indices); err != nil {
		writeError(w, http.StatusBadRequest, "bad body")
		return
	}
	spe := n.slotsPerEpoch()
	duties := make([]*apiv1.AttesterDuty, 0, len(indices))
	for _, s := range indices {
		i, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad index")
			return
		}
		var pk phase0.BLSPubKey
		pk[0] = 0xa0
		copy(pk[40:], strconv.FormatUint(i, 10))
		duties = append(duties, &apiv1.AttesterDuty{
			PubKey:                  pk,
			Slot:                    phase0.Slot(epoch*spe + i%spe),
			ValidatorIndex:          phase0.ValidatorIndex(i),
			CommitteeIndex:          0,
			CommitteeLength:         128,
			CommitteesAtSlot:        1,
			ValidatorCommitteeIndex: i,
		})
	}
	dependent := n.BlockRoot()
	writeData(w, duties, map[string]any{
		"dependent_root":       "0x" + hex.EncodeToString(dependent[:]),
		"execution_optimistic": false,
	})
}

func (n *Node) serveAttestationData(w http.ResponseWriter, r *http.Request) {
	slot, err := strconv.ParseUint(r.URL.Query().Get("slot"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad slot")
		return
	}
	index, err := strconv.ParseUint(r.URL.Query().Get("committee_index"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad committee_index")
		return
	}
	spe := n.slotsPerEpoch()
	epoch := phase0.Epoch(slot / spe)
	writeData(w, &phase0.AttestationData{
		Slot:            phase0.Slot(slot),
		Index:           phase0.CommitteeIndex(index),
		BeaconBlockRoot: n.BlockRoot(),
		Source:          &phase0.Checkpoint{Epoch: max(epoch, 1) - 1, Root: phase0.Root{0x01}},
		Target:          &phase0.Checkpoint{Epoch: epoch, Root: phase0.Root{0x02}},
	}, nil)
}

func (n *Node) serveSubmitAttestations(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "bad body")
		return
	}
	n.mu.Lock()
	n.attestations = append(n.attestations, body)
	n.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (n *Node) serveLiveness(w http.ResponseWriter, r *http.Request) {
	var indices []string
	if err := json.NewDecoder(r.Body).Decode(&indices); err != nil {
		writeError(w, http.StatusBadRequest, "bad body")
		return
	}
	out := make([]map[string]any, 0, len(indices))
	n.mu.Lock()
	for _, s := range indices {
		i, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			n.mu.Unlock()
			writeError(w, http.StatusBadRequest, "bad index")
			return
		}
		out = append(out, map[string]any{"index": s, "is_live": n.live[phase0.ValidatorIndex(i)]})
	}
	n.mu.Unlock()
	writeData(w, out, nil)
}

func (n *Node) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "no flusher")
		return
	}
	ch := make(chan event, 16)
	n.mu.Lock()
	n.streams[ch] = struct{}{}
	kill := n.kill
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.streams, ch)
		n.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-kill:
			return
		case <-n.closed:
			return
		case e := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.topic, e.data)
			flusher.Flush()
		}
	}
}
