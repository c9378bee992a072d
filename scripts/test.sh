#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh machine: installs what the
# integration tests need (PostgreSQL from Debian, a Vault dev server and a
# geth + Prysm devnet built from the Go module proxy and cached outside the
# checkout), then runs every test with the race detector. Integration tests fail, rather than skip, here.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

install_postgres() {
	if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		return
	fi
	log "installing PostgreSQL (Debian package postgresql)"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

# systemd-analyze verifies the units in configs/systemd; it needs no running
# systemd (PID 1) and works in a container.
install_systemd_analyze() {
	if command -v systemd-analyze >/dev/null; then
		return
	fi
	log "installing systemd-analyze (Debian package systemd)"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq systemd >/dev/null
}

install_postgres
install_systemd_analyze
log "building or reusing vigil-lint (Prometheus rule, PromQL and Dockerfile checks for configs/)"
VIGIL_LINT_BIN="$(scripts/build-lint.sh)"
export VIGIL_LINT_BIN
log "building or reusing the Vault dev server binary"
VIGIL_VAULT_BIN="$(scripts/build-vault.sh)"
export VIGIL_VAULT_BIN
log "building or reusing the devnet binaries (geth, Prysm beacon-chain, prysmctl, validator)"
VIGIL_DEVNET_BIN_DIR="$(scripts/build-devnet.sh)"
export VIGIL_DEVNET_BIN_DIR
export VIGIL_REQUIRE_INTEGRATION=1

log "go vet and gofmt"
# -race: vet then builds the dependencies exactly as the race-enabled tests
# below do, so a cold run compiles vigil's dependency graph once instead of
# twice (about 2.5 minutes on 2 cores). vigil has no race-tagged files, so
# nothing goes unvetted; internal/archtest TestNoRaceTaggedFiles keeps it so.
go vet -race ./...
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
	printf 'gofmt needed:\n%s\n' "$unformatted" >&2
	exit 1
fi
log "go test -race ./..."
go test -race -timeout 45m -count=1 ./... "$@"
