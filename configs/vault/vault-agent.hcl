# Vault Agent for vigil: logs in with AppRole, keeps the token renewed (logging in again when it cannot be) and
# writes it to a 0600 file on tmpfs that vigil reads with `vault-token-file: /run/vigil-vault-agent/token` (or
# VIGIL_VAULT_TOKEN_FILE). vigil re-reads the file whenever Vault rejects the token it holds, so a new token from
# the agent is picked up without a restart.
#
# Run it as the vigil user (configs/systemd/vault-agent.service) so that the token file is vigil's own.
# /etc/vigil/vault-role-id and /etc/vigil/vault-secret-id: vigil:vigil 0600, written by your provisioning.

pid_file = "/run/vigil-vault-agent/agent.pid"

vault {
  address = "https://vault.internal:8200"
  ca_cert = "/etc/vigil/vault-ca.pem"
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "/etc/vigil/vault-role-id"
      secret_id_file_path                 = "/etc/vigil/vault-secret-id"
      # Keep the secret ID for the next login after an agent restart. Use a CIDR-bound, limited-use secret ID, or
      # response wrapping (secret_id_response_wrapping_path) if your provisioning supports it.
      remove_secret_id_file_after_reading = false
    }
  }

  sink "file" {
    config = {
      path = "/run/vigil-vault-agent/token"
      mode = 0600
    }
  }
}
