package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

const (
	flagBeaconNode         = "beacon-node"
	flagKeyStore           = "key-store"
	flagFeeRecipient       = "fee-recipient"
	flagGraffiti           = "graffiti"
	flagBuilder            = "builder"
	flagGasLimit           = "gas-limit"
	flagDoppelgangerEpochs = "doppelganger-epochs"
	flagAllowLongGap       = "allow-long-gap"
	flagKeyPollInterval    = "key-poll-interval"
	flagEpoch              = "epoch"
	flagYes                = "yes"

	// exitUnsafeToRestart is the exit code that tells systemd (and operators)
	// not to restart vigil: another signer may be using the keys.
	exitUnsafeToRestart = 2
	// exitConfirmChars is how much of the public key an operator types to
	// confirm an exit: enough that it cannot be typed by habit.
	exitConfirmChars = 12
	// beaconRetryInterval paces the wait for a beacon node at start, which is
	// routine when vigil and the node start together.
	beaconRetryInterval = 2 * time.Second
)

// validatorDeps is what the validator commands take from outside; tests swap
// in fake stores, stdin and terminal detection.
type validatorDeps struct {
	openStore func(c *cli.Context, e *env, kind string) (keystore.Store, error)
	stdin     io.Reader
	isTTY     func(any) bool
}

func defaultValidatorDeps() validatorDeps {
	return validatorDeps{openStore: openKeyStore, stdin: os.Stdin, isTTY: isInteractive}
}

func validatorCommand() *cli.Command { return validatorCommandWith(defaultValidatorDeps()) }

