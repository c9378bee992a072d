package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config is the monitor of a running validator client.
type Config struct {
	// Address is the HOST:PORT of the listener; empty disables it (the
	// metrics are still collected, for nothing).
	Address string
	// Pprof also serves Go profiling on the listener.
	Pprof bool
	// Version names the running build in vigil_build_info.
	Version string
	// AddressFlag names the option that sets Address, for error messages.
	AddressFlag string
}

// Service is a running client's monitor: the Prometheus registry with its
// metrics and state gauges, the readiness checks, and the HTTP listener that
// serves /metrics, /healthz, /readyz and /api/v1/validators. It listens
// before anything else starts, so a port in use stops vigil before it signs
// anything, and /readyz says what a slow start waits for: each component
// registers its check (Health.Register) and gauges (State) as it starts.
type Service struct {
	// Registry is where the monitor's and other components' collectors go.
	Registry *prometheus.Registry
	Metrics  *Metrics
	Health   *Health
	State    *StateCollector

	log        *slog.Logger
	server     *Server
	validators atomic.Pointer[http.Handler]
}

// NewService builds the monitor and binds its listener. pending are the
// readiness checks the client will register as its components start.
func NewService(cfg Config, log *slog.Logger, pending ...Check) (*Service, error) {
	s := &Service{Registry: prometheus.NewRegistry(), Health: NewHealth(pending...), log: log}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Metrics = NewMetrics(s.Registry, cfg.Version)
	s.State = NewStateCollector(State{Ready: func() bool { return s.Health.Ready(context.Background()).Ready() }})
	s.Registry.MustRegister(s.State)
	if cfg.Address == "" {
		log.Warn("Metrics and health endpoints are off (--" + cfg.AddressFlag + " is empty): nothing will alert on missed duties")
		return s, nil
	}
	if host, _, _ := net.SplitHostPort(cfg.Address); !isLoopback(host) {
		log.Warn("The monitor listener is reachable beyond this machine: its metrics name your validators; firewall it",
			slog.String("address", cfg.Address))
	}
	h := NewHandler(HandlerConfig{
		Gatherer: s.Registry, Health: s.Health, Pprof: cfg.Pprof,
		Validators: http.HandlerFunc(s.serveValidators),
	})
	srv, err := Listen(cfg.Address, h, log)
	if err != nil {
		return nil, fmt.Errorf("%w (choose another with --%s, or leave it empty to disable metrics)", err, cfg.AddressFlag)
	}
	s.server = srv
	return s, nil
}

// Serve runs the listener until ctx ends; a listener that dies is logged,
// not fatal: duties matter more than their metrics.
func (s *Service) Serve(ctx context.Context) {
	if s.server == nil {
		return
	}
	if err := s.server.Serve(ctx); err != nil {
		s.log.Error("Metrics and health listener stopped", slog.Any("error", err))
	}
}

// SetValidators installs the /api/v1/validators handler once the performance
// tracker runs.
func (s *Service) SetValidators(h http.Handler) { s.validators.Store(&h) }

func (s *Service) serveValidators(w http.ResponseWriter, r *http.Request) {
	h := s.validators.Load()
	if h == nil {
		http.Error(w, "vigil is still starting: the validator table is not available yet", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
