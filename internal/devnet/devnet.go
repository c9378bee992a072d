// Package devnet runs a throwaway proof-of-stake chain on loopback: one geth
// and one Prysm beacon node per requested node, built by scripts/build-devnet.sh,
// with the genesis made by prysmctl from interop keys or a deposit-data file.
// Tests reach it through internal/testharness; programs call Start directly.
package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultGenesisDelay leaves time between Start and genesis for geth and the
// beacon nodes to come up and for the caller to attach validator clients,
// which must be running from the first slot.
const DefaultGenesisDelay = 30 * time.Second

// MaxBeaconNodes bounds Config.BeaconNodes: each node is a geth and a
// beacon-chain, about 400 MB and a fifth of a core together.
const MaxBeaconNodes = 4

// readyTimeout bounds how long one program may take to answer after start.
const readyTimeout = 90 * time.Second

// ErrGenesisPassed means the devnet came up only after its genesis time, too
// late for a validator client to propose the first blocks; raise GenesisDelay.
var ErrGenesisPassed = errors.New("devnet ready after genesis")

// Config describes a devnet to start. Exactly one of NumInteropValidators and
// DepositDataFile must be set.
type Config struct {
	// Binaries are the programs to run (see FindBinaries).
	Binaries Binaries
	// Dir holds every data directory, generated file and log; it is created if
	// missing and left in place by Stop.
	Dir string
	// NumInteropValidators puts that many validators with Prysm's
	// deterministic interop keys (indices 0..n-1) into genesis.
	NumInteropValidators int
	// DepositDataFile is a staking-deposit-cli deposit_data JSON file signed
	// for GenesisForkVersion whose deposits form the genesis validator set.
	// Deposits with a bad signature are silently left out by prysmctl.
	DepositDataFile string
	// GenesisDelay is the time from Start to genesis; DefaultGenesisDelay if 0.
	GenesisDelay time.Duration
	// BeaconNodes is how many geth + beacon-chain pairs to run (1 if 0); nodes
	// after the first peer with the first through a static libp2p peer.
	BeaconNodes int
	// Logger receives progress messages; none if nil.
	Logger *slog.Logger
}

// BeaconNode is one geth + beacon-chain pair of a devnet.
type BeaconNode struct {
	// URL is the Beacon API base, http://127.0.0.1:PORT.
	URL string
	// RPCAddr is the beacon node's gRPC address, for Prysm's validator client.
	RPCAddr string
	// ExecutionURL is geth's JSON-RPC base on loopback.
	ExecutionURL string
	// PeerID is the beacon node's libp2p peer id.
	PeerID string
	// Multiaddr is the address other beacon nodes use to peer with this one.
	Multiaddr string
	// Beacon is the beacon-chain process.
	Beacon *Process
	// Geth is the execution client process.
	Geth *Process

	p2pPort int
}

// Devnet is a running chain. Its methods are safe for concurrent use.
type Devnet struct {
	// Dir is Config.Dir, made absolute.
	Dir string
	// BeaconURLs are the Beacon API bases of the nodes, in order.
	BeaconURLs []string
	// GenesisTime is the chain's genesis, a whole second.
	GenesisTime time.Time
	// GenesisValidatorsRoot is the genesis state's genesis_validators_root.
	GenesisValidatorsRoot [32]byte
	// ChainConfig is the path of the chain config.yml all programs read.
	ChainConfig string
	// GenesisState is the path of the SSZ genesis state.
	GenesisState string
	// Nodes are the geth + beacon-chain pairs, BeaconURLs in the same order.
	Nodes []*BeaconNode

	bins    Binaries
	api     *apiClient
	log     *slog.Logger
	jwtPath string

	mu         sync.Mutex
	validators []*Process
	stopped    bool
}