func validatorCommandWith(d validatorDeps) *cli.Command {
	common := func(flags ...cli.Flag) []cli.Flag {
		base := []cli.Flag{
			stringSliceFlag(flagBeaconNode, "Beacon API `URL` (repeatable, in order of preference; reads fail over, submissions go to all)"),
			stringSliceFlag(flagKeyStore, "`KIND` of key store to load validator keys from: vault or dir (repeatable; keys are merged, default dir)"),
		}
		return append(append(base, flags...), keyStoreFlags()...)
	}
	return &cli.Command{
		Name:  "validator",
		Usage: "run the validator client, or exit a validator",
		Subcommands: []*cli.Command{
			{
				Name:  "run",
				Usage: "perform every duty of the keys in the key stores (attest, propose, aggregate, sync committee)",
				Flags: common(
					slashingDBFlag(),
					stringFlag(flagFeeRecipient, "execution `ADDRESS` (0x...) that receives the fees of proposed blocks (required)", ""),
					stringFlag(flagGraffiti, "graffiti `TEXT` of proposed blocks (at most 32 bytes)", ""),
					boolFlag(flagBuilder, "use the external builder network (validator registrations, builder payloads)"),
					uint64Flag(flagGasLimit, "execution gas `LIMIT` registered with builders", duties.DefaultGasLimit),
					uint64Flag(flagDoppelgangerEpochs, "watch each key for `N` epochs before it may sign (0 disables: only for a brand-new chain)", duties.DefaultDoppelgangerEpochs),
					boolFlag(flagAllowLongGap, "sign even when a validator's last signed message is more than a day old (confirm it really was offline)"),
					stringFlag(flagKeyPollInterval, "how often to look for keys added to or removed from the key stores (`DURATION`, 0 = only on SIGHUP)", "1m"),
					stringFlag(flagMetricsAddress, "`HOST:PORT` serving /metrics, /healthz, /readyz and /api/v1/validators (empty disables them)", defaultMetricsAddress),
					intFlag(flagMetricsValidatorLimit, "export per-validator metric series only while at most `N` keys are loaded (aggregates always)", defaultValidatorLimit),
					boolFlag(flagEnablePprof, "also serve Go profiling at /debug/pprof/ on the metrics listener"),
				),
				Action: func(c *cli.Context) error { return d.run(c) },
			},
			{
				Name:  "exit",
				Usage: "sign and submit a voluntary exit (irreversible)",
				Flags: common(
					stringFlag(flagPubkey, "validator public `KEY` (0x...)", ""),
					stringFlag(flagEpoch, "earliest `EPOCH` at which the exit is valid (default: the current epoch)", ""),
					// Command line only, unlike every other flag: a --yes left in
					// a config file or the environment would confirm every exit.
					&cli.BoolFlag{Name: flagYes, Usage: "do not ask for the typed confirmation (required without a terminal)"},
				),
				Action: func(c *cli.Context) error { return d.exit(c) },
			},
		},
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
	monitor            monitorConfig
}

func parseRunConfig(c *cli.Context) (*runConfig, error) {
	rc := &runConfig{
		graffiti:           c.String(flagGraffiti),
		builder:            c.Bool(flagBuilder),
		gasLimit:           c.Uint64(flagGasLimit),
		doppelgangerEpochs: c.Uint64(flagDoppelgangerEpochs),
		allowLongGap:       c.Bool(flagAllowLongGap),
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
	b, err := parseHexFlag(flagFeeRecipient, fr, len(rc.feeRecipient))
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
	if rc.monitor, err = parseMonitorConfig(c); err != nil {
		return nil, err
	}
	return rc, nil
}

func beaconNodesFlag(c *cli.Context) ([]string, error) {
	var nodes []string
	for _, n := range c.StringSlice(flagBeaconNode) {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("--%s is required: the Beacon API URL of at least one beacon node, e.g. http://127.0.0.1:5052", flagBeaconNode)
	}
	return nodes, nil
}

func keyStoresFlag(c *cli.Context) ([]string, error) {
	var stores []string
	for _, s := range c.StringSlice(flagKeyStore) {
		switch s = strings.TrimSpace(s); s {
		case kindVault, kindDir:
			if !slices.Contains(stores, s) {
				stores = append(stores, s)
			}
		default:
			return nil, fmt.Errorf("--%s %q: want %s or %s", flagKeyStore, s, kindVault, kindDir)
		}
	}
	if len(stores) == 0 {
		stores = []string{kindDir}
	}
	return stores, nil
}

func (d validatorDeps) run(c *cli.Context) (err error) {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
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

	// 0. The monitor's listener first: a port in use stops vigil before it
	// signs anything, and /readyz can say what a slow start waits for.
	origins := newKeyOrigins()
	mon, err := newRunMonitor(rc.monitor, e.Log, origins)
	if err != nil {
		return err
	}
	var monWG sync.WaitGroup
	defer monWG.Wait()
	monCtx, stopMon := context.WithCancel(life)
	defer stopMon()
	monWG.Go(func() { mon.serve(monCtx) })

	// 1. The slashing database first: a SQLite file stays locked for the
	// whole run, so a second instance on the same file cannot start.
	dbURL := slashingDBURL(c, e)
	db, err := slashprotect.Open(ctx, dbURL, slashprotect.WithLogger(e.Log))
	if err != nil {
		return fmt.Errorf("open the slashing-protection database: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the slashing-protection database: %w", cerr)
		}
	}()
	dbRoot, dbKnowsRoot, err := db.GenesisValidatorsRoot(ctx)
	if err != nil {
		return fmt.Errorf("read the slashing database's network: %w", err)
	}
	mon.setDB(db)

	// 2. The beacon nodes, then the chain they serve.
	var rootOpt *phase0.Root
	if dbKnowsRoot {
		rootOpt = &dbRoot
	}
	pool, err := connectBeacon(life, e, rc.beaconNodes, rootOpt, beacon.WithObserver(mon.metrics.Beacon()))
	if err != nil {
		return err
	}
	mon.setPool(pool)
	spec, err := fetchChainSpec(ctx, e.Log, pool, true)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while waiting for a node: a normal stop, nothing signed.
			e.Log.Info("Validator client stopped before a beacon node answered", slog.Any("error", err))
			return nil
		}
		return err
	}
	if err := checkNetwork(db.String(), dbRoot, dbKnowsRoot, spec.GenesisValidatorsRoot); err != nil {
		return err
	}
	e.Log.Info("Chain", slog.String("genesis_validators_root", fmt.Sprintf("%#x", spec.GenesisValidatorsRoot[:])),
		slog.Time("genesis_time", spec.GenesisTime), slog.Duration("slot_duration", spec.SlotDuration),
		slog.Uint64("slots_per_epoch", spec.SlotsPerEpoch), slog.String("slashing_db", db.String()))

	// 3. The keys.
	src, err := openKeySources(c, e, d.openStore, rc.stores)
	if err != nil {
		return err
	}
	src.track(origins)
	if v := src.tokenTTL(); v != nil {
		mon.setVault(v)
	}
	keys, err := src.loadNew(ctx, e.Log, nil)
	if err != nil {
		return err
	}

	// 4. The signer, the single door for every signature.
	sopts := []signer.Option{
		signer.WithSlashingDB(mon.metrics.InstrumentSlashingDB(db)), signer.WithChainSpec(spec),
		signer.WithLogger(e.Log), signer.WithObserver(mon.metrics.Signer()),
	}
	if rc.allowLongGap {
		sopts = append(sopts, signer.WithLongGapOverride())
	}
	sgn, err := signer.New(ctx, append(sopts, signer.WithKeys(keys...))...)
	if err != nil {
		zeroKeys(keys)
		return fmt.Errorf("start the signer: %w", err)
	}
	defer sgn.Close()
	mon.setKeys(sgn)
	pubkeys := sgn.Pubkeys()
	if len(pubkeys) == 0 {
		e.Log.Warn("No validator keys loaded; waiting for keys to be added to the key stores", slog.Any("key_stores", rc.stores))
	}

	// 5. The duties.
	dopts := []duties.Option{
		duties.WithBeaconNode(pool),
		duties.WithSigner(sgn),
		duties.WithFeeRecipient(rc.feeRecipient),
		duties.WithGasLimit(rc.gasLimit),
		duties.WithDoppelgangerEpochs(rc.doppelgangerEpochs),
		duties.WithLogger(e.Log),
		duties.WithObserver(dutyObservers{dutyLog{log: e.Log}, mon.metrics.Duties()}),
		duties.WithPubkeys(pubkeys...),
	}
	if rc.graffiti != "" {
		dopts = append(dopts, duties.WithGraffiti(rc.graffiti))
	}
	if rc.builder {
		dopts = append(dopts, duties.WithBuilder())
	}
	svc, err := duties.New(ctx, dopts...)
	if err != nil {
		return fmt.Errorf("start the duties: %w", err)
	}
	mon.setDuties(svc)
	if rc.doppelgangerEpochs == 0 {
		e.Log.Warn("Doppelganger protection is off: safe only on a brand-new chain or with keys known to be offline everywhere else")
	}

	// 6. The performance tracker: each finished epoch, from the beacon
	// node's own record.
	tracker := perf.NewTracker(pool, perf.Spec{GenesisTime: spec.GenesisTime, SlotDuration: spec.SlotDuration, SlotsPerEpoch: spec.SlotsPerEpoch},
		perf.WithLogger(e.Log), perf.WithValidatorLimit(rc.monitor.validatorLimit))
	mon.reg.MustRegister(tracker)
	mon.setValidators(tracker.Handler())

	pollCtx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watchKeys(pollCtx, e.Log, src, sgn, svc, rc.keyPollInterval) })
	wg.Go(func() { tracker.Run(pollCtx, func() []perf.Validator { return onChainValidators(svc.Validators()) }) })
	runErr := svc.Run(ctx)
	stopPoll()
	wg.Wait()
	if runErr == nil {
		e.Log.Info("Validator client stopped")
	}
	if errors.Is(runErr, duties.ErrDoppelganger) {
		mon.metrics.DoppelgangerDetected()
	}
	return runExit(runErr)
}

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
// stop, 2 when restarting could get the keys slashed, 1 otherwise.
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

