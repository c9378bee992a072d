// Package perf measures how well vigil's validators performed, from the
// beacon node's own data: the attestation rewards of each finished epoch,
// the blocks that included the attestations, proposer and sync committee
// duties, and balances. A Tracker evaluates every epoch once, exports the
// results as Prometheus metrics and serves the status table behind
// `vigil status`; Compute evaluates one epoch on demand.
//
// # When an epoch can be evaluated
//
// Attestations of epoch E may be included until the end of epoch E+1
// (EIP-7045), and the beacon node computes E's rewards from the state at the
// last slot of E+1. Prysm v5.3.0 answers /eth/v1/beacon/rewards/attestations/E
// with 404 until its wall-clock epoch is at least E+2, so the Tracker asks
// from the first slot of E+2 and retries, a slot later each time, on 404 and
// 400.
//
// # Correctness rules (consensus-specs altair/beacon-chain.md)
//
// The rewards endpoint reports, per validator, the deltas of
// get_flag_index_deltas for the TIMELY_HEAD, TIMELY_TARGET and TIMELY_SOURCE
// flags. A validator whose flag is set earns a positive reward, or exactly 0
// during an inactivity leak; one whose flag is unset is penalised for source
// and target (base_reward*weight/64 > 0) and gets 0 for head. Hence:
//
//   - source correct ⇔ source reward ≥ 0, target correct ⇔ target reward ≥ 0;
//   - head correct ⇔ head reward > 0 when the ideal head reward of the
//     validator's effective balance is positive. When it is 0 (inactivity
//     leak, or nobody voted for the head), a correct vote also earns 0, so the
//     blocks decide: the attestation was included one slot after its slot,
//     target and source are correct, and its beacon_block_root is the parent
//     of the including block (the canonical head at the attestation's slot).
//
// "Correct" therefore means what the chain credited: a head vote included
// later than one slot, or a source vote later than √SLOTS_PER_EPOCH slots,
// counts as wrong because it earned nothing.
//
// Inclusion and inclusion delay come from the blocks of slots E's first+1 to
// the last of E+1: the first block carrying an attestation whose aggregation
// bits cover the validator's committee position, found from its attester duty
// (pre-Electra: data.index is the committee; Electra: committee_bits select the
// committees and the aggregation bits are their members concatenated in
// committee order). Proposals are the proposer duties of E against the
// canonical block at each slot. Sync committee messages of slot s are carried
// by the block at s+1 and signed by the committee of epoch(s+1); a slot whose
// next slot has no block is counted neither way, since nobody could include it.
//
// Balance is the validator's balance at the end of E (the state at the first
// slot of E+1); the balance change is that minus the balance at the start of
// E. Withdrawals show up as a decrease.
//
// # Effectiveness
//
// An epoch's attestation effectiveness is the head+target+source reward the
// validator earned divided by the ideal reward of its effective balance
// (ideal_rewards, a perfect validator in the same epoch), so penalties count
// against it. In an epoch whose ideal reward is 0 (inactivity leak) the flag
// weights stand in, with the same signs as the rewards: +14 for a correct
// source, +26 for a correct target, +14 for a correct head, −14 and −26 for a
// wrong source and target, all over 54. Effectiveness over a window is the mean of the
// epochs with an attestation duty, floored at 0 and shown as a percentage.
package perf