// Start generates a genesis and starts every node, returning once each beacon
// node answers its API and, for nodes after the first, has been pointed at the
// first. It fails with ErrGenesisPassed when that took past genesis. On error
// everything it started is stopped again.
func Start(ctx context.Context, cfg Config) (*Devnet, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	d := &Devnet{
		Dir:  cfg.Dir,
		bins: cfg.Binaries,
		api:  newAPIClient(),
		log:  cfg.Logger,
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create devnet dir: %w", err)
	}
	genesisTime := time.Now().Add(cfg.GenesisDelay).Truncate(time.Second).Add(time.Second)
	g, err := writeGenesis(ctx, cfg, d.Dir, genesisTime)
	if err != nil {
		return nil, err
	}
	d.GenesisTime, d.GenesisValidatorsRoot = g.time, g.validatorsRoot
	d.ChainConfig, d.GenesisState, d.jwtPath = g.chainConfigPath, g.statePath, g.jwtPath
	d.log.Info("devnet genesis written", "genesis_time", d.GenesisTime.UTC().Format(time.RFC3339), "dir", d.Dir)

	if err := d.startNodes(ctx, cfg.BeaconNodes, g); err != nil {
		d.Stop()
		return nil, err
	}
	if now := time.Now(); !now.Before(d.GenesisTime) {
		d.Stop()
		return nil, fmt.Errorf("%w: nodes answered at %s, genesis was %s; raise GenesisDelay (now %s)",
			ErrGenesisPassed, now.UTC().Format(time.TimeOnly), d.GenesisTime.UTC().Format(time.TimeOnly), cfg.GenesisDelay)
	}
	d.log.Info("devnet up", "beacon_urls", strings.Join(d.BeaconURLs, ","), "genesis_in", time.Until(d.GenesisTime).Round(time.Second))
	return d, nil
}