// connectBeacon builds the beacon node pool; root, when known, makes it
// refuse nodes of another network.
func connectBeacon(ctx context.Context, e *env, nodes []string, root *phase0.Root, extra ...beacon.Option) (*beacon.Pool, error) {
	opts := append([]beacon.Option{beacon.WithAddresses(nodes), beacon.WithLogger(e.Log)}, extra...)
	if root != nil {
		opts = append(opts, beacon.WithGenesisValidatorsRoot(*root))
	}
	pool, err := beacon.New(ctx, opts...)
	if errors.Is(err, beacon.ErrWrongChain) && root != nil {
		return nil, fmt.Errorf("every --%s serves another network than the slashing database's (genesis validators root %#x): "+
			"point --%s at this network's nodes, or --%s at this network's database: %w", flagBeaconNode, root[:], flagBeaconNode, flagSlashingDB, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the beacon nodes: %w", err)
	}
	return pool, nil
}

// chainSource is what fetchChainSpec reads from the beacon nodes.
type chainSource interface {
	Genesis(ctx context.Context, opts *api.GenesisOpts) (*api.Response[*apiv1.Genesis], error)
	Spec(ctx context.Context, opts *api.SpecOpts) (*api.Response[map[string]any], error)
}

// fetchChainSpec reads genesis and spec from the beacon nodes; with wait it
// retries until a node answers or ctx ends, because a validator client and its
// beacon node are routinely started together.
func fetchChainSpec(ctx context.Context, log *slog.Logger, node chainSource, wait bool) (signer.ChainSpec, error) {
	for attempt := 0; ; attempt++ {
		spec, err := chainSpecOnce(ctx, node)
		if err == nil || errors.Is(err, signer.ErrChainSpec) || !wait {
			return spec, err
		}
		if attempt%5 == 0 {
			log.Warn("Waiting for a beacon node to serve genesis and spec", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return spec, fmt.Errorf("no beacon node served genesis and spec before shutdown: %w", err)
		case <-time.After(beaconRetryInterval):
		}
	}
}

func chainSpecOnce(ctx context.Context, node chainSource) (signer.ChainSpec, error) {
	gen, err := node.Genesis(ctx, &api.GenesisOpts{})
	if err != nil {
		return signer.ChainSpec{}, fmt.Errorf("read genesis from the beacon node: %w", err)
	}
	specResp, err := node.Spec(ctx, &api.SpecOpts{})
	if err != nil {
		return signer.ChainSpec{}, fmt.Errorf("read the chain spec from the beacon node: %w", err)
	}
	if gen == nil || gen.Data == nil || specResp == nil || specResp.Data == nil {
		return signer.ChainSpec{}, errors.New("beacon node returned an empty genesis or spec")
	}
	spec, err := signer.ChainSpecFromBeacon(specResp.Data, gen.Data)
	if err != nil {
		return spec, fmt.Errorf("beacon node's chain spec: %w", err)
	}
	return spec, nil
}

// checkNetwork refuses a beacon node of another network than the slashing
// database's: its records would protect nothing on this chain.
func checkNetwork(db string, dbRoot phase0.Root, dbKnows bool, nodeRoot phase0.Root) error {
	if !dbKnows || dbRoot == nodeRoot {
		return nil
	}
	return fmt.Errorf("the slashing database %s belongs to the network with genesis validators root %#x, but the beacon node serves %#x: "+
		"point --%s at this network's nodes, or --%s at this network's database: %w",
		db, dbRoot[:], nodeRoot[:], flagBeaconNode, flagSlashingDB, slashprotect.ErrWrongNetwork)
}

// pubkeyLister is the optional fast path of a store that can name its keys
// without reading per-key metadata (vaultstore: one LIST request).
type pubkeyLister interface {
	Pubkeys(ctx context.Context) ([]phase0.BLSPubKey, error)
}

// keySource is one opened key store.
type keySource struct {
	kind    string
	store   keystore.Store
	origins *keyOrigins
}

// track records, in origins, the store each key is loaded from.
func (src keySources) track(origins *keyOrigins) {
	for i := range src {
		src[i].origins = origins
	}
}

// tokenTTL returns the first store with an expiring credential, for the
// monitor, or nil.
func (src keySources) tokenTTL() tokenTTLer {
	for _, s := range src {
		if t, ok := s.store.(tokenTTLer); ok {
			return t
		}
	}
	return nil
}

// keySources are the key stores of a run in the order given; a key found in
// several is loaded from the first.
type keySources []keySource

func openKeySources(c *cli.Context, e *env, open func(*cli.Context, *env, string) (keystore.Store, error), kinds []string) (keySources, error) {
	src := make(keySources, 0, len(kinds))
	for _, kind := range kinds {
		s, err := open(c, e, kind)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flagKeyStore, kind, err)
		}
		src = append(src, keySource{kind: kind, store: s})
	}
	return src, nil
}

