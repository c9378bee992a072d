// Command devnet is vigil's main job on a local default: it starts a
// throw-away proof-of-stake chain on loopback (geth + Prysm's beacon node,
// built by scripts/build-devnet.sh) whose genesis validators are keys vigil
// generated itself, then runs `vigil validator run` on it with a live log of
// duties and a chain status line every epoch, until interrupted.
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
	flag.IntVar(&o.validators, "validators", 64, "genesis validators, all run by vigil")
	flag.DurationVar(&o.genesisDelay, "genesis-delay", 60*time.Second, "time from start to genesis, for vigil to load its keys and come up")
	flag.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.Parse()

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
	d, err := devnet.Start(ctx, devnet.Config{
		Binaries:        bins,
		Dir:             filepath.Join(dir, "chain"),
		DepositDataFile: depositFile,
		GenesisDelay:    o.genesisDelay,
		Logger:          log,
	})
	if err != nil {
		return fmt.Errorf("start the devnet: %w", err)
	}
	defer d.Stop()
	log.Info("devnet up", "beacon_api", d.BeaconURLs[0], "genesis", d.GenesisTime.Format(time.TimeOnly),
		"logs", filepath.Join(dir, "chain"))

	vc := exec.Command(vigil, "--data-dir", dataDir, "validator", "run",
		"--beacon-node", d.BeaconURLs[0],
		"--key-store", "dir",
		"--fee-recipient", "0x00000000000000000000000000000000000fee00",
		"--graffiti", "vigil devnet",
		// A brand-new chain has no history in which a doppelganger could show.
		"--doppelganger-epochs", "0")
	vc.Stdout, vc.Stderr = os.Stdout, os.Stderr
	if err := vc.Start(); err != nil {
		return fmt.Errorf("start vigil: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- vc.Wait() }()

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
			if herr == nil && ferr == nil {
				log.Info("chain", "head_slot", head.HeadSlot, "justified_epoch", fin.CurrentJustified,
					"finalized_epoch", fin.Finalized)
			}
		}
	}
}

// generateKeys has vigil create a mnemonic and n keys in a keystore
// directory, with deposit data for the devnet's genesis fork version, and
// returns the deposit data file.
func generateKeys(ctx context.Context, vigil, dir, dataDir string, n int) (string, error) {
	mnemonic := filepath.Join(dir, "mnemonic.txt")
	deposits := filepath.Join(dir, "deposits")
	if err := os.MkdirAll(deposits, 0o700); err != nil {
		return "", err
	}
	for _, args := range [][]string{
		{"mnemonic", "new", "--out", mnemonic},
		{"keys", "generate", "--mnemonic-file", mnemonic, "--start-index", "0", "--count", fmt.Sprint(n),
			"--network", "devnet", "--fork-version", "0x" + hex.EncodeToString(devnet.GenesisForkVersion[:]),
			"--store", "dir", "--deposit-dir", deposits},
	} {
		cmd := exec.CommandContext(ctx, vigil, append([]string{"--data-dir", dataDir}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("vigil %s %s: %w", args[0], args[1], err)
		}
	}
	files, err := filepath.Glob(filepath.Join(deposits, "deposit_data-*.json"))
	if err != nil || len(files) != 1 {
		return "", fmt.Errorf("want one deposit data file in %s, found %d", deposits, len(files))
	}
	return files[0], nil
}