func (c *Config) normalize() error {
	if c.Dir == "" {
		return errors.New("devnet config: Dir is required")
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("devnet config: Dir: %w", err)
	}
	c.Dir = abs
	if err := c.Binaries.validate(); err != nil {
		return err
	}
	switch {
	case c.NumInteropValidators < 0:
		return fmt.Errorf("devnet config: NumInteropValidators %d is negative", c.NumInteropValidators)
	case c.NumInteropValidators > 0 && c.DepositDataFile != "":
		return errors.New("devnet config: set NumInteropValidators or DepositDataFile, not both")
	case c.NumInteropValidators == 0 && c.DepositDataFile == "":
		return errors.New("devnet config: no validators; set NumInteropValidators or DepositDataFile")
	}
	if c.DepositDataFile != "" {
		if c.DepositDataFile, err = filepath.Abs(c.DepositDataFile); err != nil {
			return fmt.Errorf("devnet config: DepositDataFile: %w", err)
		}
		if _, err := os.Stat(c.DepositDataFile); err != nil {
			return fmt.Errorf("devnet config: DepositDataFile: %w", err)
		}
	}
	if c.BeaconNodes == 0 {
		c.BeaconNodes = 1
	}
	if c.BeaconNodes < 1 || c.BeaconNodes > MaxBeaconNodes {
		return fmt.Errorf("devnet config: BeaconNodes %d not in 1..%d", c.BeaconNodes, MaxBeaconNodes)
	}
	if c.GenesisDelay == 0 {
		c.GenesisDelay = DefaultGenesisDelay
	}
	if c.GenesisDelay < 0 {
		return fmt.Errorf("devnet config: GenesisDelay %s is negative", c.GenesisDelay)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Ports of one node, in the order freePorts hands them out.
const (
	portGethHTTP = iota
	portGethAuth
	portGethP2P
	portBeaconP2P
	portBeaconRPC
	portBeaconHTTP
	portBeaconMonitoring
	portsPerNode
)

func (d *Devnet) startNodes(ctx context.Context, n int, g *genesis) error {
	ports, err := freePorts(n * portsPerNode)
	if err != nil {
		return err
	}
	for i := range n {
		p := ports[i*portsPerNode : (i+1)*portsPerNode]
		node := &BeaconNode{
			URL:          fmt.Sprintf("http://127.0.0.1:%d", p[portBeaconHTTP]),
			RPCAddr:      fmt.Sprintf("127.0.0.1:%d", p[portBeaconRPC]),
			ExecutionURL: fmt.Sprintf("http://127.0.0.1:%d", p[portGethHTTP]),
			p2pPort:      p[portBeaconP2P],
		}
		d.mu.Lock()
		d.Nodes = append(d.Nodes, node)
		d.BeaconURLs = append(d.BeaconURLs, node.URL)
		d.mu.Unlock()
		if node.Geth, err = d.startGeth(ctx, i, p, g); err != nil {
			return err
		}
	}
	for i, node := range d.Nodes {
		if err := d.waitGeth(ctx, node); err != nil {
			return err
		}
		var peers []string
		if i > 0 {
			peers = []string{d.Nodes[0].Multiaddr}
		}
		p := ports[i*portsPerNode : (i+1)*portsPerNode]
		if node.Beacon, err = d.startBeacon(i, p, g, peers); err != nil {
			return err
		}
		if err := d.waitBeacon(ctx, node); err != nil {
			return err
		}
		d.log.Info("beacon node up", "node", i, "url", node.URL, "peer_id", node.PeerID)
	}
	return nil
}

func (d *Devnet) startGeth(ctx context.Context, i int, p []int, g *genesis) (*Process, error) {
	name := fmt.Sprintf("geth-%d", i)
	datadir := filepath.Join(d.Dir, name)
	logFile := filepath.Join(d.Dir, name+".log")
	init := exec.CommandContext(ctx, d.bins.Geth, "--datadir", datadir, "init", g.gethGenesisPath)
	if out, err := init.CombinedOutput(); err != nil {
		_ = os.WriteFile(logFile, out, 0o644)
		return nil, fmt.Errorf("geth init for %s: %w; last lines of %s:\n%s", name, err, logFile, tailFile(logFile, 20))
	}
	argv := []string{
		d.bins.Geth,
		"--datadir", datadir,
		"--networkid", strconv.Itoa(ChainID),
		"--syncmode", "full",
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(p[portGethHTTP]),
		"--http.api", "eth,net,web3",
		"--authrpc.addr", "127.0.0.1", "--authrpc.port", strconv.Itoa(p[portGethAuth]),
		"--authrpc.jwtsecret", g.jwtPath,
		// No peers at all: each geth only follows its own beacon node over the
		// engine API. geth cannot bind p2p to loopback only, so it also may not
		// talk to anything outside 127.0.0.0/8.
		"--nodiscover", "--maxpeers", "0", "--nat", "none", "--netrestrict", "127.0.0.0/8",
		"--port", strconv.Itoa(p[portGethP2P]),
		"--ipcdisable",
	}
	return startProcess(name, logFile, d.Dir, argv, nil)
}

func (d *Devnet) waitGeth(ctx context.Context, node *BeaconNode) error {
	return poll(ctx, readyTimeout, node.Geth, func(ctx context.Context) error {
		id, err := ethChainID(ctx, d.api.http, node.ExecutionURL)
		if err != nil {
			return err
		}
		if id != ChainID {
			return fmt.Errorf("geth at %s reports chain id %d, want %d", node.ExecutionURL, id, ChainID)
		}
		return nil
	})
}

func (d *Devnet) startBeacon(i int, p []int, g *genesis, peers []string) (*Process, error) {
	name := fmt.Sprintf("beacon-%d", i)
	argv := []string{
		d.bins.BeaconChain,
		"--datadir=" + filepath.Join(d.Dir, name),
		"--accept-terms-of-use",
		"--force-clear-db",
		"--chain-config-file=" + g.chainConfigPath,
		"--genesis-state=" + g.statePath,
		"--chain-id=" + strconv.Itoa(ChainID),
		"--contract-deployment-block=0",
		// No deposit contract is watched: eth1 data votes are made up.
		"--interop-eth1data-votes",
		"--execution-endpoint=http://127.0.0.1:" + strconv.Itoa(p[portGethAuth]),
		"--jwt-secret=" + g.jwtPath,
		"--suggested-fee-recipient=" + FeeRecipient,
		"--min-sync-peers=0",
		"--minimum-peers-per-subnet=0",
		// Loopback only: no discovery, no bootnodes (the default list is
		// mainnet's), listen and advertise on 127.0.0.1, refuse other peers.
		"--no-discovery",
		"--bootstrap-node=",
		"--p2p-local-ip=127.0.0.1",
		"--p2p-host-ip=127.0.0.1",
		"--p2p-allowlist=127.0.0.0/8",
		"--p2p-tcp-port=" + strconv.Itoa(p[portBeaconP2P]),
		"--p2p-udp-port=" + strconv.Itoa(p[portBeaconP2P]),
		// QUIC would need one more UDP port per node (default 13000, shared by
		// every node otherwise); TCP is enough on loopback.
		"--disable-quic",
		// Every node sees every attestation, so a node left alone after its
		// peer stops still has a full pool to pack into blocks.
		"--subscribe-all-subnets",
		"--rpc-host=127.0.0.1", "--rpc-port=" + strconv.Itoa(p[portBeaconRPC]),
		"--http-host=127.0.0.1", "--http-port=" + strconv.Itoa(p[portBeaconHTTP]),
		"--monitoring-host=127.0.0.1", "--monitoring-port=" + strconv.Itoa(p[portBeaconMonitoring]),
	}
	for _, peer := range peers {
		argv = append(argv, "--peer="+peer)
	}
	return startProcess(name, filepath.Join(d.Dir, name+".log"), d.Dir, argv, nil)
}

func (d *Devnet) waitBeacon(ctx context.Context, node *BeaconNode) error {
	return poll(ctx, readyTimeout, node.Beacon, func(ctx context.Context) error {
		id, err := d.api.identity(ctx, node.URL)
		if err != nil {
			return err
		}
		node.PeerID = id.PeerID
		node.Multiaddr = multiaddrFor(id, node.p2pPort)
		return nil
	})
}

// multiaddrFor picks the node's loopback TCP address from its identity, or
// builds it from the port it was given when the node lists none.
func multiaddrFor(id identity, tcpPort int) string {
	want := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tcpPort)
	for _, a := range id.P2PAddresses {
		if a == want || strings.HasPrefix(a, want+"/") {
			if strings.Contains(a, "/p2p/") {
				return a
			}
			return a + "/p2p/" + id.PeerID
		}
	}
	return want + "/p2p/" + id.PeerID
}

// poll calls check every 250 ms until it succeeds, proc exits, ctx ends or
// timeout passes; the error then names the last failure and proc's log tail.
func poll(ctx context.Context, timeout time.Duration, proc *Process, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNotReady) {
			return err
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("%w; last lines:\n%s", proc.exitError(), proc.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v); last lines of %s:\n%s",
				proc.Name, ctx.Err(), err, proc.LogFile, proc.Tail(30))
		case <-tick.C:
		}
	}
}

