#!/usr/bin/env bash
# The key-management walkthrough: a local Vault dev server, a fresh
# mnemonic, keys generated into Vault and into a keystore directory, listed,
# and their deposit data verified. Everything lives in .vigil-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

demo="$PWD/.vigil-demo/keys"
vigil="$PWD/bin/vigil"
[ -x "$vigil" ] || go build -o "$vigil" ./cmd/vigil

rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"

vault_bin="$(scripts/build-vault.sh)"
vault_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 8200)"
VAULT_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export VAULT_TOKEN
export VAULT_ADDR="http://127.0.0.1:$vault_port"
HOME="$demo" "$vault_bin" server -dev -dev-root-token-id="$VAULT_TOKEN" \
	-dev-listen-address="127.0.0.1:$vault_port" >"$demo/vault.log" 2>&1 &
vault_pid=$!
trap 'kill "$vault_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	curl -fsS "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1 && break
	sleep 0.2
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
v() { echo "+ vigil $*"; "$vigil" --data-dir "$demo/data" "$@"; }

step "1. a fresh 24-word mnemonic (written 0600; in real life, write it down offline)"
v mnemonic new --out "$demo/mnemonic.txt"

step "2. four hoodi keys into the Vault dev server at $VAULT_ADDR, with deposit data"
mkdir -p "$demo/deposits"
v keys generate --mnemonic-file "$demo/mnemonic.txt" --start-index 0 --count 4 --network hoodi \
	--store vault --vault-address "$VAULT_ADDR" --deposit-dir "$demo/deposits"

step "3. four more into a local keystore directory, with EIP-2335 backups"
printf 'correct horse battery staple\n' >"$demo/backup-password.txt"
chmod 600 "$demo/backup-password.txt"
mkdir -p "$demo/deposits-dir" "$demo/backups"
v keys generate --mnemonic-file "$demo/mnemonic.txt" --start-index 4 --count 4 --network hoodi \
	--store dir --deposit-dir "$demo/deposits-dir" \
	--keystore-dir "$demo/backups" --keystore-password-file "$demo/backup-password.txt"

step "4. the keys in each store"
v keys list --store vault --vault-address "$VAULT_ADDR"
v keys list --store dir

step "5. the deposit data verified independently"
for f in "$demo"/deposits/deposit_data-*.json "$demo"/deposits-dir/deposit_data-*.json; do
	v deposit verify --network hoodi "$f"
done

printf '\nDone. Everything is in %s; the Vault dev server is stopped now.\n' "$demo"
