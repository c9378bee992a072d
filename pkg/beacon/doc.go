// Package beacon is vigil's connection to one or more beacon nodes over the
// standard Beacon API.
//
// A Pool wraps one go-eth2-client HTTP client per configured node and
// implements go-eth2-client's provider and submitter interfaces, so a consumer
// takes a Pool wherever it would take a single client. Reads go to the first
// usable node in preference order and fail over to the next one within the
// same call; submissions go to every usable node in parallel and succeed when
// at least one node accepts. A background loop polls each node's sync state,
// checks that every node serves the same chain (genesis validators root,
// genesis time and genesis fork version) and keeps per-node health and
// latency for the monitor (see Nodes and Observer).
//
// Node URLs may carry basic-auth credentials; the package never logs,
// reports or returns them (NodeStatus.URL and every error use a redacted
// form).
package beacon
