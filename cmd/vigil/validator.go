package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/proposerconfig"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/monitor"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

const (
	defaultMetricsAddress = "127.0.0.1:9465"
	defaultValidatorLimit = 64
)

func validatorCommand() *cli.Command { return validatorCommandWith(defaultDeps()) }

func validatorCommandWith(d deps) *cli.Command {
	common := func(flags ...cli.Flag) []cli.Flag {
		base := []cli.Flag{
			beaconNodeFlag("Beacon API `URL` (repeatable, in order of preference; reads fail over, submissions go to all)"),
			keyStoreKindFlag("`KIND` of key store to load validator keys from: vault or dir (repeatable; keys are merged, default dir)"),
		}
		return append(append(base, flags...), keyStoreFlags()...)
	}
	return &cli.Command{
		Name:  "validator",
		Usage: "run the validator client, or exit a validator",
		Subcommands: []*cli.Command{
			{
				Name:   "run",
				Usage:  "perform every duty of the keys in the key stores (attest, propose, aggregate, sync committee)",
				Flags:  common(runFlags()...),
				Action: withEnv(d.run),
			},
			{
				Name:  "exit",
				Usage: "sign and submit a voluntary exit (irreversible)",
				Flags: common(
					cliutil.StringFlag(flagPubkey, "validator public `KEY` (0x...)", ""),
					cliutil.StringFlag(flagEpoch, "earliest `EPOCH` at which the exit is valid (default: the current epoch)", ""),
					yesFlag("do not ask for the typed confirmation (required without a terminal)"),
				),
				Action: func(c *cli.Context) error { return d.exit(c) },
			},
		},
	}
}

func runFlags() []cli.Flag {
	return []cli.Flag{
		slashingDBFlag(),
		cliutil.StringFlag(flagFeeRecipient, "execution `ADDRESS` (0x...) that receives the fees of proposed blocks (required)", ""),
		cliutil.StringFlag(flagGraffiti, "graffiti `TEXT` of proposed blocks (at most 32 bytes)", ""),
		cliutil.BoolFlag(flagBuilder, "use the external builder network (validator registrations, builder payloads)"),
		cliutil.StringFlag(flagProposerConfig, "proposer configuration `FILE` (Teku/Prysm format: per-key and default fee_recipient, gas_limit, "+
			"builder.enabled) over the flags' defaults; re-read on SIGHUP", ""),
		cliutil.Uint64Flag(flagSlashingPruneEpochs, "keep `N` epochs of slashing history per validator, pruning older records while vigil runs "+
			"(watermarks keep their protection; 0 never prunes)", 4096),
		cliutil.StringFlag(flagBlockTimeout, "how long the beacon node may take to produce a block (`DURATION`; default half a slot)", ""),
		cliutil.Uint64Flag(flagGasLimit, "execution gas `LIMIT` registered with builders", duties.DefaultGasLimit),
		cliutil.Uint64Flag(flagDoppelgangerEpochs, "watch each key for `N` epochs before it may sign (0 disables: only for a brand-new chain)", duties.DefaultDoppelgangerEpochs),
		cliutil.BoolFlag(flagAllowLongGap, "sign even when a validator's last signed message is more than a day old (confirm it really was offline)"),
		cliutil.StringFlag(flagKeyPollInterval, "how often to look for keys added to or removed from the key stores (`DURATION`, 0 = only on SIGHUP)", "1m"),
		cliutil.StringFlag(flagMetricsAddress, "`HOST:PORT` serving /metrics, /healthz, /readyz and /api/v1/validators (empty disables them)", defaultMetricsAddress),
		cliutil.IntFlag(flagMetricsValidatorLimit, "export per-validator metric series only while at most `N` keys are loaded (aggregates always)", defaultValidatorLimit),
		cliutil.BoolFlag(flagEnablePprof, "also serve Go profiling at /debug/pprof/ on the metrics listener"),
	}
}

// runConfig is the validated configuration of validator run.
type runConfig struct {
	beaconNodes        []string
	stores             []string
	feeRecipient       bellatrix.ExecutionAddress
	graffiti           string
	builder            bool
	gasLimit           uint64
	doppelgangerEpochs uint64
	allowLongGap       bool
	keyPollInterval    time.Duration
	proposerConfig     string
	blockTimeout       time.Duration
	pruneEpochs        uint64
	// metricsAddress, validatorLimit and pprof configure the monitor.
	metricsAddress string
	validatorLimit int
	pprof          bool
}

