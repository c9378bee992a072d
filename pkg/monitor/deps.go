package monitor

import (
	// Imported here until the metrics land, so that go mod tidy keeps them.
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
)
