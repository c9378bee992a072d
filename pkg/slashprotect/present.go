package slashprotect

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// historyJSON is History's JSON form: hex strings and decimal strings, as
// in EIP-3076.
type historyJSON struct {
	Pubkey            string         `json:"pubkey"`
	Watermarks        watermarksJSON `json:"watermarks"`
	TotalBlocks       int            `json:"total_blocks"`
	TotalAttestations int            `json:"total_attestations"`
	Blocks            []blockJSON    `json:"signed_blocks"`
	Attestations      []attJSON      `json:"signed_attestations"`
}

type watermarksJSON struct {
	BlockSlot         *string `json:"block_slot"`
	AttestationSource *string `json:"attestation_source"`
	AttestationTarget *string `json:"attestation_target"`
}

type blockJSON struct {
	Slot        string `json:"slot"`
	SigningRoot string `json:"signing_root,omitempty"`
}

type attJSON struct {
	SourceEpoch string `json:"source_epoch"`
	TargetEpoch string `json:"target_epoch"`
	SigningRoot string `json:"signing_root,omitempty"`
}

func decimal[T ~uint64](p *T) *string {
	if p == nil {
		return nil
	}
	s := fmt.Sprint(uint64(*p))
	return &s
}

func rootHex(r *phase0.Root) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%#x", r[:])
}

// Write prints the history as `vigil slashing inspect` shows it: a table of
// watermarks and recent records, or JSON with EIP-3076's hex and decimal
// strings.
func (h History) Write(w io.Writer, asJSON bool) error {
	out := historyJSON{
		Pubkey: pubkey.Hex(h.Pubkey),
		Watermarks: watermarksJSON{
			BlockSlot: decimal(h.Watermarks.BlockSlot), AttestationSource: decimal(h.Watermarks.AttestationSource),
			AttestationTarget: decimal(h.Watermarks.AttestationTarget),
		},
		TotalBlocks: h.TotalBlocks, TotalAttestations: h.TotalAttestations,
		Blocks: []blockJSON{}, Attestations: []attJSON{},
	}
	for _, b := range h.Blocks {
		out.Blocks = append(out.Blocks, blockJSON{Slot: fmt.Sprint(uint64(b.Slot)), SigningRoot: rootHex(b.SigningRoot)})
	}
	for _, a := range h.Attestations {
		out.Attestations = append(out.Attestations, attJSON{SourceEpoch: fmt.Sprint(uint64(a.SourceEpoch)), TargetEpoch: fmt.Sprint(uint64(a.TargetEpoch)), SigningRoot: rootHex(a.SigningRoot)})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	orNone := func(s *string) string {
		if s == nil {
			return "none"
		}
		return *s
	}
	noRoot := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "validator\t%s\n", out.Pubkey)
	fmt.Fprintf(tw, "block slot watermark\t%s\n", orNone(out.Watermarks.BlockSlot))
	fmt.Fprintf(tw, "attestation source watermark\t%s\n", orNone(out.Watermarks.AttestationSource))
	fmt.Fprintf(tw, "attestation target watermark\t%s\n", orNone(out.Watermarks.AttestationTarget))
	fmt.Fprintf(tw, "\nblocks (%d of %d, newest first)\nslot\tsigning root\n", len(out.Blocks), out.TotalBlocks)
	for _, b := range out.Blocks {
		fmt.Fprintf(tw, "%s\t%s\n", b.Slot, noRoot(b.SigningRoot))
	}
	fmt.Fprintf(tw, "\nattestations (%d of %d, newest first)\nsource\ttarget\tsigning root\n", len(out.Attestations), out.TotalAttestations)
	for _, a := range out.Attestations {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.SourceEpoch, a.TargetEpoch, noRoot(a.SigningRoot))
	}
	return tw.Flush()
}

// Warnings describes what an import kept that the operator should know of:
// slashable findings, records no chain can include, and records beyond the
// current epoch. force names the option that forces an import.
func (r ImportReport) Warnings(force string) []string {
	var out []string
	for _, cf := range r.Conflicts {
		out = append(out, "slashable data: "+cf.Detail)
	}
	if r.ConflictCount > 0 {
		out = append(out, fmt.Sprintf("%d slashable findings; all records were kept, so every later message is checked against them", r.ConflictCount))
	}
	for _, a := range r.Irregular {
		out = append(out, fmt.Sprintf("validator %s: attestation record with source_epoch %d and target_epoch %d (%s) cannot be on chain; "+
			"it was kept, and every later vote is checked against it", pubkey.Hex(a.Pubkey), a.SourceEpoch, a.TargetEpoch, a.Rule))
	}
	if r.IrregularCount > len(r.Irregular) {
		out = append(out, fmt.Sprintf("%d such records in all", r.IrregularCount))
	}
	if r.FarFuture > 0 && r.CurrentEpoch != nil {
		out = append(out, fmt.Sprintf("%s imported %d records more than %d epochs beyond the current epoch %d; those validators cannot sign before them",
			force, r.FarFuture, FarFutureEpochs, *r.CurrentEpoch))
	}
	if r.CurrentEpoch == nil {
		out = append(out, force+" imported without checking for records beyond the current epoch (the network's clock is unknown)")
	}
	return out
}
