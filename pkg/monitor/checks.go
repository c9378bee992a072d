package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/duties"
)

// Names of the readiness checks, in /readyz order.
const (
	CheckKeys         = "keys_loaded"
	CheckBeaconNode   = "beacon_node"
	CheckSlashingDB   = "slashing_db"
	CheckDoppelganger = "doppelganger"
	CheckChainSpec    = "chain_spec"
)

// The parts of a running client the checks read; each is declared here, where
// it is consumed, and satisfied by the component's own type.
type (
	keyCounter interface{ Pubkeys() []phase0.BLSPubKey }
	nodeLister interface{ Nodes() []beacon.NodeStatus }
	// DatabaseProbe is the slashing database as the monitor sees it: a cheap
	// read that proves it answers, and a name for messages.
	DatabaseProbe interface {
		GenesisValidatorsRoot(ctx context.Context) (phase0.Root, bool, error)
		String() string
	}
	validatorLister interface {
		Validators() []duties.ValidatorStatus
	}
)

// KeysCheck passes while keys holds at least one key.
func KeysCheck(keys keyCounter) Check {
	return Check{Name: CheckKeys, Run: func(context.Context) (string, error) {
		n := len(keys.Pubkeys())
		if n == 0 {
			return "", errors.New("no validator keys loaded: add keys to the key stores (picked up on the next poll or SIGHUP)")
		}
		return fmt.Sprintf("%d keys", n), nil
	}}
}

// BeaconCheck passes while one beacon node is synced.
func BeaconCheck(pool nodeLister) Check {
	return Check{Name: CheckBeaconNode, Run: func(context.Context) (string, error) {
		var states []string
		for _, n := range pool.Nodes() {
			if NodeSynced(n) {
				return fmt.Sprintf("%s synced, head slot %d", n.URL, n.HeadSlot), nil
			}
			states = append(states, n.URL+" "+n.State.String())
		}
		return "", fmt.Errorf("no synced beacon node: %s", strings.Join(states, ", "))
	}}
}

// SlashingDBCheck passes while the slashing database answers.
func SlashingDBCheck(db DatabaseProbe) Check {
	return Check{Name: CheckSlashingDB, Run: func(ctx context.Context) (string, error) {
		if _, _, err := db.GenesisValidatorsRoot(ctx); err != nil {
			return "", fmt.Errorf("slashing database %s does not answer: %w", db, err)
		}
		return db.String(), nil
	}}
}

// dbUpTimeout bounds the scrape-time database check, so that a hung database
// cannot hang Prometheus's scrape.
const dbUpTimeout = 2 * time.Second

// DatabaseUp is SlashingDBCheck for the scrape (the vigil_slashing_db_up
// gauge), bounded like a readiness check.
func DatabaseUp(db DatabaseProbe) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), dbUpTimeout)
		defer cancel()
		_, _, err := db.GenesisValidatorsRoot(ctx)
		return err == nil
	}
}

// DoppelgangerCheck passes once doppelganger protection watches no key.
func DoppelgangerCheck(vals validatorLister) Check {
	return Check{Name: CheckDoppelganger, Run: func(context.Context) (string, error) {
		watching, signing := 0, 0
		for _, v := range vals.Validators() {
			switch {
			case v.Known && !v.Signing:
				watching++
			case v.Signing:
				signing++
			}
		}
		if watching > 0 {
			return "", fmt.Errorf("doppelganger protection still watching %d keys", watching)
		}
		return fmt.Sprintf("%d keys signing", signing), nil
	}}
}

// KeyStates lists the duties' validators for the keys-loaded gauges, each
// with the key store it came from (origin; "unknown" when it has none).
func KeyStates(vals validatorLister, origin func(phase0.BLSPubKey) string) func() []KeyState {
	return func() []KeyState {
		vs := vals.Validators()
		out := make([]KeyState, 0, len(vs))
		for _, v := range vs {
			st := "unknown"
			if v.Known && v.Status.String() != "" {
				st = v.Status.String()
			}
			store := origin(v.Pubkey)
			if store == "" {
				store = "unknown"
			}
			out = append(out, KeyState{Store: store, Status: st, Watching: v.Known && !v.Signing})
		}
		return out
	}
}