// list names every key in every store, each assigned to the first store
// that holds it. It fails if any store cannot be listed, so that a store
// that is briefly unreachable never looks like deleted keys.
func (src keySources) list(ctx context.Context) (map[phase0.BLSPubKey]int, error) {
	owner := map[phase0.BLSPubKey]int{}
	for i, s := range src {
		var pks []phase0.BLSPubKey
		if l, ok := s.store.(pubkeyLister); ok {
			var err error
			if pks, err = l.Pubkeys(ctx); err != nil {
				return nil, fmt.Errorf("list keys in the %s store: %w", s.kind, err)
			}
		} else {
			infos, err := s.store.List(ctx)
			if err != nil {
				return nil, fmt.Errorf("list keys in the %s store: %w", s.kind, err)
			}
			for _, in := range infos {
				pks = append(pks, in.Pubkey)
			}
		}
		for _, pk := range pks {
			if _, dup := owner[pk]; !dup {
				owner[pk] = i
			}
		}
	}
	return owner, nil
}

// loadNew loads every listed key for which have is false (every key when
// have is nil). Each store loads with its own bounded parallelism (Vault
// requests in flight, keystore decryption workers). On error no key is
// returned.
func (src keySources) loadNew(ctx context.Context, log *slog.Logger, have func(phase0.BLSPubKey) bool) ([]*keystore.Key, error) {
	owner, err := src.list(ctx)
	if err != nil {
		return nil, err
	}
	want := make([][]phase0.BLSPubKey, len(src))
	for pk, i := range owner {
		if have == nil || !have(pk) {
			want[i] = append(want[i], pk)
		}
	}
	var keys []*keystore.Key
	for i, pks := range want {
		if len(pks) == 0 {
			continue
		}
		slices.SortFunc(pks, func(a, b phase0.BLSPubKey) int { return strings.Compare(string(a[:]), string(b[:])) })
		start := time.Now()
		loaded, err := src[i].store.Load(ctx, pks)
		if err != nil {
			zeroKeys(keys)
			return nil, fmt.Errorf("load %d keys from the %s store: %w", len(pks), src[i].kind, err)
		}
		keys = append(keys, loaded...)
		for _, k := range loaded {
			src[i].origins.set(k.Pubkey, src[i].kind)
		}
		log.Info("Loaded validator keys", slog.String("key_store", src[i].kind), slog.Int("keys", len(loaded)),
			slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	return keys, nil
}

func zeroKeys(keys []*keystore.Key) {
	for _, k := range keys {
		k.Zero()
	}
}

// keyHolder and dutyKeys are the parts of the signer and the duties that
// key reloading changes.
type keyHolder interface {
	HasKey(phase0.BLSPubKey) bool
	Pubkeys() []phase0.BLSPubKey
	AddKeys(keys ...*keystore.Key) error
	RemoveKeys(pubkeys ...phase0.BLSPubKey) int
}

type dutyKeys interface {
	AddPubkeys(pubkeys ...phase0.BLSPubKey)
	RemovePubkeys(pubkeys ...phase0.BLSPubKey)
}

// watchKeys reloads the key stores every interval (if not 0) and on SIGHUP
// until ctx ends.
func watchKeys(ctx context.Context, log *slog.Logger, src keySources, sgn keyHolder, svc dutyKeys, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading the key stores")
		case <-tick:
		}
		if err := syncKeys(ctx, log, src, sgn, svc); err != nil {
			log.Warn("Failed to reload the key stores; keeping the keys already loaded", slog.Any("error", err))
		}
	}
}

