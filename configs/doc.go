// Package configs holds no code: it is the home of vigil's deployment files
// (the example configuration, systemd units, Vault Agent and policy, Grafana
// dashboard, Prometheus rules) and of the tests that keep them valid.
package configs
