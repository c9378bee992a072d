package monitor

import (
	"context"
	"encoding/json"
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

// Health runs the readiness checks.
type Health struct {
	checks []Check
}

// NewHealth returns a Health running checks in the order given.
func NewHealth(checks ...Check) *Health { return &Health{checks: checks} }

// Ready runs every check concurrently, each bounded by a timeout.
func (h *Health) Ready(ctx context.Context) Report {
	results := make([]CheckResult, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
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