func ethChainID(ctx context.Context, c *http.Client, url string) (int64, error) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: eth_chainId at %s: %v", errNotReady, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: eth_chainId at %s: %s %v", errNotReady, url, resp.Status, err)
	}
	var r struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("eth_chainId at %s: decode %q: %w", url, b, err)
	}
	return strconv.ParseInt(strings.TrimPrefix(r.Result, "0x"), 16, 64)
}

// StopBeaconNode stops node i's beacon-chain and its geth, as when a machine
// goes away mid-run; the other nodes keep running.
func (d *Devnet) StopBeaconNode(i int) error {
	d.mu.Lock()
	if i < 0 || i >= len(d.Nodes) {
		d.mu.Unlock()
		return fmt.Errorf("stop beacon node %d: the devnet has %d", i, len(d.Nodes))
	}
	node := d.Nodes[i]
	d.mu.Unlock()
	if node.Beacon != nil {
		node.Beacon.Stop()
	}
	if node.Geth != nil {
		node.Geth.Stop()
	}
	d.log.Info("beacon node stopped", "node", i)
	return nil
}

// Stop stops every validator client, beacon node and geth, newest first. Logs
// and data stay in Dir. It is safe to call more than once.
func (d *Devnet) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	procs := d.processesLocked()
	d.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
}

