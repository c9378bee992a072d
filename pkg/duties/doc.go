// Package duties decides what each validator signs and when: it follows the
// beacon node's duties (attestations, aggregates, proposals, sync committee
// messages and contributions, subscriptions, proposer preparations and builder
// registrations), times them on the slot clock, asks the signer for every
// signature and submits the results.
//
// It talks to the beacon node only through go-eth2-client's interfaces, so one
// go-eth2-client http client or a multi-node pool serves it, and to the signer
// through the narrow interfaces declared next to each duty.
package duties
