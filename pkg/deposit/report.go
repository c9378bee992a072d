package deposit

import (
	"fmt"
	"io"

	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// WriteVerification prints one line per entry of a verified deposit data
// file (errs as VerifyEntries returns them) and returns how many failed.
func WriteVerification(w io.Writer, entries []Data, errs []error) (failed int) {
	for i, err := range errs {
		d := &entries[i]
		if err != nil {
			failed++
			fmt.Fprintf(w, "entry %d %s: FAIL: %v\n", i, entryKey(d.Pubkey), err)
			continue
		}
		fmt.Fprintf(w, "entry %d %s: OK (%s, %d Gwei, credentials 0x%s…)\n", i, entryKey(d.Pubkey), d.NetworkName, d.Amount, prefix(d.WithdrawalCredentials))
	}
	return failed
}

// entryKey prints a deposit's public key the one way vigil abbreviates keys,
// or the start of whatever the file holds instead.
func entryKey(h string) string {
	if pk, err := pubkey.Parse(h); err == nil {
		return pubkey.Short(pk)
	}
	return prefix(h)
}

func prefix(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