// Processes returns every process the devnet started, oldest first: the
// geths, beacon nodes, then validator clients.
func (d *Devnet) Processes() []*Process {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.processesLocked()
}

func (d *Devnet) processesLocked() []*Process {
	var out []*Process
	for _, n := range d.Nodes {
		if n.Geth != nil {
			out = append(out, n.Geth)
		}
	}
	for _, n := range d.Nodes {
		if n.Beacon != nil {
			out = append(out, n.Beacon)
		}
	}
	return append(out, d.validators...)
}

// Finality returns node i's justified and finalized epochs at its head.
func (d *Devnet) Finality(ctx context.Context, i int) (Checkpoints, error) {
	node, err := d.node(i)
	if err != nil {
		return Checkpoints{}, err
	}
	return d.api.finality(ctx, node.URL)
}

// Head returns node i's head slot and sync status.
func (d *Devnet) Head(ctx context.Context, i int) (HeadInfo, error) {
	node, err := d.node(i)
	if err != nil {
		return HeadInfo{}, err
	}
	return d.api.syncing(ctx, node.URL)
}

// PeerCount returns how many peers node i is connected to.
func (d *Devnet) PeerCount(ctx context.Context, i int) (int, error) {
	node, err := d.node(i)
	if err != nil {
		return 0, err
	}
	return d.api.peerCount(ctx, node.URL)
}

// WaitForFinalizedEpoch polls node i once a slot until its finalized epoch
// reaches epoch, and fails early when a devnet process exits.
func (d *Devnet) WaitForFinalizedEpoch(ctx context.Context, i int, epoch uint64) (Checkpoints, error) {
	return d.waitForCheckpoints(ctx, i, func(c Checkpoints) bool { return c.Finalized >= epoch })
}

// WaitForJustifiedEpoch polls node i once a slot until its current justified
// epoch reaches epoch, and fails early when a devnet process exits.
func (d *Devnet) WaitForJustifiedEpoch(ctx context.Context, i int, epoch uint64) (Checkpoints, error) {
	return d.waitForCheckpoints(ctx, i, func(c Checkpoints) bool { return c.CurrentJustified >= epoch })
}

func (d *Devnet) waitForCheckpoints(ctx context.Context, i int, done func(Checkpoints) bool) (Checkpoints, error) {
	node, err := d.node(i)
	if err != nil {
		return Checkpoints{}, err
	}
	tick := time.NewTicker(SecondsPerSlot * time.Second)
	defer tick.Stop()
	var last Checkpoints
	for {
		cp, err := d.api.finality(ctx, node.URL)
		switch {
		case err == nil:
			last = cp
			if done(cp) {
				return cp, nil
			}
		case !errors.Is(err, errNotReady):
			return last, err
		}
		if err := d.CheckRunning(); err != nil {
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("node %d at justified %d finalized %d: %w", i, last.CurrentJustified, last.Finalized, ctx.Err())
		case <-tick.C:
		}
	}
}

// CheckRunning returns an error naming the first process that exited without
// being stopped, with its log tail.
func (d *Devnet) CheckRunning() error {
	for _, p := range d.Processes() {
		if !p.Running() && !p.wasStopped() {
			return fmt.Errorf("devnet: %w; last lines:\n%s", p.exitError(), p.Tail(30))
		}
	}
	return nil
}

func (d *Devnet) node(i int) (*BeaconNode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i < 0 || i >= len(d.Nodes) {
		return nil, fmt.Errorf("beacon node %d: the devnet has %d", i, len(d.Nodes))
	}
	return d.Nodes[i], nil
}

// EpochStart returns the wall-clock start of epoch.
func (d *Devnet) EpochStart(epoch uint64) time.Time {
	return d.GenesisTime.Add(time.Duration(epoch*SlotsPerEpoch*SecondsPerSlot) * time.Second)
}
