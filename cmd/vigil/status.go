package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/pkg/monitor/perf"
)

const (
	flagInstance = "instance"
	flagEpochs   = "epochs"

	defaultInstance = "http://127.0.0.1:9465"
	formatTable     = "table"
	formatJSON      = "json"
	// statusTimeout bounds the whole command: a status query that hangs
	// helps nobody.
	statusTimeout = 2 * time.Minute
)

func statusCommand() *cli.Command {
	flags := []cli.Flag{
		stringFlag(flagInstance, "monitor `URL` of a running `vigil validator run` (its --metrics-address)", defaultInstance),
		stringSliceFlag(flagBeaconNode, "compute from this Beacon API `URL` instead of asking a running vigil (repeatable)"),
		stringSliceFlag(flagKeyStore, "with --beacon-node: `KIND` of key store whose keys to show: vault or dir (repeatable, default dir)"),
		stringSliceFlag(flagPubkey, "with --beacon-node: validator public `KEY` (0x...) to show instead of a key store's keys (repeatable)"),
		intFlag(flagEpochs, "effectiveness over the last `N` evaluated epochs", perf.DefaultEffectivenessEpochs),
		stringFlag(flagFormat, "output `FORMAT`: table or json", formatTable),
	}
	return &cli.Command{
		Name:  "status",
		Usage: "show each validator's status, balance, last attestation, effectiveness and next duties",
		Description: "Asks the running vigil (--instance) by default. With --beacon-node it computes the same table from the\n" +
			"beacon node for the keys of the key stores or the given --pubkey values; no key is decrypted.",
		Flags:  append(flags, keyStoreFlags()...),
		Action: runStatus,
	}
}

func runStatus(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	format := c.String(flagFormat)
	if format != formatTable && format != formatJSON {
		return fmt.Errorf("--%s %q: want %s or %s", flagFormat, format, formatTable, formatJSON)
	}
	epochs := c.Int(flagEpochs)
	if epochs < 1 {
		return fmt.Errorf("--%s %d: want at least 1", flagEpochs, epochs)
	}
	ctx, cancel := context.WithTimeout(c.Context, statusTimeout)
	defer cancel()

	var st *perf.StatusReport
	if len(c.StringSlice(flagBeaconNode)) > 0 {
		st, err = statusFromBeacon(ctx, c, e, epochs)
	} else {
		st, err = statusFromInstance(ctx, c.String(flagInstance), epochs)
	}
	if err != nil {
		return err
	}
	if format == formatJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStatusTable(e.Stdout, st)
}

// statusFromInstance asks a running vigil's monitor listener.
func statusFromInstance(ctx context.Context, instance string, epochs int) (*perf.StatusReport, error) {
	u, err := url.Parse(strings.TrimRight(instance, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--%s %q: want a URL such as %s", flagInstance, instance, defaultInstance)
	}
	u.Path += "/api/v1/validators"
	u.RawQuery = url.Values{"epochs": {strconv.Itoa(epochs)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagInstance, err)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vigil instance at %s is unreachable (%v): is `vigil validator run` running with "+
			"--metrics-address there? To compute the status from a beacon node instead, use --%s URL", u.Host, unwrapURLError(err), flagBeaconNode)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("vigil instance at %s answered %s to /api/v1/validators: %s", u.Host, resp.Status, strings.TrimSpace(string(body)))
	}
	var st perf.StatusReport
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("vigil instance at %s sent an unreadable status (is it a vigil monitor listener?): %w", u.Host, err)
	}
	return &st, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusFromBeacon computes the table from the beacon nodes for the keys of
// the key stores (listed, never loaded) or the --pubkey values.
func statusFromBeacon(ctx context.Context, c *cli.Context, e *env, epochs int) (*perf.StatusReport, error) {
	nodes, err := beaconNodesFlag(c)
	if err != nil {
		return nil, err
	}
	pubkeys, err := statusPubkeys(ctx, c, e)
	if err != nil {
		return nil, err
	}
	pool, err := connectBeacon(ctx, e, nodes, nil)
	if err != nil {
		return nil, err
	}
	spec, err := fetchChainSpec(ctx, e.Log, pool, false)
	if err != nil {
		return nil, err
	}
	resp, err := pool.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: pubkeys})
	if err != nil {
		return nil, fmt.Errorf("look up the validators' indices on the beacon node: %w", err)
	}
	known := make(map[phase0.BLSPubKey]bool)
	var vals []perf.Validator
	for idx, v := range resp.Data {
		if v == nil || v.Validator == nil {
			continue
		}
		known[v.Validator.PublicKey] = true
		vals = append(vals, perf.Validator{Index: idx, Pubkey: v.Validator.PublicKey})
	}
	for _, pk := range pubkeys {
		if !known[pk] {
			fmt.Fprintf(e.Stderr, "%s: not known to the beacon node (no deposit processed yet)\n", shortKey(pk))
		}
	}
	ps := perf.Spec{GenesisTime: spec.GenesisTime, SlotDuration: spec.SlotDuration, SlotsPerEpoch: spec.SlotsPerEpoch}
	st, err := perf.Evaluate(ctx, pool, ps, time.Now(), vals, epochs)
	if err != nil {
		return nil, fmt.Errorf("compute the status from the beacon node: %w", err)
	}
	return st, nil
}

