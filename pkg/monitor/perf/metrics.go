package perf

import (
	"fmt"
	"strconv"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values.
const (
	resultIncluded = "included"
	resultMissed   = "missed"
	resultCorrect  = "correct"
	resultWrong    = "wrong"
	resultProposed = "proposed"
	voteHead       = "head"
	voteTarget     = "target"
	voteSource     = "source"
)

// metrics holds the Tracker's exported values; the Tracker's mutex guards it.
type metrics struct {
	epoch, attestations, votes, proposals, syncMessages *prometheus.Desc
	balance, balanceChange, reward                      *prometheus.Desc

	vIncluded, vHead, vTarget, vSource, vDelay, vReward *prometheus.Desc
	vProposals, vSync, vBalance, vBalanceChange         *prometheus.Desc

	evaluated                    bool
	lastEpoch                    phase0.Epoch
	attIncluded, attMissed       float64
	voteCounts                   map[[2]string]float64
	delayHist                    prometheus.Histogram
	proposed, proposalsMissed    float64
	syncIncluded, syncMissed     float64
	sumBalance, sumChange, sumRw float64

	perValidator bool
	validators   map[phase0.ValidatorIndex]*validatorMetrics
	// latest are the validators of the last evaluated epoch.
	latest []phase0.ValidatorIndex
}

type validatorMetrics struct {
	pubkey                         string
	included, head, target, source float64
	delay, reward, balance, change float64
	proposed, proposalsMissed      float64
	syncIncluded, syncMissed       float64
}

func newMetrics() *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	v := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"index", "pubkey"}, labels...), nil)
	}
	return &metrics{
		epoch:         d("vigil_performance_epoch", "The epoch the performance metrics describe (the newest evaluated)."),
		attestations:  d("vigil_attestations_total", "Attestation duties of evaluated epochs by result.", "result"),
		votes:         d("vigil_attestation_votes_total", "Attestation votes of evaluated epochs by vote and whether the chain credited them.", "vote", "result"),
		proposals:     d("vigil_proposals_total", "Proposer duties of evaluated epochs by result.", "result"),
		syncMessages:  d("vigil_sync_committee_messages_total", "Sync committee messages of evaluated epochs by result.", "result"),
		balance:       d("vigil_validators_balance_gwei", "Sum of the validators' balances at the end of the evaluated epoch."),
		balanceChange: d("vigil_validators_balance_change_gwei", "Sum of the validators' balance changes over the evaluated epoch."),
		reward:        d("vigil_attestation_reward_gwei", "Sum of the validators' attestation rewards (head+target+source-inactivity) in the evaluated epoch."),

		vIncluded:      v("vigil_validator_attestation_included", "1 if the validator's attestation of the evaluated epoch was included."),
		vHead:          v("vigil_validator_attestation_head_correct", "1 if the validator's head vote of the evaluated epoch was credited."),
		vTarget:        v("vigil_validator_attestation_target_correct", "1 if the validator's target vote of the evaluated epoch was credited."),
		vSource:        v("vigil_validator_attestation_source_correct", "1 if the validator's source vote of the evaluated epoch was credited."),
		vDelay:         v("vigil_validator_attestation_inclusion_delay_slots", "Inclusion delay of the validator's attestation of the evaluated epoch (0 if not included)."),
		vReward:        v("vigil_validator_attestation_reward_gwei", "The validator's attestation reward in the evaluated epoch."),
		vProposals:     v("vigil_validator_proposals_total", "The validator's proposer duties by result.", "result"),
		vSync:          v("vigil_validator_sync_committee_messages_total", "The validator's sync committee messages by result.", "result"),
		vBalance:       v("vigil_validator_balance_gwei", "The validator's balance at the end of the evaluated epoch."),
		vBalanceChange: v("vigil_validator_balance_change_gwei", "The validator's balance change over the evaluated epoch."),

		voteCounts: make(map[[2]string]float64),
		delayHist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_attestation_inclusion_delay_slots",
			Help:    "Inclusion delay of included attestations, in slots.",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 16, 32, 64},
		}),
		validators: make(map[phase0.ValidatorIndex]*validatorMetrics),
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// add accounts an evaluated epoch; perValidator says whether per-validator
// series are exported (the key count is within the limit).
func (m *metrics) add(rep *EpochReport, perValidator bool) {
	m.evaluated, m.lastEpoch, m.perValidator = true, rep.Epoch, perValidator
	m.sumBalance, m.sumChange, m.sumRw = 0, 0, 0
	m.latest = m.latest[:0]
	for i := range rep.Validators {
		r := &rep.Validators[i]
		vm, ok := m.validators[r.Index]
		if !ok {
			vm = &validatorMetrics{pubkey: fmt.Sprintf("%#x", r.Pubkey[:])}
			m.validators[r.Index] = vm
		}
		m.latest = append(m.latest, r.Index)
		a := r.Attestation
		vm.included, vm.head, vm.target, vm.source = b2f(a.Included), b2f(a.Head), b2f(a.Target), b2f(a.Source)
		vm.delay, vm.reward = float64(a.InclusionDelay), float64(a.Reward)
		vm.balance, vm.change = float64(r.Balance), float64(r.BalanceChange)
		m.sumBalance += float64(r.Balance)
		m.sumChange += float64(r.BalanceChange)
		if a.Duty {
			m.sumRw += float64(a.Reward)
			if a.Included {
				m.attIncluded++
				if a.InclusionDelay > 0 {
					m.delayHist.Observe(float64(a.InclusionDelay))
				}
			} else {
				m.attMissed++
			}
			for _, vote := range []struct {
				name string
				ok   bool
			}{{voteHead, a.Head}, {voteTarget, a.Target}, {voteSource, a.Source}} {
				result := resultWrong
				if vote.ok {
					result = resultCorrect
				}
				m.voteCounts[[2]string{vote.name, result}]++
			}
		}
		for _, p := range r.Proposals {
			if p.Proposed {
				m.proposed++
				vm.proposed++
			} else {
				m.proposalsMissed++
				vm.proposalsMissed++
			}
		}
		m.syncIncluded += float64(r.SyncIncluded)
		m.syncMissed += float64(r.SyncMissed)
		vm.syncIncluded += float64(r.SyncIncluded)
		vm.syncMissed += float64(r.SyncMissed)
	}
}