func parseRunConfig(c *cli.Context) (*runConfig, error) {
	rc := &runConfig{
		graffiti:           c.String(flagGraffiti),
		builder:            c.Bool(flagBuilder),
		gasLimit:           c.Uint64(flagGasLimit),
		doppelgangerEpochs: c.Uint64(flagDoppelgangerEpochs),
		allowLongGap:       c.Bool(flagAllowLongGap),
		proposerConfig:     c.String(flagProposerConfig),
		pruneEpochs:        c.Uint64(flagSlashingPruneEpochs),
		metricsAddress:     c.String(flagMetricsAddress),
		validatorLimit:     c.Int(flagMetricsValidatorLimit),
		pprof:              c.Bool(flagEnablePprof),
	}
	var err error
	if rc.beaconNodes, err = beaconNodesFlag(c); err != nil {
		return nil, err
	}
	if rc.stores, err = keyStoresFlag(c); err != nil {
		return nil, err
	}
	fr := c.String(flagFeeRecipient)
	if fr == "" {
		return nil, fmt.Errorf("--%s is required: without it the execution fees of proposed blocks would be burnt", flagFeeRecipient)
	}
	b, err := cliutil.ParseHexFlag(flagFeeRecipient, fr, len(rc.feeRecipient))
	if err != nil {
		return nil, err
	}
	copy(rc.feeRecipient[:], b)
	if rc.feeRecipient == (bellatrix.ExecutionAddress{}) {
		return nil, fmt.Errorf("--%s is the zero address: fees sent there are burnt", flagFeeRecipient)
	}
	if len(rc.graffiti) > 32 {
		return nil, fmt.Errorf("--%s is %d bytes long: at most 32 fit in a block", flagGraffiti, len(rc.graffiti))
	}
	if rc.gasLimit == 0 {
		return nil, fmt.Errorf("--%s 0: want a positive gas limit", flagGasLimit)
	}
	if rc.keyPollInterval, err = time.ParseDuration(c.String(flagKeyPollInterval)); err != nil || rc.keyPollInterval < 0 {
		return nil, fmt.Errorf("--%s %q: want a duration such as 1m, or 0 to poll only on SIGHUP", flagKeyPollInterval, c.String(flagKeyPollInterval))
	}
	if s := c.String(flagBlockTimeout); s != "" {
		if rc.blockTimeout, err = time.ParseDuration(s); err != nil || rc.blockTimeout <= 0 {
			return nil, fmt.Errorf("--%s %q: want a positive duration such as 6s", flagBlockTimeout, s)
		}
	}
	if rc.validatorLimit < 0 {
		return nil, fmt.Errorf("--%s %d: want 0 or more keys", flagMetricsValidatorLimit, rc.validatorLimit)
	}
	if _, _, err := net.SplitHostPort(rc.metricsAddress); rc.metricsAddress != "" && err != nil {
		return nil, fmt.Errorf("--%s %q: want host:port such as %s, or empty to disable metrics and health", flagMetricsAddress, rc.metricsAddress, defaultMetricsAddress)
	}
	if rc.pprof && rc.metricsAddress == "" {
		return nil, fmt.Errorf("--%s needs --%s: pprof is served on the monitor listener", flagEnablePprof, flagMetricsAddress)
	}
	return rc, nil
}

