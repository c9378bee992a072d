package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors of FetchStatus that callers explain to the operator.
var (
	// ErrInstanceURL means the instance address is not an http(s) URL.
	ErrInstanceURL = errors.New("not an http(s) URL of a vigil instance")
	// ErrInstanceUnreachable means nothing answered at the address.
	ErrInstanceUnreachable = errors.New("vigil instance is unreachable")
)

// statusTimeout bounds one status request.
const statusTimeout = 15 * time.Second

// FetchStatus asks a running vigil's monitor listener (instance is its base
// URL) for the status report over the last epochs, the one Tracker.Handler
// serves at /api/v1/validators.
func FetchStatus(ctx context.Context, instance string, epochs int) (*StatusReport, error) {
	u, err := url.Parse(strings.TrimRight(instance, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: %w", instance, ErrInstanceURL)
	}
	u.Path += "/api/v1/validators"
	u.RawQuery = url.Values{"epochs": {strconv.Itoa(epochs)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", instance, ErrInstanceURL)
	}
	resp, err := (&http.Client{Timeout: statusTimeout}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w at %s (%v)", ErrInstanceUnreachable, u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("vigil instance at %s answered %s to /api/v1/validators: %s", u.Host, resp.Status, strings.TrimSpace(string(body)))
	}
	var st StatusReport
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("vigil instance at %s sent an unreadable status (is it a vigil monitor listener?): %w", u.Host, err)
	}
	return &st, nil
}
