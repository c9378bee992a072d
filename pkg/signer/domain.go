package signer

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// ComputeDomain is compute_domain (consensus specs, phase0 "Misc"): the domain
// type followed by the first 28 bytes of the fork data root.
func ComputeDomain(domainType phase0.DomainType, forkVersion phase0.Version, genesisValidatorsRoot phase0.Root) (phase0.Domain, error) {
	fd := phase0.ForkData{CurrentVersion: forkVersion, GenesisValidatorsRoot: genesisValidatorsRoot}
	root, err := fd.HashTreeRoot()
	if err != nil {
		return phase0.Domain{}, fmt.Errorf("fork data root: %w", err)
	}
	var d phase0.Domain
	copy(d[:4], domainType[:])
	copy(d[4:], root[:28])
	return d, nil
}

// ComputeSigningRoot is compute_signing_root (consensus specs, phase0
// "Misc"): the hash tree root of SigningData{object_root, domain}.
func ComputeSigningRoot(objectRoot phase0.Root, domain phase0.Domain) (phase0.Root, error) {
	sd := phase0.SigningData{ObjectRoot: objectRoot, Domain: domain}
	root, err := sd.HashTreeRoot()
	if err != nil {
		return phase0.Root{}, fmt.Errorf("signing data root: %w", err)
	}
	return root, nil
}