func statusPubkeys(ctx context.Context, c *cli.Context, e *env) ([]phase0.BLSPubKey, error) {
	var pubkeys []phase0.BLSPubKey
	for _, s := range c.StringSlice(flagPubkey) {
		pk, err := parsePubkeyFlag(flagPubkey, strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(pubkeys, pk) {
			pubkeys = append(pubkeys, pk)
		}
	}
	if len(pubkeys) > 0 {
		return pubkeys, nil
	}
	kinds, err := keyStoresFlag(c)
	if err != nil {
		return nil, err
	}
	src, err := openKeySources(c, e, openKeyStore, kinds)
	if err != nil {
		return nil, err
	}
	owner, err := src.list(ctx)
	if err != nil {
		return nil, err
	}
	for pk := range owner {
		pubkeys = append(pubkeys, pk)
	}
	if len(pubkeys) == 0 {
		return nil, fmt.Errorf("no keys in the key stores (%s): give --%s KEY, or the key store flags", strings.Join(kinds, ", "), flagPubkey)
	}
	slices.SortFunc(pubkeys, func(a, b phase0.BLSPubKey) int { return strings.Compare(string(a[:]), string(b[:])) })
	return pubkeys, nil
}

func shortKey(pk phase0.BLSPubKey) string { return fmt.Sprintf("%#x…%x", pk[:3], pk[45:]) }

func shortHex(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:8] + "…" + s[len(s)-6:]
}

func printStatusTable(w io.Writer, st *perf.StatusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PUBKEY\tINDEX\tSTATUS\tBALANCE (ETH)\tLAST ATTESTATION\tEFFECTIVENESS (%d EPOCHS)\tNEXT DUTIES\n", st.EffectivenessEpochs)
	for _, v := range st.Validators {
		eff := "-"
		if v.EffectivenessPercent != nil {
			eff = fmt.Sprintf("%.1f%%", *v.EffectivenessPercent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", shortHex(v.Pubkey), v.Index, v.Status,
			formatETH(v.BalanceGwei), lastAttestation(v.LastAttestation), eff, nextDuties(v.NextDuties))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.LastEvaluatedEpoch == nil {
		_, err := fmt.Fprintf(w, "No epoch evaluated yet (an epoch is evaluated once the one after it has ended); slot %d.\n", st.CurrentSlot)
		return err
	}
	_, err := fmt.Fprintf(w, "Last evaluated epoch %d; slot %d.\n", *st.LastEvaluatedEpoch, st.CurrentSlot)
	return err
}

func formatETH(gwei uint64) string {
	return fmt.Sprintf("%d.%09d", gwei/1_000_000_000, gwei%1_000_000_000)
}

func lastAttestation(a *perf.AttestationStatus) string {
	if a == nil {
		return "-"
	}
	if !a.Included {
		return fmt.Sprintf("epoch %d: missed", a.Epoch)
	}
	var wrong []string
	for _, v := range []struct {
		name string
		ok   bool
	}{{"head", a.Head}, {"target", a.Target}, {"source", a.Source}} {
		if !v.ok {
			wrong = append(wrong, v.name)
		}
	}
	votes := "all votes correct"
	if len(wrong) > 0 {
		votes = strings.Join(wrong, ", ") + " wrong"
	}
	delay := "delay ?"
	if a.InclusionDelay > 0 {
		delay = fmt.Sprintf("delay %d", a.InclusionDelay)
	}
	return fmt.Sprintf("epoch %d: included, %s, %s", a.Epoch, delay, votes)
}

func nextDuties(d perf.NextDuties) string {
	var parts []string
	if d.AttestationSlot != nil {
		parts = append(parts, fmt.Sprintf("attest %d", *d.AttestationSlot))
	}
	for _, s := range d.ProposalSlots {
		parts = append(parts, fmt.Sprintf("propose %d", s))
	}
	if d.SyncCommittee {
		parts = append(parts, "sync committee")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
