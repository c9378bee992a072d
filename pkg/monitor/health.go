package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness condition. Run returns a short human-readable
// detail, and an error naming what is wrong when the condition fails.
type Check struct {
	Name string
	Run  func(ctx context.Context) (detail string, err error)
}

// CheckResult is one check's outcome in a /readyz body.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is the /readyz body.
type Report struct {
	// Status is "ready" or "not_ready".
	Status string        `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// Ready reports whether every check passed.
func (r Report) Ready() bool { return r.Status == statusReady }

const (
	statusReady    = "ready"
	statusNotReady = "not_ready"
	// checkTimeout bounds each check, so that a hung database or node makes
	// the probe fail instead of hanging the prober.
	checkTimeout = 2 * time.Second
)

// Health runs the readiness checks. Components register their own check as
// they start (Register); until then a Pending check says what vigil is still
// waiting for.
type Health struct {
	mu     sync.Mutex
	checks []Check
}

// NewHealth returns a Health running checks in the order given.
func NewHealth(checks ...Check) *Health { return &Health{checks: checks} }

// ErrStarting marks a check whose component has not started yet.
var ErrStarting = errors.New("starting")

// Pending is a placeholder for the check called name that fails with
// ErrStarting, naming what is not there yet, until Register replaces it.
func Pending(name, waitingFor string) Check {
	return Check{Name: name, Run: func(context.Context) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrStarting, waitingFor)
	}}
}

// Register installs c, replacing the check of the same name (its Pending
// placeholder) or adding it after the others.
func (h *Health) Register(c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.checks {
		if h.checks[i].Name == c.Name {
			h.checks[i] = c
			return
		}
	}
	h.checks = append(h.checks, c)
}

// Ready runs every check concurrently, each bounded by a timeout.
func (h *Health) Ready(ctx context.Context) Report {
	h.mu.Lock()
	checks := append([]Check(nil), h.checks...)
	h.mu.Unlock()
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			detail, err := c.Run(cctx)
			r := CheckResult{Name: c.Name, OK: err == nil, Detail: detail}
			if err != nil {
				r.Detail = err.Error()
			}
			results[i] = r
		})
	}
	wg.Wait()
	rep := Report{Status: statusReady, Checks: results}
	for _, r := range results {
		if !r.OK {
			rep.Status = statusNotReady
		}
	}
	return rep
}

// ReadyzHandler answers 200 when every check passes and 503 otherwise, with
// the Report as JSON either way.
func (h *Health) ReadyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := h.Ready(r.Context())
		code := http.StatusOK
		if !rep.Ready() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rep)
	})
}

// HealthzHandler answers 200 while the process serves HTTP at all: liveness,
// not readiness, so a supervisor restarts only a hung process.
func HealthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