// syncKeys makes the signer and the duties hold exactly the stores' keys.
// A removed key stops signing first in the duties, then in the signer: the
// operator may be moving it to another machine.
func syncKeys(ctx context.Context, log *slog.Logger, src keySources, sgn keyHolder, svc dutyKeys) error {
	owner, err := src.list(ctx)
	if err != nil {
		return err
	}
	var gone []phase0.BLSPubKey
	for _, pk := range sgn.Pubkeys() {
		if _, ok := owner[pk]; !ok {
			gone = append(gone, pk)
		}
	}
	if len(gone) > 0 {
		svc.RemovePubkeys(gone...)
		sgn.RemoveKeys(gone...)
		log.Info("Validator keys removed from the key stores; no longer signing for them", slog.Int("keys", len(gone)))
	}
	keys, err := src.loadNew(ctx, log, sgn.HasKey)
	if err != nil || len(keys) == 0 {
		return err
	}
	if err := sgn.AddKeys(keys...); err != nil {
		zeroKeys(keys)
		return fmt.Errorf("add keys to the signer: %w", err)
	}
	added := make([]phase0.BLSPubKey, len(keys))
	for i, k := range keys {
		added[i] = k.Pubkey
	}
	svc.AddPubkeys(added...)
	log.Info("New validator keys picked up", slog.Int("keys", len(added)))
	return nil
}

