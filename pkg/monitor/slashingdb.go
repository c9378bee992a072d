package monitor

import (
	"context"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// instrumentedDB times the signer's check-and-record calls. It adds no
// behaviour: every call and its result pass through unchanged, so the
// durability guarantee is the wrapped database's.
type instrumentedDB struct {
	signer.SlashingDB
	m *Metrics
}

// InstrumentSlashingDB wraps db so that every check-and-record commit is
// timed and every failure counted.
func (m *Metrics) InstrumentSlashingDB(db signer.SlashingDB) signer.SlashingDB {
	return instrumentedDB{SlashingDB: db, m: m}
}

func (d instrumentedDB) CheckAndRecordAttestations(ctx context.Context, reqs []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error) {
	start := time.Now()
	v, err := d.SlashingDB.CheckAndRecordAttestations(ctx, reqs)
	d.observe(string(signer.KindAttestation), start, err)
	return v, err
}

func (d instrumentedDB) CheckAndRecordBlock(ctx context.Context, req slashprotect.BlockRequest) (slashprotect.Verdict, error) {
	start := time.Now()
	v, err := d.SlashingDB.CheckAndRecordBlock(ctx, req)
	d.observe(string(signer.KindBlock), start, err)
	return v, err
}

func (d instrumentedDB) LatestRecords(ctx context.Context, pks []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error) {
	l, err := d.SlashingDB.LatestRecords(ctx, pks)
	if err != nil {
		d.m.dbErrors.Inc()
	}
	return l, err
}

func (d instrumentedDB) observe(kind string, start time.Time, err error) {
	if err != nil {
		d.m.dbErrors.Inc()
		return
	}
	d.m.commitDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}