// run is `validator run`: the monitor's listener, the slashing database, the
// beacon nodes and the chain they serve, the keys, the signer, the duties and
// the performance tracker, built in that order, then run until a stop.
func (d deps) run(c *cli.Context, e *env) (err error) {
	rc, err := parseRunConfig(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	// The pool and the signer's database calls must outlive SIGTERM so that
	// the current slot's duties can finish and be submitted; they end when
	// run returns.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	mon, err := startMonitor(life, e, rc)
	if err != nil {
		return err
	}
	db, dbRoot, err := openSigningDB(ctx, c, e, mon)
	if err != nil {
		return err
	}
	defer closeDB(db, &err)
	pool, ch, err := connectChain(ctx, life, e, rc, dbRoot, mon)
	if err != nil || ch == nil {
		return err
	}
	set, err := openKeySet(c, e, d.openStore, rc.stores)
	if err != nil {
		return err
	}
	mon.State.SetVaultTokenTTL(set.TokenTTL)
	sgn, err := startSigner(ctx, e, rc, db, ch, set, mon)
	if err != nil {
		return err
	}
	defer sgn.Close()
	configs, err := proposerconfig.NewSource(rc.proposerConfig,
		duties.ProposerConfig{FeeRecipient: rc.feeRecipient, GasLimit: rc.gasLimit, Builder: rc.builder}, e.Log)
	if err != nil {
		return fmt.Errorf("--%s: %w", flagProposerConfig, err)
	}
	svc, err := startDuties(e, rc, pool, sgn, ch, set, configs, mon)
	if err != nil {
		return err
	}
	tracker := perf.NewTracker(pool, ch, perf.WithLogger(e.Log), perf.WithValidatorLimit(rc.validatorLimit))
	mon.Registry.MustRegister(tracker)
	mon.SetValidators(tracker.Handler())
	runErr := runServices(ctx, e, rc, ch, set, configs, sgn, svc, tracker, db)
	if errors.Is(runErr, duties.ErrDoppelganger) {
		mon.Metrics.DoppelgangerDetected()
	}
	return runExit(runErr)
}

// startMonitor binds the monitor's listener first: a port in use stops vigil
// before it opens anything, and /readyz can say what a slow start waits for.
func startMonitor(life context.Context, e *env, rc *runConfig) (*monitor.Service, error) {
	mon, err := monitor.NewService(monitor.Config{Address: rc.metricsAddress, Pprof: rc.pprof, Version: version, AddressFlag: flagMetricsAddress}, e.Log,
		monitor.Pending(monitor.CheckKeys, "keys not loaded yet"),
		monitor.Pending(monitor.CheckBeaconNode, "no beacon node connected yet"),
		monitor.Pending(monitor.CheckSlashingDB, "slashing database not open yet"),
		monitor.Pending(monitor.CheckDoppelganger, "duties not started yet"),
		monitor.Pending(monitor.CheckChainSpec, "chain spec not read yet"))
	if err != nil {
		return nil, err
	}
	go mon.Serve(life)
	return mon, nil
}

// openSigningDB opens the slashing database for the whole run (a SQLite
// file stays locked, so a second instance on it cannot start) and reads the
// network it belongs to, if it knows one.
func openSigningDB(ctx context.Context, c *cli.Context, e *env, mon *monitor.Service) (*slashprotect.DB, *phase0.Root, error) {
	db, err := slashprotect.Open(ctx, slashingDBURL(c, e), slashprotect.WithLogger(e.Log))
	if err != nil {
		return nil, nil, fmt.Errorf("open the slashing-protection database: %w", err)
	}
	root, known, err := db.GenesisValidatorsRoot(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("read the slashing database's network: %w", err)
	}
	mon.Health.Register(monitor.SlashingDBCheck(db))
	mon.State.SetSlashingDBUp(monitor.DatabaseUp(db))
	if !known {
		return db, nil, nil
	}
	return db, &root, nil
}

func closeDB(db *slashprotect.DB, err *error) {
	if cerr := db.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close the slashing-protection database: %w", cerr)
	}
}

// connectChain builds the beacon pool (refusing nodes of another network than
// the database's) and waits for a node to serve the chain's spec. A nil chain
// with no error means vigil was stopped while waiting.
func connectChain(ctx, life context.Context, e *env, rc *runConfig, dbRoot *phase0.Root, mon *monitor.Service) (*beacon.Pool, *chain.Chain, error) {
	recovered := chain.NewRefreshTrigger()
	pool, err := connectBeacon(life, e, rc.beaconNodes, dbRoot, beacon.WithObserver(mon.Metrics.Beacon(), beacon.OnRecovery(recovered.Poke)))
	if err != nil {
		return nil, nil, err
	}
	mon.Health.Register(monitor.BeaconCheck(pool))
	mon.State.SetNodes(pool.Nodes)
	ch, err := chain.Connect(ctx, pool, chain.WithLogger(e.Log), chain.WithRefreshOn(recovered))
	if err != nil {
		if ctx.Err() != nil {
			e.Log.Info("Validator client stopped before a beacon node answered", "error", err)
			return nil, nil, nil
		}
		return nil, nil, err
	}
	// The pool refused nodes of another network than the database's; the
	// signer binds a new database to this one (slashprotect.BindNetwork).
	mon.Health.Register(monitor.Check{Name: monitor.CheckChainSpec, Run: ch.Check})
	mon.State.SetSlot(ch.SlotClock().CurrentSlot)
	return pool, ch, nil
}

