// Command devnet is vigil's main job on a local default: it starts a
// throw-away proof-of-stake chain on loopback (geth + Prysm's beacon node,
// built by scripts/build-devnet.sh), on Fulu from genesis as mainnet is today,
// whose genesis validators are keys vigil generated itself (with 0x00, 0x01 and
// 0x02 withdrawal credentials, one 0x02 validator holding 64 ETH), then runs
// `vigil validator run` on it with a live log of duties and a chain status
// line every epoch, until interrupted. A start in which Prysm's beacon node
// died at genesis is thrown away and made afresh (devnet.StartAttached).
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-eth/vigil/internal/devnet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "devnet: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	dir          string
	vigil        string
	validators   int
	genesisDelay time.Duration
	duration     time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.dir, "dir", ".vigil-demo/devnet", "working `DIR`, emptied first (keys, chain data, logs)")
	flag.StringVar(&o.vigil, "vigil", "bin/vigil", "the vigil `BINARY` to run")
	flag.IntVar(&o.validators, "validators", 64, "genesis validators (at least 4), all run by vigil")
	flag.DurationVar(&o.genesisDelay, "genesis-delay", 2*time.Minute,
		"time from start to genesis, for the beacon node (about 10-35 s) and then vigil (its scrypt keystores take about 1 s each on two cores) to come up")
	flag.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.Parse()
	if o.validators < 4 {
		return fmt.Errorf("-validators %d: want at least 4, one per kind of withdrawal credentials and amount", o.validators)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "devnet")

	bins, err := devnet.FindBinaries()
	if err != nil {
		return fmt.Errorf("%w (run %s first)", err, devnet.BuildCommand)
	}
	vigil, err := filepath.Abs(o.vigil)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("empty %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dataDir := filepath.Join(dir, "vigil")

	log.Info("generating validator keys with vigil", "count", o.validators)
	depositFile, err := generateKeys(ctx, vigil, dir, dataDir, o.validators)
	if err != nil {
		return err
	}
	var (
		vc     *exec.Cmd
		exited chan error
	)
	startVigil := func(_ context.Context, d *devnet.Devnet) (func(), error) {
		// A chain started afresh has the same validators, so the same
		// genesis validators root: what vigil signed on a thrown-away one
		// would make it refuse to sign the same slots on the new one.
		dbs, err := filepath.Glob(filepath.Join(dataDir, "slashing.db*"))
		if err != nil {
			return nil, err
		}
		for _, f := range dbs {
			if err := os.Remove(f); err != nil {
				return nil, fmt.Errorf("remove the slashing database of a thrown-away chain: %w", err)
			}
		}
		log.Info("devnet up, starting vigil", "beacon_api", d.BeaconURLs[0], "genesis", d.GenesisTime.Format(time.TimeOnly),
			"fork", d.Schedule.ForkAt(0), "logs", d.Dir)
		vc = exec.Command(vigil, "--data-dir", dataDir, "validator", "run",
			"--beacon-node", d.BeaconURLs[0],
			"--key-store", "dir",
			"--fee-recipient", "0x00000000000000000000000000000000000fee00",
			"--graffiti", "vigil devnet",
			// A brand-new chain has no history in which a doppelganger could show.
			"--doppelganger-epochs", "0")
		vc.Stdout, vc.Stderr = os.Stdout, os.Stderr
		if err := vc.Start(); err != nil {
			return nil, fmt.Errorf("start vigil: %w", err)
		}
		exited = make(chan error, 1)
		go func(vc *exec.Cmd, exited chan<- error) { exited <- vc.Wait() }(vc, exited)
		return func() {
			_ = vc.Process.Kill()
			<-exited
		}, nil
	}
	d, err := devnet.StartAttached(ctx, devnet.Config{
		Binaries:        bins,
		Dir:             filepath.Join(dir, "chain"),
		DepositDataFile: depositFile,
		GenesisDelay:    o.genesisDelay,
		FuluAtGenesis:   true,
		Logger:          log,
	}, startVigil)
	if d != nil {
		defer d.Stop()
	}
	if err != nil {
		if vc != nil {
			_ = vc.Process.Kill()
		}
		return fmt.Errorf("start the devnet: %w", err)
	}

	status := time.NewTicker(d.EpochStart(1).Sub(d.EpochStart(0)))
	defer status.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("vigil exited: %w", err)
		case <-ctx.Done():
			log.Info("stopping vigil (SIGTERM: it finishes the current slot)")
			_ = vc.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					return fmt.Errorf("vigil: %w", err)
				}
			case <-time.After(30 * time.Second):
				_ = vc.Process.Kill()
				return errors.New("vigil did not stop within 30 s of SIGTERM")
			}
			return nil
		case <-status.C:
			if err := d.CheckRunning(); err != nil {
				return err
			}
			head, herr := d.Head(ctx, 0)
			fin, ferr := d.Finality(ctx, 0)
			fork, kerr := d.HeadFork(ctx, 0)
			if herr == nil && ferr == nil && kerr == nil {
				log.Info("chain", "fork", fork.Fork, "head_slot", head.HeadSlot, "justified_epoch", fin.CurrentJustified,
					"finalized_epoch", fin.Finalized)
			}
		}
	}
}