func (m *metrics) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.epoch, m.attestations, m.votes, m.proposals, m.syncMessages, m.balance, m.balanceChange, m.reward,
		m.vIncluded, m.vHead, m.vTarget, m.vSource, m.vDelay, m.vReward, m.vProposals, m.vSync, m.vBalance, m.vBalanceChange,
	} {
		ch <- d
	}
	m.delayHist.Describe(ch)
}

func (m *metrics) collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(m.attestations, m.attIncluded, resultIncluded)
	counter(m.attestations, m.attMissed, resultMissed)
	for _, vote := range []string{voteHead, voteTarget, voteSource} {
		for _, result := range []string{resultCorrect, resultWrong} {
			counter(m.votes, m.voteCounts[[2]string{vote, result}], vote, result)
		}
	}
	m.delayHist.Collect(ch)
	counter(m.proposals, m.proposed, resultProposed)
	counter(m.proposals, m.proposalsMissed, resultMissed)
	counter(m.syncMessages, m.syncIncluded, resultIncluded)
	counter(m.syncMessages, m.syncMissed, resultMissed)
	if !m.evaluated {
		return
	}
	gauge(m.epoch, float64(m.lastEpoch))
	gauge(m.balance, m.sumBalance)
	gauge(m.balanceChange, m.sumChange)
	gauge(m.reward, m.sumRw)
	if !m.perValidator {
		return
	}
	for _, idx := range m.latest {
		vm := m.validators[idx]
		l := []string{strconv.FormatUint(uint64(idx), 10), vm.pubkey}
		gauge(m.vIncluded, vm.included, l...)
		gauge(m.vHead, vm.head, l...)
		gauge(m.vTarget, vm.target, l...)
		gauge(m.vSource, vm.source, l...)
		gauge(m.vDelay, vm.delay, l...)
		gauge(m.vReward, vm.reward, l...)
		gauge(m.vBalance, vm.balance, l...)
		gauge(m.vBalanceChange, vm.change, l...)
		counter(m.vProposals, vm.proposed, append(l, resultProposed)...)
		counter(m.vProposals, vm.proposalsMissed, append(l, resultMissed)...)
		counter(m.vSync, vm.syncIncluded, append(l, resultIncluded)...)
		counter(m.vSync, vm.syncMissed, append(l, resultMissed)...)
	}
}
