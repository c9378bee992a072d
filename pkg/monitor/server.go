package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerConfig is what the monitor listener serves.
type HandlerConfig struct {
	// Gatherer provides /metrics.
	Gatherer prometheus.Gatherer
	// Health provides /readyz; /healthz is always served.
	Health *Health
	// Validators, when set, serves /api/v1/validators (the status table).
	Validators http.Handler
	// Pprof also serves /debug/pprof/: off by default, since profiles can
	// reveal memory contents to whoever reaches the port.
	Pprof bool
}

// NewHandler returns the monitor listener's routes.
func NewHandler(cfg HandlerConfig) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", HealthzHandler())
	if cfg.Health != nil {
		mux.Handle("GET /readyz", cfg.Health.ReadyzHandler())
	}
	if cfg.Validators != nil {
		mux.Handle("GET /api/v1/validators", cfg.Validators)
	}
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Server is the monitor's HTTP listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr now, so that a port already in use stops vigil at start
// rather than leaving it running unobserved.
func Listen(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics and health on %s: %w", addr, err)
	}
	return &Server{
		ln:  ln,
		log: log,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute},
	}, nil
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("Serving metrics and health", slog.String("address", s.Addr()))
	select {
	case err := <-errc:
		return fmt.Errorf("metrics and health listener on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stop the metrics listener: %w", err)
	}
	return nil
}

// Close releases the listener of a server that never served.
func (s *Server) Close() error { return s.ln.Close() }