// withdrawalAddress receives the withdrawals of the 0x01 and 0x02 validators.
const withdrawalAddress = "0x000000000000000000000000000000000000beef"

// keyGroup is one `vigil keys generate` run: validators with one kind of
// withdrawal credentials and one deposit amount.
type keyGroup struct {
	count int
	// withdrawalType is "" for 0x00 (BLS) credentials, else "0x01" or
	// "0x02" to withdrawalAddress.
	withdrawalType string
	amountGwei     uint64
}

// keyGroups splits n validators into half 0x00, a quarter 0x01 and the rest
// 0x02 (compounding), the last of these with a 64 ETH deposit, so that the
// monitor shows an EIP-7251 balance above 32 ETH.
func keyGroups(n int) []keyGroup {
	const eth = 1_000_000_000
	bls, execution := n/2, n/4
	return []keyGroup{
		{count: bls, amountGwei: 32 * eth},
		{count: execution, withdrawalType: "0x01", amountGwei: 32 * eth},
		{count: n - bls - execution - 1, withdrawalType: "0x02", amountGwei: 32 * eth},
		{count: 1, withdrawalType: "0x02", amountGwei: 64 * eth},
	}
}

// generateKeys has vigil create a mnemonic and n keys in a keystore
// directory, with deposit data for the devnet's genesis fork version, and
// returns the deposit data file: one file per key group, merged.
func generateKeys(ctx context.Context, vigil, dir, dataDir string, n int) (string, error) {
	mnemonic := filepath.Join(dir, "mnemonic.txt")
	if err := vigilRun(ctx, vigil, dataDir, "mnemonic", "new", "--out", mnemonic); err != nil {
		return "", err
	}
	var files []string
	start := 0
	for i, g := range keyGroups(n) {
		if g.count == 0 {
			continue
		}
		deposits := filepath.Join(dir, fmt.Sprintf("deposits-%d", i))
		if err := os.MkdirAll(deposits, 0o700); err != nil {
			return "", err
		}
		args := []string{"keys", "generate", "--mnemonic-file", mnemonic,
			"--start-index", fmt.Sprint(start), "--count", fmt.Sprint(g.count),
			"--network", "devnet", "--fork-version", "0x" + hex.EncodeToString(devnet.GenesisForkVersion[:]),
			"--amount", fmt.Sprint(g.amountGwei),
			"--store", "dir", "--deposit-dir", deposits}
		if g.withdrawalType != "" {
			args = append(args, "--withdrawal-address", withdrawalAddress, "--withdrawal-type", g.withdrawalType)
		}
		if err := vigilRun(ctx, vigil, dataDir, args...); err != nil {
			return "", err
		}
		f, err := filepath.Glob(filepath.Join(deposits, "deposit_data-*.json"))
		if err != nil || len(f) != 1 {
			return "", fmt.Errorf("want one deposit data file in %s, found %d", deposits, len(f))
		}
		files = append(files, f[0])
		start += g.count
	}
	out := filepath.Join(dir, "deposit_data.json")
	if _, err := devnet.MergeDepositFiles(out, files...); err != nil {
		return "", err
	}
	return out, nil
}

// vigilRun runs one vigil command with the devnet's data directory.
func vigilRun(ctx context.Context, vigil, dataDir string, args ...string) error {
	cmd := exec.CommandContext(ctx, vigil, append([]string{"--data-dir", dataDir}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vigil %s: %w", strings.Join(args[:2], " "), err)
	}
	return nil
}
