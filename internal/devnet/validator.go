package devnet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// PrysmValidatorConfig selects the interop keys Prysm's own validator client
// runs and the beacon node it attaches to.
type PrysmValidatorConfig struct {
	// BeaconNode is the index of the node to attach to.
	BeaconNode int
	// StartIndex is the first interop key index.
	StartIndex int
	// Count is the number of interop keys, StartIndex..StartIndex+Count-1.
	Count int
	// REST attaches over the Beacon REST API instead of Prysm's gRPC.
	REST bool
}

// StartPrysmValidator starts Prysm's validator client with interop keys. A
// devnet needs validator clients from genesis, or no blocks are made, and
// Prysm's is the reference to compare vigil with.
// It returns once the process has started; Stop stops it with the devnet.
func (d *Devnet) StartPrysmValidator(ctx context.Context, cfg PrysmValidatorConfig) (*Process, error) {
	node, err := d.node(cfg.BeaconNode)
	if err != nil {
		return nil, fmt.Errorf("start prysm validator: %w", err)
	}
	if cfg.Count <= 0 || cfg.StartIndex < 0 {
		return nil, fmt.Errorf("start prysm validator: interop keys %d..+%d is empty or negative", cfg.StartIndex, cfg.Count)
	}
	if d.bins.Validator == "" {
		return nil, errors.New("start prysm validator: Binaries.Validator is empty (use FindBinaries)")
	}
	if err := checkExecutable(d.bins.Validator); err != nil {
		return nil, fmt.Errorf("%w: %v; build it with %s", ErrBinariesNotFound, err, BuildCommand)
	}
	// Only the metrics server is on; the client's own gRPC and HTTP servers
	// stay off without --rpc or --web, but their ports are set all the same
	// so that no two clients could meet on a default (7000, 7500).
	ports, err := d.reservePorts(3)
	if err != nil {
		return nil, fmt.Errorf("start prysm validator: %w", err)
	}

	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil, errors.New("start prysm validator: devnet stopped")
	}
	name := fmt.Sprintf("prysm-validator-%d", len(d.validators))
	d.mu.Unlock()

	argv := []string{
		d.bins.Validator,
		"--datadir=" + filepath.Join(d.Dir, name),
		"--accept-terms-of-use",
		"--force-clear-db",
		"--chain-config-file=" + d.ChainConfig,
		"--interop-num-validators=" + strconv.Itoa(cfg.Count),
		"--interop-start-index=" + strconv.Itoa(cfg.StartIndex),
		"--suggested-fee-recipient=" + FeeRecipient,
		"--monitoring-host=127.0.0.1", "--monitoring-port=" + strconv.Itoa(ports[0]),
		"--rpc-host=127.0.0.1", "--rpc-port=" + strconv.Itoa(ports[1]),
		"--http-host=127.0.0.1", "--http-port=" + strconv.Itoa(ports[2]),
	}
	if cfg.REST {
		argv = append(argv, "--enable-beacon-rest-api", "--beacon-rest-api-provider="+node.URL)
	} else {
		argv = append(argv, "--beacon-rpc-provider="+node.RPCAddr)
	}
	p, err := startProcess(name, filepath.Join(d.Dir, name+".log"), d.Dir, argv, nil)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	stopped := d.stopped
	if !stopped {
		d.validators = append(d.validators, p)
	}
	d.mu.Unlock()
	if stopped {
		p.Stop()
		return nil, errors.New("start prysm validator: devnet stopped")
	}
	// A bad flag or config makes the client exit at once; catch that here
	// rather than as a chain that never justifies.
	select {
	case <-p.Exited():
		return nil, fmt.Errorf("start prysm validator: %w; last lines:\n%s", p.exitError(), p.Tail(30))
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d.log.Info("prysm validator started", "name", name, "beacon_node", cfg.BeaconNode,
		"interop_start", cfg.StartIndex, "count", cfg.Count, "rest", cfg.REST)
	return p, nil
}
