module github.com/vigil-eth/vigil/tools/vault

go 1.25

require github.com/hashicorp/vault v1.21.1

// Vault v1.21.1 pins modules that the Go module proxy no longer serves at those
// versions; these forks are API-identical and let it build as a dependency.
replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
