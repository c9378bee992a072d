// Package monitor makes a running validator client observable: Prometheus
// metrics fed by the beacon, signer and duties observers, and the /healthz and
// /readyz endpoints that systemd, Docker and load balancers probe.
package monitor