// startSigner loads the keys into the signer, the single door for every
// signature.
func startSigner(ctx context.Context, e *env, rc *runConfig, db *slashprotect.DB, ch *chain.Chain, set *keyset.Set, mon *monitor.Service) (*signer.Signer, error) {
	keys, err := set.LoadAll(ctx)
	if err != nil {
		return nil, err
	}
	opts := []signer.Option{
		signer.WithSlashingDB(db), signer.WithChain(ch), signer.WithLogger(e.Log),
		signer.WithObserver(mon.Metrics.Signer()), signer.WithKeys(keys...),
	}
	if rc.allowLongGap {
		opts = append(opts, signer.WithLongGapOverride())
	}
	sgn, err := signer.New(ctx, opts...)
	if err != nil {
		keyset.Zero(keys)
		return nil, fmt.Errorf("start the signer: %w", err)
	}
	mon.Health.Register(monitor.KeysCheck(sgn))
	if len(sgn.Pubkeys()) == 0 {
		e.Log.Warn("No validator keys loaded; waiting for keys to be added to the key stores")
	}
	return sgn, nil
}

// startDuties builds the duties of the signer's keys.
func startDuties(e *env, rc *runConfig, pool *beacon.Pool, sgn *signer.Signer, ch *chain.Chain, set *keyset.Set,
	configs *proposerconfig.Source, mon *monitor.Service) (*duties.Service, error) {
	opts := []duties.Option{
		duties.WithBeaconNode(pool), duties.WithSigner(sgn), duties.WithChain(ch), duties.WithProposerConfigs(configs),
		duties.WithBlockProductionTimeout(rc.blockTimeout),
		duties.WithDoppelgangerEpochs(rc.doppelgangerEpochs), duties.WithLogger(e.Log),
		duties.WithObserver(monitor.DutyLog(e.Log), mon.Metrics.Duties()), duties.WithPubkeys(sgn.Pubkeys()...),
	}
	if rc.graffiti != "" {
		opts = append(opts, duties.WithGraffiti(rc.graffiti))
	}
	svc, err := duties.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start the duties: %w", err)
	}
	mon.Health.Register(monitor.DoppelgangerCheck(svc))
	mon.State.SetKeys(monitor.KeyStates(svc, set.Origin))
	if rc.doppelgangerEpochs == 0 {
		e.Log.Warn("Doppelganger protection is off: safe only on a brand-new chain or with keys known to be offline everywhere else")
	}
	return svc, nil
}

// runServices runs the duties until they stop, with the key reloader (every
// --key-poll-interval and on SIGHUP), the proposer configuration's reload
// (on SIGHUP), the chain model's refresh and the performance tracker beside
// them.
func runServices(ctx context.Context, e *env, rc *runConfig, ch *chain.Chain, set *keyset.Set, configs *proposerconfig.Source,
	sgn *signer.Signer, svc *duties.Service, tracker *perf.Tracker, db *slashprotect.DB) error {
	keysHup, configHup := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(keysHup, syscall.SIGHUP)
	signal.Notify(configHup, syscall.SIGHUP)
	defer signal.Stop(keysHup)
	defer signal.Stop(configHup)
	bg, stopBg := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { keyset.NewReloader(set, sgn, svc).Run(bg, rc.keyPollInterval, keysHup) })
	wg.Go(func() { configs.ReloadOn(bg, configHup, svc.ProposerConfigChanged) })
	wg.Go(func() { ch.Run(bg) })
	wg.Go(func() {
		db.RunPruning(bg, ch.SlotClock(), slashprotect.PruneOptions{KeepEpochs: rc.pruneEpochs}, pruneEvery)
	})
	wg.Go(func() { tracker.Run(bg, func() []perf.Validator { return onChainValidators(svc.Validators()) }) })
	err := svc.Run(ctx)
	stopBg()
	wg.Wait()
	if err == nil {
		e.Log.Info("Validator client stopped")
	}
	return err
}

// pruneEvery is how often the slashing history is pruned while vigil runs;
// a pass over 10,000 keys takes about a second.
const pruneEvery = 64

// onChainValidators are the loaded keys the beacon node knows, for the
// performance tracker.
func onChainValidators(vals []duties.ValidatorStatus) []perf.Validator {
	out := make([]perf.Validator, 0, len(vals))
	for _, v := range vals {
		if v.Known {
			out = append(out, perf.Validator{Index: v.Index, Pubkey: v.Pubkey})
		}
	}
	return out
}

// runExit maps how the duties ended to the process's exit: 0 for a normal
// stop, exitUnsafeToRestart when restarting could get the keys slashed, 1
// otherwise.
func runExit(err error) error {
	switch {
	case err == nil:
		return nil
	case duties.UnsafeToRestart(err):
		return cli.Exit(fmt.Sprintf("stopped to protect the keys; do not restart before finding the other signer: %v", err), exitUnsafeToRestart)
	default:
		return fmt.Errorf("duties: %w", err)
	}
}
