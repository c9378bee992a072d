package slashprotect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
)

// maxReportedConflicts bounds ImportReport.Conflicts and Irregular; the
// counts count all.
const maxReportedConflicts = 100

// FarFutureEpochs is how many epochs beyond the current one an imported
// record may lie. A record at epoch E stops its validator from attesting (or
// proposing) until E, so a file's record far ahead of the chain (a target of
// 2^40, from a signer with a runaway clock or a corrupt file) would block it
// for good. Eight epochs (51 minutes on mainnet) cover any clock error an
// operator would not notice, and bound the duties a wrong record can cost.
const FarFutureEpochs = 8

var (
	// ErrFarFuture refuses an interchange file holding a record more than
	// FarFutureEpochs beyond the current epoch (ImportOptions.Force imports it).
	ErrFarFuture = errors.New("interchange file holds records far beyond the current epoch")
	// ErrNoClock refuses an import that cannot tell the current epoch: the
	// database never ran a signer, the network is not a known one and no
	// ImportOptions.Timing was given.
	ErrNoClock = errors.New("cannot tell the chain's current epoch")
)

// ImportOptions configures Import.
type ImportOptions struct {
	// GenesisValidatorsRoot names the network. It is required when the database
	// has not recorded one yet, and must match the database's otherwise. The
	// file's root must always match.
	GenesisValidatorsRoot *phase0.Root
	// Timing is the network's clock, needed to refuse far-future records when
	// the database has not recorded one (it never ran a signer) and the network
	// is not one KnownNetwork knows. It must match the recorded or known timing
	// (ErrWrongTiming otherwise). Import never records it: only a signer binds
	// the timing its beacon node reports (BindNetwork).
	Timing *Timing
	// Force imports records beyond the far-future horizon (counted in
	// ImportReport.FarFuture and logged), and imports without a clock.
	Force bool
}

// ImportConflict is slashable data found while importing: within the file or
// between the file and the database. Conflicting records are still stored, so
// every later message is checked against all of them.
type ImportConflict struct {
	Pubkey phase0.BLSPubKey
	// Rule is RuleDoubleBlock, RuleDoubleVote or RuleSurroundVote.
	Rule   Rule
	Detail string
}

// IrregularAttestation is an imported attestation record that no beacon node
// can include: source after target (RuleSourceAfterTarget), or source equal to
// target after genesis (RuleSourceEqualsTarget). Other clients export such
// records; they are stored like any other and constrain every later vote
// through the double, surround and watermark rules (docs/slashprotect.md,
// "Irregular records").
type IrregularAttestation struct {
	Pubkey      phase0.BLSPubKey
	Rule        Rule
	SourceEpoch phase0.Epoch
	TargetEpoch phase0.Epoch
}

// ImportReport summarises an import.
type ImportReport struct {
	// Validators counts data elements (a pubkey listed twice counts twice).
	Validators int
	// Blocks and Attestations count records in the file.
	Blocks, Attestations int
	// NewBlocks and NewAttestations count records the database did not have.
	NewBlocks, NewAttestations int
	// Conflicts lists up to 100 slashable findings; ConflictCount counts all.
	Conflicts     []ImportConflict
	ConflictCount int
	// Irregular lists up to 100 irregular attestation records; IrregularCount
	// counts all.
	Irregular      []IrregularAttestation
	IrregularCount int
	// FarFuture counts records beyond the far-future horizon, imported because
	// ImportOptions.Force was set.
	FarFuture int
	// CurrentEpoch is the epoch the records were checked against, and
	// ClockSource where it came from; nil and "" when no clock was known and
	// Force skipped the check.
	CurrentEpoch *phase0.Epoch
	ClockSource  string
}

// horizon is the latest epoch an imported record may have.
type horizon struct {
	now           phase0.Epoch
	epoch         phase0.Epoch
	slotsPerEpoch uint64
	from          string
}

