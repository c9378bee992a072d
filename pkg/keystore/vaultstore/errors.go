package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Errors that callers branch on with errors.Is, in addition to
// keystore.ErrNotFound, keystore.ErrExists and (with WithStrictListing)
// keystore.ErrNoListing.
var (
	// ErrUnreachable means no HTTP exchange with Vault succeeded.
	ErrUnreachable = errors.New("cannot reach Vault")
	// ErrSealed means Vault answered but is sealed.
	ErrSealed = errors.New("vault is sealed")
	// ErrPermissionDenied means the token lacks a capability or is no longer valid.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotVigilKey means a secret under the prefix was not written by vigil.
	ErrNotVigilKey = errors.New("not a vigil key")
	// ErrMount means the configured mount is missing or is not KV version 2.
	ErrMount = errors.New("unusable KV mount")
	// ErrConfig means the store's configuration is incomplete or unsafe.
	ErrConfig = errors.New("invalid Vault configuration")
)

// storeError is an error with a user-facing message that matches a sentinel
// with errors.Is and keeps its cause for errors.As.
type storeError struct {
	kind  error
	msg   string
	cause error
}

func (e *storeError) Error() string {
	if e.cause == nil {
		return e.msg
	}
	return e.msg + ": " + e.cause.Error()
}

func (e *storeError) Is(target error) bool { return target == e.kind }

func (e *storeError) Unwrap() error { return e.cause }

func newError(kind error, cause error, format string, args ...any) error {
	return &storeError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// capability names a Vault policy capability, as written in policies.
type capability string

// Capabilities each operation needs (https://developer.hashicorp.com/vault/docs/concepts/policies#capabilities).
const (
	capRead   capability = "read"
	capList   capability = "list"
	capCreate capability = "create"
	capUpdate capability = "update"
	capDelete capability = "delete"
)

// responseError classifies a failed Vault request into one of the sentinel
// errors. It never includes Vault's raw response body, which for requests that
// carried a secret could echo it, nor anything from the request headers (where
// the token travels); the request URL holds no secrets.
func (s *Store) responseError(err error, op string, path string, need capability) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrSealed) || errors.Is(err, ErrPermissionDenied) {
			return err
		}
		// A transport error names the URL and the network failure; the token
		// travels in a header and is never part of it.
		return newError(ErrUnreachable, err, "cannot reach Vault at %s to %s %s", s.cfg.Address, op, path)
	}
	switch re.StatusCode {
	case http.StatusForbidden:
		return newError(ErrPermissionDenied, nil,
			"permission denied: policy lacks %q capability on %s (Vault at %s)", need, path, s.cfg.Address)
	case http.StatusServiceUnavailable:
		if sealed, serr := s.sealed(); serr == nil && sealed {
			return s.sealedError()
		}
		return newError(ErrUnreachable, nil, "Vault at %s is unavailable (HTTP 503) to %s %s", s.cfg.Address, op, path)
	default:
		return fmt.Errorf("%s %s: Vault at %s answered HTTP %d%s", op, path, s.cfg.Address, re.StatusCode, vaultMessages(re))
	}
}

func (s *Store) sealedError() error {
	return newError(ErrSealed, nil, "Vault at %s is sealed: unseal it (`vault operator unseal`) and start vigil again", s.cfg.Address)
}

// vaultMessages returns Vault's own error strings when it sent them as JSON.
// They are short, fixed texts ("permission denied", "invalid role or secret
// ID"); a body that is not Vault's JSON (a proxy page, or anything that could
// echo a request) is left out, and each message is capped.
func vaultMessages(re *api.ResponseError) string {
	if re.RawError || len(re.Errors) == 0 {
		return ""
	}
	const maxLen = 200
	msgs := make([]string, 0, len(re.Errors))
	for _, m := range re.Errors {
		if len(m) > maxLen {
			m = m[:maxLen] + "..."
		}
		msgs = append(msgs, m)
	}
	return ": " + strings.Join(msgs, "; ")
}
