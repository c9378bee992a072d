// Package testharness starts the real servers vigil's integration tests talk
// to, on loopback only: a Vault dev server, a throw-away PostgreSQL cluster
// and a geth + Prysm devnet. A harness whose server binary is missing fails
// the test when VIGIL_REQUIRE_INTEGRATION=1 (as `make test` sets it) and
// otherwise skips loudly, naming the command that installs it.
package testharness
