package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Default fee recipients of the proposer configuration file: the run starts
// with defaultRecipientA and a SIGHUP switches the default to
// defaultRecipientB.
const (
	defaultRecipientA = "0x00000000000000000000000000000000000e2e0a"
	defaultRecipientB = "0x00000000000000000000000000000000000e2e0b"
	defaultGasLimit   = 36_000_000
)

// proposerConfig is the proposer configuration file the run uses, in the
// shape Teku, Lodestar and Prysm read: every fourth validator has its own
// fee recipient and gas limit, the others take the default.
type proposerConfig struct {
	path   string
	perKey map[string]string // pubkey → fee recipient
	gas    map[string]uint64
	// sighupAt and reloadedAt bound the slots in which the default changed
	// from A to B: a block between them may carry either.
	sighupAt, reloadedAt uint64
}

// newProposerConfig writes the file with defaultRecipientA as default.
func newProposerConfig(t *testing.T, path string, keys []string) *proposerConfig {
	t.Helper()
	p := &proposerConfig{path: path, perKey: map[string]string{}, gas: map[string]uint64{}}
	for k, pk := range keys {
		if k%4 == 0 {
			p.perKey[pk] = fmt.Sprintf("0x%040x", 0xfee000+k)
			p.gas[pk] = 30_000_000 + uint64(k)*1000
		}
	}
	p.write(t, defaultRecipientA)
	return p
}

func (p *proposerConfig) write(t *testing.T, def string) {
	t.Helper()
	type entry struct {
		FeeRecipient string `json:"fee_recipient"`
		GasLimit     string `json:"gas_limit"`
	}
	doc := struct {
		ProposerConfig map[string]entry `json:"proposer_config"`
		DefaultConfig  entry            `json:"default_config"`
	}{ProposerConfig: map[string]entry{}, DefaultConfig: entry{FeeRecipient: def, GasLimit: fmt.Sprint(defaultGasLimit)}}
	for pk, fr := range p.perKey {
		doc.ProposerConfig[pk] = entry{FeeRecipient: fr, GasLimit: fmt.Sprint(p.gas[pk])}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	tmp := p.path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, b, 0o600))
	require.NoError(t, os.Rename(tmp, p.path))
}

// changeDefault rewrites the file with defaultRecipientB as the default; the
// caller sends SIGHUP and sets sighupAt and reloadedAt.
func (p *proposerConfig) changeDefault(t *testing.T) {
	t.Helper()
	p.write(t, defaultRecipientB)
}

// allowed returns the fee recipients a block vigil proposed at slot for
// pubkey may carry.
func (p *proposerConfig) allowed(pubkey string, slot uint64) []string {
	if fr, ok := p.perKey[pubkey]; ok {
		return []string{fr}
	}
	switch {
	case slot < p.sighupAt:
		return []string{defaultRecipientA}
	case slot > p.reloadedAt+1:
		// Preparations are re-sent in the slot after the reload; the node
		// builds the next payload with them.
		return []string{defaultRecipientB}
	default:
		return []string{defaultRecipientA, defaultRecipientB}
	}
}

// checkFeeRecipient fails unless a block's fee recipient is one allowed.
func (p *proposerConfig) checkFeeRecipient(t *testing.T, pubkey string, slot uint64, got string) {
	t.Helper()
	want := p.allowed(pubkey, slot)
	require.Contains(t, want, strings.ToLower(got), "fee recipient of the block validator %s proposed at slot %d", pubkey, slot)
}