// dutyLog is the live log of duties: one info line per duty batch done or
// failed.
type dutyLog struct{ log *slog.Logger }

func (l dutyLog) Scheduled(kind duties.Kind, slot phase0.Slot, n int) {
	l.log.Debug("Duty scheduled", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n))
}

func (l dutyLog) Performed(kind duties.Kind, slot phase0.Slot, n int, intoSlot time.Duration) {
	l.log.Info("Duty", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n),
		slog.String("result", "ok"), slog.Duration("into_slot", intoSlot.Round(time.Millisecond)))
}

func (l dutyLog) Failed(kind duties.Kind, slot phase0.Slot, n int, err error) {
	l.log.Warn("Duty", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n),
		slog.String("result", "failed"), slog.Any("error", err))
}

// exitOnlyDB stands in for the slashing database in the exit command, which
// signs nothing slashable: it refuses every attestation and block, so the
// command never needs the database a running validator client holds locked.
type exitOnlyDB struct{}

var errExitOnly = errors.New("the exit command signs no attestations or blocks")

func (exitOnlyDB) CheckAndRecordAttestations(context.Context, []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error) {
	return nil, errExitOnly
}

func (exitOnlyDB) CheckAndRecordBlock(context.Context, slashprotect.BlockRequest) (slashprotect.Verdict, error) {
	return slashprotect.Verdict{}, errExitOnly
}

func (exitOnlyDB) BindNetwork(context.Context, phase0.Root, slashprotect.Timing) error { return nil }

func (exitOnlyDB) LatestRecords(context.Context, []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error) {
	return nil, errExitOnly
}

