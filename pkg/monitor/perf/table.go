package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// shortPubkey prints a report's pubkey the one way vigil abbreviates keys.
func shortPubkey(s string) string {
	if pk, err := pubkey.Parse(s); err == nil {
		return pubkey.Short(pk)
	}
	return s
}

// WriteJSON prints the status report as indented JSON, the form `vigil
// status --format json` shows.
func WriteJSON(w io.Writer, st *StatusReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// WriteTable prints the status report as the table `vigil status` shows.
func WriteTable(w io.Writer, st *StatusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PUBKEY\tINDEX\tSTATUS\tBALANCE (ETH)\tLAST ATTESTATION\tEFFECTIVENESS (%d EPOCHS)\tNEXT DUTIES\n", st.EffectivenessEpochs)
	for _, v := range st.Validators {
		eff := "-"
		if v.EffectivenessPercent != nil {
			eff = fmt.Sprintf("%.1f%%", *v.EffectivenessPercent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", shortPubkey(v.Pubkey), v.Index, v.Status,
			formatETH(v.BalanceGwei), lastAttestation(v.LastAttestation), eff, nextDuties(v.NextDuties))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fork := ""
	if st.Fork != "" {
		fork = ", fork " + st.Fork
	}
	if st.LastEvaluatedEpoch == nil {
		_, err := fmt.Fprintf(w, "No epoch evaluated yet (an epoch is evaluated once the one after it has ended); slot %d%s.\n", st.CurrentSlot, fork)
		return err
	}
	_, err := fmt.Fprintf(w, "Last evaluated epoch %d; slot %d%s.\n", *st.LastEvaluatedEpoch, st.CurrentSlot, fork)
	return err
}

func formatETH(gwei uint64) string {
	return fmt.Sprintf("%d.%09d", gwei/1_000_000_000, gwei%1_000_000_000)
}

func lastAttestation(a *AttestationStatus) string {
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

func nextDuties(d NextDuties) string {
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
