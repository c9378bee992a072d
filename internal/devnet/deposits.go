package devnet

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// MergeDepositFiles concatenates deposit-data files (each a JSON array of
// launchpad deposit entries, as `vigil keys generate` writes one per run) into
// one file for Config.DepositDataFile, keeping every entry as it is, and
// returns the entries' public keys in order, hex without 0x. A public key
// that appears twice is an error: prysmctl would make the second deposit a
// top-up of the first validator.
func MergeDepositFiles(out string, in ...string) ([]string, error) {
	var all []json.RawMessage
	var pubkeys []string
	seen := map[string]string{}
	for _, path := range in {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("merge deposit files: %w", err)
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(b, &entries); err != nil {
			return nil, fmt.Errorf("merge deposit files: %s: %w", path, err)
		}
		for i, e := range entries {
			var d struct {
				PubKey string `json:"pubkey"`
			}
			if err := json.Unmarshal(e, &d); err != nil || d.PubKey == "" {
				return nil, fmt.Errorf("merge deposit files: %s entry %d has no pubkey (%v)", path, i, err)
			}
			pk := strings.ToLower(strings.TrimPrefix(d.PubKey, "0x"))
			if first, dup := seen[pk]; dup {
				return nil, fmt.Errorf("merge deposit files: public key %s is in %s and in %s", pk, first, path)
			}
			seen[pk] = path
			pubkeys = append(pubkeys, pk)
			all = append(all, e)
		}
	}
	b, err := json.Marshal(all)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return nil, fmt.Errorf("merge deposit files: %w", err)
	}
	return pubkeys, nil
}