func (d validatorDeps) exit(c *cli.Context) error {
	if _, err := positionalArgs(c); err != nil {
		return err
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	pk, err := parsePubkeyFlag(flagPubkey, c.String(flagPubkey))
	if err != nil {
		return err
	}
	nodes, err := beaconNodesFlag(c)
	if err != nil {
		return err
	}
	kinds, err := keyStoresFlag(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	pool, err := connectBeacon(ctx, e, nodes, nil)
	if err != nil {
		return err
	}
	spec, err := fetchChainSpec(ctx, e.Log, pool, false)
	if err != nil {
		return err
	}
	epoch := spec.EpochAtSlot(spec.SlotAt(time.Now()))
	if s := c.String(flagEpoch); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("--%s %q: want an epoch number", flagEpoch, s)
		}
		epoch = phase0.Epoch(v)
	}
	vals, err := pool.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: []phase0.BLSPubKey{pk}})
	if err != nil {
		return fmt.Errorf("look up the validator on the beacon node: %w", err)
	}
	var val *apiv1.Validator
	if vals != nil {
		for _, v := range vals.Data {
			if v != nil && v.Validator != nil && v.Validator.PublicKey == pk {
				val = v
			}
		}
	}
	if val == nil {
		return fmt.Errorf("the beacon node does not know validator %s on this network (genesis validators root %#x): check --%s and --%s",
			pubkeyHex(pk), spec.GenesisValidatorsRoot[:], flagPubkey, flagBeaconNode)
	}
	if val.Status != apiv1.ValidatorStateActiveOngoing {
		return fmt.Errorf("validator %d (%s) is %s: only an active validator that is not exiting can exit", val.Index, pubkeyHex(pk), val.Status)
	}

	src, err := openKeySources(c, e, d.openStore, kinds)
	if err != nil {
		return err
	}
	owner, err := src.list(ctx)
	if err != nil {
		return err
	}
	i, ok := owner[pk]
	if !ok {
		return fmt.Errorf("no key store in --%s %s holds %s: %w", flagKeyStore, strings.Join(kinds, ","), pubkeyHex(pk), keystore.ErrNotFound)
	}
	keys, err := src[i].store.Load(ctx, []phase0.BLSPubKey{pk})
	if err != nil {
		return fmt.Errorf("load %s from the %s store: %w", pubkeyHex(pk), src[i].kind, err)
	}
	sgn, err := signer.New(ctx, signer.WithSlashingDB(exitOnlyDB{}), signer.WithChainSpec(spec), signer.WithLogger(e.Log), signer.WithKeys(keys...))
	if err != nil {
		zeroKeys(keys)
		return fmt.Errorf("start the signer: %w", err)
	}
	defer sgn.Close()

	fmt.Fprintf(e.Stderr, "About to exit validator %d (%s) at epoch %d on the network with genesis validators root %#x.\n"+
		"An exit cannot be undone: the validator stops earning and its stake becomes withdrawable after the exit queue.\n",
		val.Index, pubkeyHex(pk), epoch, spec.GenesisValidatorsRoot[:])
	if !c.Bool(flagYes) {
		if err := d.confirmExit(e.Stderr, pk); err != nil {
			return err
		}
	}
	msg := &phase0.VoluntaryExit{Epoch: epoch, ValidatorIndex: val.Index}
	sig, err := sgn.SignVoluntaryExit(ctx, pk, msg)
	if err != nil {
		return fmt.Errorf("sign the voluntary exit: %w", err)
	}
	if err := pool.SubmitVoluntaryExit(ctx, &phase0.SignedVoluntaryExit{Message: msg, Signature: sig}); err != nil {
		return fmt.Errorf("submit the voluntary exit (signed, but no beacon node accepted it): %w", err)
	}
	fmt.Fprintf(e.Stdout, "submitted voluntary exit of validator %d (%s) at epoch %d\n", val.Index, pubkeyHex(pk), epoch)
	return nil
}

// confirmExit asks the operator to type the first exitConfirmChars hex digits
// of the public key, which cannot be done by reflex the way "y" can.
func (d validatorDeps) confirmExit(w io.Writer, pk phase0.BLSPubKey) error {
	if !d.isTTY(d.stdin) {
		return fmt.Errorf("standard input is not a terminal, so the exit cannot be confirmed: run it interactively, or pass --%s", flagYes)
	}
	want := strings.TrimPrefix(pubkeyHex(pk), "0x")[:exitConfirmChars]
	fmt.Fprintf(w, "Type the first %d hex digits of the public key (after 0x) to confirm: ", exitConfirmChars)
	line, err := bufio.NewReader(d.stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read confirmation: %w", err)
	}
	got := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(line), "0x"))
	if got != want {
		return errors.New("confirmation does not match the public key; nothing was signed")
	}
	return nil
}
