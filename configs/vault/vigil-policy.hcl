# Least-privilege Vault policy for `vigil validator run` with the default key location (vault-mount: secret,
# vault-prefix: vigil/keys). Write it with `vault policy write vigil-validator vigil-policy.hcl` and attach it to
# vigil's AppRole:
#   vault write auth/approle/role/vigil-validator token_policies=vigil-validator token_ttl=1h token_max_ttl=24h \
#     secret_id_bound_cidrs=<the validator host>/32 token_bound_cidrs=<the validator host>/32
#
# The validator client only lists and reads keys. Managing keys (`vigil keys generate`, `import`, `delete`) needs
# the wider policy in README.md ("create" on the data path, "read", "update" and "delete" on the metadata path);
# give that one to an operator's token, not to the running validator. Token renewal and lookup (auth/token/*-self)
# come with Vault's default policy.

# Read a key: KV v2 keeps each secret's data under <mount>/data/.
path "secret/data/vigil/keys/*" {
  capabilities = ["read"]
}

# List the keys (names are public keys; one LIST request, no per-key metadata read).
path "secret/metadata/vigil/keys" {
  capabilities = ["list"]
}
