package devnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiClient is the handful of Beacon API calls the devnet itself needs: it
// starts before any vigil client exists, so it speaks plain JSON.
type apiClient struct {
	http *http.Client
}

func newAPIClient() *apiClient {
	return &apiClient{http: &http.Client{Timeout: 5 * time.Second}}
}

// errNotReady marks an answer that may change by polling again.
var errNotReady = errors.New("not ready")

func (c *apiClient) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: GET %s: %v", errNotReady, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: GET %s: %v", errNotReady, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s: %.300s", errNotReady, url, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}

// version answers once the beacon node's HTTP server is up.
func (c *apiClient) version(ctx context.Context, base string) error {
	var r struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	return c.getJSON(ctx, base+"/eth/v1/node/version", &r)
}

// Checkpoints are a beacon node's justified and finalized epochs at its head.
type Checkpoints struct {
	PreviousJustified uint64
	CurrentJustified  uint64
	Finalized         uint64
}

func (c *apiClient) finality(ctx context.Context, base string) (Checkpoints, error) {
	type checkpoint struct {
		Epoch string `json:"epoch"`
	}
	var r struct {
		Data struct {
			PreviousJustified checkpoint `json:"previous_justified"`
			CurrentJustified  checkpoint `json:"current_justified"`
			Finalized         checkpoint `json:"finalized"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, base+"/eth/v1/beacon/states/head/finality_checkpoints", &r); err != nil {
		return Checkpoints{}, err
	}
	var cp Checkpoints
	for _, f := range []struct {
		s   string
		dst *uint64
	}{
		{r.Data.PreviousJustified.Epoch, &cp.PreviousJustified},
		{r.Data.CurrentJustified.Epoch, &cp.CurrentJustified},
		{r.Data.Finalized.Epoch, &cp.Finalized},
	} {
		v, err := strconv.ParseUint(f.s, 10, 64)
		if err != nil {
			return Checkpoints{}, fmt.Errorf("%s finality checkpoints: epoch %q: %w", base, f.s, err)
		}
		*f.dst = v
	}
	return cp, nil
}

// HeadInfo is a beacon node's view of its head from /eth/v1/node/syncing.
type HeadInfo struct {
	HeadSlot     uint64
	SyncDistance uint64
	IsSyncing    bool
	IsOptimistic bool
	ELOffline    bool
}

func (c *apiClient) syncing(ctx context.Context, base string) (HeadInfo, error) {
	var r struct {
		Data struct {
			HeadSlot     string `json:"head_slot"`
			SyncDistance string `json:"sync_distance"`
			IsSyncing    bool   `json:"is_syncing"`
			IsOptimistic bool   `json:"is_optimistic"`
			ELOffline    bool   `json:"el_offline"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, base+"/eth/v1/node/syncing", &r); err != nil {
		return HeadInfo{}, err
	}
	h := HeadInfo{IsSyncing: r.Data.IsSyncing, IsOptimistic: r.Data.IsOptimistic, ELOffline: r.Data.ELOffline}
	var err error
	if h.HeadSlot, err = strconv.ParseUint(r.Data.HeadSlot, 10, 64); err != nil {
		return HeadInfo{}, fmt.Errorf("%s syncing: head_slot %q: %w", base, r.Data.HeadSlot, err)
	}
	if h.SyncDistance, err = strconv.ParseUint(r.Data.SyncDistance, 10, 64); err != nil {
		return HeadInfo{}, fmt.Errorf("%s syncing: sync_distance %q: %w", base, r.Data.SyncDistance, err)
	}
	return h, nil
}

func (c *apiClient) peerCount(ctx context.Context, base string) (int, error) {
	var r struct {
		Data struct {
			Connected string `json:"connected"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, base+"/eth/v1/node/peer_count", &r); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(r.Data.Connected)
	if err != nil {
		return 0, fmt.Errorf("%s peer_count: connected %q: %w", base, r.Data.Connected, err)
	}
	return n, nil
}

// ForkInfo is a beacon node's fork at its head state, from
// /eth/v1/beacon/states/head/fork.
type ForkInfo struct {
	// PreviousVersion and CurrentVersion are the fork versions around the
	// last fork boundary.
	PreviousVersion, CurrentVersion [4]byte
	// Epoch is the epoch CurrentVersion took effect.
	Epoch uint64
	// Fork is CurrentVersion's name.
	Fork Fork
}

func (c *apiClient) fork(ctx context.Context, base string) (ForkInfo, error) {
	var r struct {
		Data struct {
			PreviousVersion string `json:"previous_version"`
			CurrentVersion  string `json:"current_version"`
			Epoch           string `json:"epoch"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, base+"/eth/v1/beacon/states/head/fork", &r); err != nil {
		return ForkInfo{}, err
	}
	var f ForkInfo
	var err error
	if f.PreviousVersion, err = parseVersion(r.Data.PreviousVersion); err != nil {
		return ForkInfo{}, fmt.Errorf("%s fork: previous_version: %w", base, err)
	}
	if f.CurrentVersion, err = parseVersion(r.Data.CurrentVersion); err != nil {
		return ForkInfo{}, fmt.Errorf("%s fork: current_version: %w", base, err)
	}
	if f.Epoch, err = strconv.ParseUint(r.Data.Epoch, 10, 64); err != nil {
		return ForkInfo{}, fmt.Errorf("%s fork: epoch %q: %w", base, r.Data.Epoch, err)
	}
	switch f.CurrentVersion {
	case DenebForkVersion:
		f.Fork = ForkDeneb
	case ElectraForkVersion:
		f.Fork = ForkElectra
	case FuluForkVersion:
		f.Fork = ForkFulu
	default:
		return ForkInfo{}, fmt.Errorf("%s fork: current_version %#x is none of the devnet's", base, f.CurrentVersion)
	}
	return f, nil
}

func parseVersion(s string) ([4]byte, error) {
	var v [4]byte
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 4 {
		return v, fmt.Errorf("fork version %q is not 4 bytes of hex", s)
	}
	copy(v[:], b)
	return v, nil
}