// fileMins are the minima of one validator's records in the file: EIP-3076
// conditions 2, 4 and 5 refuse anything at or below them.
type fileMins struct {
	state     *validatorState
	slot      *phase0.Slot
	source    *phase0.Epoch
	target    *phase0.Epoch
	seenTwice bool
}

func minPtr[T cmp.Ordered](cur *T, v T) *T {
	if cur == nil || v < *cur {
		return &v
	}
	return cur
}

func maxPtr[T cmp.Ordered](cur *T, v *T) (*T, bool) {
	if v == nil || (cur != nil && *cur >= *v) {
		return cur, false
	}
	x := *v
	return &x, true
}

// Import merges an EIP-3076 interchange document into the database in one
// transaction: on any error nothing is written. The document is streamed, so
// memory is bounded by the largest single validator entry.
func (db *DB) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportReport, error) {
	var report ImportReport
	done, err := db.use()
	if err != nil {
		return report, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeExclusive)
	if err != nil {
		return report, err
	}
	defer tx.rollback()

	network, known, err := db.importNetwork(ctx, tx, opts)
	if err != nil {
		return report, err
	}
	hz, noClock, err := db.importHorizon(ctx, tx, network, opts)
	if err != nil {
		return report, err
	}
	if hz != nil {
		report.CurrentEpoch, report.ClockSource = &hz.now, hz.from
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dec := interchange.NewDecoder(r)
	elems := decodeAhead(ctx, dec)
	mins := make(map[phase0.BLSPubKey]*fileMins)
	complete := false
	for e := range elems {
		if e.err != nil {
			return report, fmt.Errorf("import into %s: %w", db.where, errors.Join(ErrInterchange, e.err))
		}
		// Refuse another network's file as soon as its metadata has been read;
		// it may also come after the data, hence the check on every element.
		if err := checkFileNetwork(e.md, network); err != nil {
			return report, err
		}
		if e.v == nil {
			complete = true
			break
		}
		if noClock != nil && len(e.v.SignedBlocks)+len(e.v.SignedAttestations) > 0 {
			return report, fmt.Errorf("import into %s: %w", db.where, noClock)
		}
		if err := db.importValidator(ctx, tx, e.v, mins, &report, hz, opts.Force); err != nil {
			return report, fmt.Errorf("import into %s: %w", db.where, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return report, err
	}
	if !complete {
		return report, fmt.Errorf("import into %s: interchange decoding stopped early", db.where)
	}

	var dirty []*validatorState
	for _, m := range mins {
		v := m.state
		var c1, c2, c3 bool
		// Raise, never lower: max(database watermark, file minimum) keeps any gap
		// between the database's history and the file's unsignable (EIP-3076
		// "Advice for Complete Databases").
		v.wm.BlockSlot, c1 = maxPtr(v.wm.BlockSlot, m.slot)
		v.wm.AttestationSource, c2 = maxPtr(v.wm.AttestationSource, m.source)
		v.wm.AttestationTarget, c3 = maxPtr(v.wm.AttestationTarget, m.target)
		if c1 || c2 || c3 {
			dirty = append(dirty, v)
		}
	}
	slices.SortFunc(dirty, func(a, b *validatorState) int { return cmp.Compare(a.id, b.id) })
	if err := tx.saveWatermarks(ctx, dirty); err != nil {
		return report, fmt.Errorf("import into %s: %w", db.where, err)
	}
	if !known {
		if err := tx.setMeta(ctx, metaGenesisRoot, network[:]); err != nil {
			return report, fmt.Errorf("import into %s: %w", db.where, err)
		}
	}
	if err := tx.commit(ctx); err != nil {
		return report, fmt.Errorf("import into %s: %w", db.where, err)
	}
	db.network.Store(&network)
	for _, c := range report.Conflicts {
		db.log.Warn("interchange file holds slashable data; all of it was recorded", "pubkey", pubkey.Short(c.Pubkey), "rule", c.Rule.String(), "detail", c.Detail)
	}
	for _, a := range report.Irregular {
		db.log.Warn("interchange file holds an attestation no beacon node includes; it was recorded and constrains later votes",
			"pubkey", pubkey.Short(a.Pubkey), "rule", a.Rule.String(), "source_epoch", uint64(a.SourceEpoch), "target_epoch", uint64(a.TargetEpoch))
	}
	if report.FarFuture > 0 {
		db.log.Warn("imported records far beyond the current epoch (forced)", "count", report.FarFuture)
	}
	if hz == nil && report.Blocks+report.Attestations > 0 {
		db.log.Warn("imported without a far-future check: no clock for this network (forced)")
	}
	return report, nil
}

// importHorizon decides the latest epoch an imported record may have, from
// the database's recorded timing, a known network's, or the caller's. When none
// is known it returns a nil horizon and, unless Force is set, the ErrNoClock
// error that refuses the first record (a file of empty histories needs no clock).
func (db *DB) importHorizon(ctx context.Context, tx storeTx, network phase0.Root, opts ImportOptions) (hz *horizon, noClock, err error) {
	timing, ok, err := readTiming(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	from := "the slashing database's recorded genesis time"
	if ok && opts.Timing != nil && !opts.Timing.equal(timing) {
		return nil, nil, fmt.Errorf("slashing database %s recorded this network's timing as %s, but %s was given: check the genesis time given: %w",
			db.where, timing, opts.Timing, ErrWrongTiming)
	}
	if !ok {
		if name, known, isKnown := KnownNetwork(network); isKnown {
			if opts.Timing != nil {
				if err := checkKnownTiming(network, *opts.Timing); err != nil {
					return nil, nil, err
				}
			}
			timing, ok, from = known, true, name+"'s published genesis time"
		}
	}
	if !ok && opts.Timing != nil {
		if err := opts.Timing.validate(); err != nil {
			return nil, nil, err
		}
		timing, ok, from = *opts.Timing, true, "the genesis time given"
	}
	if !ok {
		if opts.Force {
			return nil, nil, nil
		}
		return nil, fmt.Errorf("%w: slashing database %s never ran a signer and genesis validators root %#x is not a network vigil knows "+
			"(mainnet, hoodi, sepolia, holesky), so it cannot tell whether the file's records lie in the future; "+
			"give the network's genesis time (--genesis-time, the genesis_time of the beacon node's /eth/v1/beacon/genesis) "+
			"or import without the check (--force)", ErrNoClock, db.where, network[:]), nil
	}
	now := timing.EpochAt(db.now())
	return &horizon{now: now, epoch: now + FarFutureEpochs, slotsPerEpoch: timing.SlotsPerEpoch, from: fmt.Sprintf("%s, %s", from, timing)}, nil, nil
}

// farFuture describes a record beyond the horizon, or returns "".
func (h *horizon) farFuture(what string, epoch phase0.Epoch) string {
	if h == nil || epoch <= h.epoch {
		return ""
	}
	return fmt.Sprintf("%s, %d epochs after the current epoch %d (from %s)", what, uint64(epoch-h.now), h.now, h.from)
}

// importNetwork decides the network an import is for, from the database and
// the caller.
func (db *DB) importNetwork(ctx context.Context, tx storeTx, opts ImportOptions) (phase0.Root, bool, error) {
	var network phase0.Root
	v, known, err := tx.getMeta(ctx, metaGenesisRoot)
	if err != nil {
		return network, false, err
	}
	switch {
	case known:
		copy(network[:], v)
		if opts.GenesisValidatorsRoot != nil && *opts.GenesisValidatorsRoot != network {
			return network, false, fmt.Errorf("genesis validators root %#x given, but slashing database %s records %#x: %w",
				opts.GenesisValidatorsRoot[:], db.where, network[:], ErrWrongNetwork)
		}
	case opts.GenesisValidatorsRoot != nil:
		network = *opts.GenesisValidatorsRoot
	default:
		return network, false, fmt.Errorf("%w: give the network's genesis validators root (--genesis-validators-root) for the first import", ErrNetworkUnknown)
	}
	return network, known, nil
}

func checkFileNetwork(md *interchange.Metadata, network phase0.Root) error {
	if md != nil && md.GenesisValidatorsRoot != network {
		return fmt.Errorf("interchange file is for genesis validators root %#x, but this database is for %#x: %w",
			md.GenesisValidatorsRoot[:], network[:], errors.Join(ErrWrongNetwork, ErrInterchange))
	}
	return nil
}

// decoded is one step of decoding: an element, an error, or (v and err nil)
// the end of a complete document. md is the metadata read so far.
type decoded struct {
	v   *interchange.Validator
	md  *interchange.Metadata
	err error
}

// decodeAhead parses the next elements on another goroutine while the caller
// writes the previous ones: parsing and writing each take about half the time.
func decodeAhead(ctx context.Context, dec *interchange.Decoder) <-chan decoded {
	out := make(chan decoded, 8)
	go func() {
		defer close(out)
		for {
			v, err := dec.Next()
			d := decoded{v: v, err: err}
			if md, ok := dec.Metadata(); ok {
				d.md = &md
			}
			if errors.Is(err, io.EOF) {
				d.err = nil
			}
			select {
			case out <- d:
			case <-ctx.Done():
				return
			}
			if d.v == nil {
				return
			}
		}
	}()
	return out
}

func (db *DB) importValidator(ctx context.Context, tx storeTx, v *interchange.Validator, mins map[phase0.BLSPubKey]*fileMins,
	report *ImportReport, hz *horizon, force bool) error {
	path := fmt.Sprintf("data[%d] (validator %#x)", report.Validators, v.Pubkey[:])
	report.Validators++
	report.Blocks += len(v.SignedBlocks)
	report.Attestations += len(v.SignedAttestations)
	var far []string
	for i, b := range v.SignedBlocks {
		if hz == nil {
			break
		}
		if d := hz.farFuture(fmt.Sprintf("signed_blocks[%d] has slot %d", i, b.Slot), phase0.Epoch(uint64(b.Slot)/hz.slotsPerEpoch)); d != "" {
			far = append(far, d)
		}
	}
	for i, a := range v.SignedAttestations {
		if d := hz.farFuture(fmt.Sprintf("signed_attestations[%d] has source_epoch %d, target_epoch %d", i, a.SourceEpoch, a.TargetEpoch), max(a.SourceEpoch, a.TargetEpoch)); d != "" {
			far = append(far, d)
		}
		rule := RuleNone
		switch {
		case isSourceAfterTarget(a.SourceEpoch, a.TargetEpoch):
			rule = RuleSourceAfterTarget
		case isSourceEqualsTargetAfterGenesis(a.SourceEpoch, a.TargetEpoch):
			rule = RuleSourceEqualsTarget
		}
		if rule != RuleNone {
			report.IrregularCount++
			if len(report.Irregular) < maxReportedConflicts {
				report.Irregular = append(report.Irregular, IrregularAttestation{Pubkey: v.Pubkey, Rule: rule, SourceEpoch: a.SourceEpoch, TargetEpoch: a.TargetEpoch})
			}
		}
	}
	if len(far) > 0 && !force {
		return fmt.Errorf("%s %s: imported, it would stop this validator from signing until then; "+
			"check the file (and this machine's clock), and if it is right import it with --force: %w", path, far[0], ErrFarFuture)
	}
	report.FarFuture += len(far)

	m := mins[v.Pubkey]
	if m == nil {
		locked, err := tx.lockValidators(ctx, []phase0.BLSPubKey{v.Pubkey})
		if err != nil {
			return err
		}
		m = &fileMins{state: locked[0]}
		mins[v.Pubkey] = m
	} else {
		// A pubkey listed twice: its entries are merged, and the second sees the
		// first's records in the database.
		m.seenTwice = true
	}
	st := m.state
	// Records exist only where watermarks do (the first record sets them), or
	// where an earlier entry of this file wrote them.
	hasHistory := m.seenTwice || st.wm.BlockSlot != nil || st.wm.AttestationSource != nil

	var oldBlocks []SignedBlock
	var oldAtts []SignedAttestation
	var err error
	if hasHistory && len(v.SignedBlocks) > 0 {
		if oldBlocks, err = tx.blocks(ctx, st.id); err != nil {
			return err
		}
	}
	if hasHistory && len(v.SignedAttestations) > 0 {
		if oldAtts, err = tx.attestations(ctx, st.id); err != nil {
			return err
		}
	}

	newBlocks := make([]SignedBlock, 0, len(v.SignedBlocks))
	for _, b := range v.SignedBlocks {
		m.slot = minPtr(m.slot, b.Slot)
		newBlocks = append(newBlocks, SignedBlock{Slot: b.Slot, SigningRoot: b.SigningRoot})
	}
	newAtts := make([]SignedAttestation, 0, len(v.SignedAttestations))
	for _, a := range v.SignedAttestations {
		m.source = minPtr(m.source, a.SourceEpoch)
		m.target = minPtr(m.target, a.TargetEpoch)
		newAtts = append(newAtts, SignedAttestation{SourceEpoch: a.SourceEpoch, TargetEpoch: a.TargetEpoch, SigningRoot: a.SigningRoot})
	}

	addedBlocks, blockConflicts := mergeBlocks(oldBlocks, newBlocks)
	addedAtts, attConflicts := mergeAttestations(oldAtts, newAtts)
	for _, c := range append(blockConflicts, attConflicts...) {
		report.ConflictCount++
		if len(report.Conflicts) < maxReportedConflicts {
			c.Pubkey = v.Pubkey
			c.Detail = fmt.Sprintf("validator %s: %s", pubkey.Short(v.Pubkey), c.Detail)
			report.Conflicts = append(report.Conflicts, c)
		}
	}

	blockRows := make([]blockRow, len(addedBlocks))
	for i, b := range addedBlocks {
		blockRows[i] = blockRow{validatorID: st.id, block: b}
	}
	attRows := make([]attRow, len(addedAtts))
	for i, a := range addedAtts {
		attRows[i] = attRow{validatorID: st.id, att: a}
	}
	if err := tx.insertBlocks(ctx, blockRows); err != nil {
		return err
	}
	if err := tx.insertAttestations(ctx, attRows); err != nil {
		return err
	}
	report.NewBlocks += len(addedBlocks)
	report.NewAttestations += len(addedAtts)
	return nil
}

func compareRoots(a, b *phase0.Root) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return slices.Compare(a[:], b[:])
}

// mergeBlocks returns the records of incoming that old lacks (duplicates
// dropped) and the slashable pairs among old and incoming that involve at
// least one incoming record.
func mergeBlocks(old, incoming []SignedBlock) ([]SignedBlock, []ImportConflict) {
	type tagged struct {
		SignedBlock
		isNew bool
	}
	all := make([]tagged, 0, len(old)+len(incoming))
	for _, b := range old {
		all = append(all, tagged{b, false})
	}
	for _, b := range incoming {
		all = append(all, tagged{b, true})
	}
	// Old records sort before new identical ones, so dropping the later of equal
	// neighbours keeps the old one.
	slices.SortStableFunc(all, func(a, b tagged) int {
		return cmp.Or(cmp.Compare(a.Slot, b.Slot), compareRoots(a.SigningRoot, b.SigningRoot), compareBool(a.isNew, b.isNew))
	})
	var added []SignedBlock
	var conflicts []ImportConflict
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].Slot == all[i].Slot {
			j++
		}
		group := slices.CompactFunc(all[i:j:j], func(a, b tagged) bool { return compareRoots(a.SigningRoot, b.SigningRoot) == 0 })
		for _, b := range group {
			if b.isNew {
				added = append(added, b.SignedBlock)
			}
		}
		if len(group) > 1 && slices.ContainsFunc(group, func(b tagged) bool { return b.isNew }) {
			conflicts = append(conflicts, ImportConflict{Rule: RuleDoubleBlock,
				Detail: fmt.Sprintf("%d different blocks at slot %d", len(group), group[0].Slot)})
		}
		i = j
	}
	return added, conflicts
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// mergeAttestations returns the records of incoming that old lacks and the
// slashable findings (double votes per target; surrounds found by a sweep in
// source order keeping the widest target seen) involving an incoming record.
func mergeAttestations(old, incoming []SignedAttestation) ([]SignedAttestation, []ImportConflict) {
	type tagged struct {
		SignedAttestation
		isNew bool
	}
	all := make([]tagged, 0, len(old)+len(incoming))
	for _, a := range old {
		all = append(all, tagged{a, false})
	}
	for _, a := range incoming {
		all = append(all, tagged{a, true})
	}
	slices.SortStableFunc(all, func(a, b tagged) int {
		return cmp.Or(cmp.Compare(a.TargetEpoch, b.TargetEpoch), cmp.Compare(a.SourceEpoch, b.SourceEpoch),
			compareRoots(a.SigningRoot, b.SigningRoot), compareBool(a.isNew, b.isNew))
	})
	all = slices.CompactFunc(all, func(a, b tagged) bool {
		return a.TargetEpoch == b.TargetEpoch && a.SourceEpoch == b.SourceEpoch && compareRoots(a.SigningRoot, b.SigningRoot) == 0
	})

	var added []SignedAttestation
	var conflicts []ImportConflict
	for i := 0; i < len(all); {
		j := i
		anyNew := false
		for j < len(all) && all[j].TargetEpoch == all[i].TargetEpoch {
			anyNew = anyNew || all[j].isNew
			if all[j].isNew {
				added = append(added, all[j].SignedAttestation)
			}
			j++
		}
		if j-i > 1 && anyNew {
			conflicts = append(conflicts, ImportConflict{Rule: RuleDoubleVote,
				Detail: fmt.Sprintf("%d different attestations with target %d", j-i, all[i].TargetEpoch)})
		}
		i = j
	}

	// Surrounds: visit in source order; a record is surrounded by one with a
	// strictly smaller source and strictly larger target. Track the widest
	// target among all records and among new ones, so that every record paired
	// with a new one is found.
	bySource := slices.Clone(all)
	slices.SortFunc(bySource, func(a, b tagged) int { return cmp.Compare(a.SourceEpoch, b.SourceEpoch) })
	var widestAll, widestNew *tagged
	for i := 0; i < len(bySource); {
		j := i
		for j < len(bySource) && bySource[j].SourceEpoch == bySource[i].SourceEpoch {
			r := &bySource[j]
			outer := widestNew
			if r.isNew {
				outer = widestAll
			}
			if outer != nil && outer.TargetEpoch > r.TargetEpoch {
				conflicts = append(conflicts, ImportConflict{Rule: RuleSurroundVote,
					Detail: fmt.Sprintf("source %d target %d surrounds source %d target %d",
						outer.SourceEpoch, outer.TargetEpoch, r.SourceEpoch, r.TargetEpoch)})
			}
			j++
		}
		for k := i; k < j; k++ {
			r := &bySource[k]
			if widestAll == nil || r.TargetEpoch > widestAll.TargetEpoch {
				widestAll = r
			}
			if r.isNew && (widestNew == nil || r.TargetEpoch > widestNew.TargetEpoch) {
				widestNew = r
			}
		}
		i = j
	}
	return added, conflicts
}
