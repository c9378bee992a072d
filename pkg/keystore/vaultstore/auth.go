package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// tokenState is what the store knows about its current token.
type tokenState struct {
	mu sync.Mutex
	// gen counts token changes, so that concurrent requests rejected with the
	// same token trigger one re-login between them.
	gen       uint64
	expires   bool
	expiry    time.Time
	renewable bool
	token     string
}

// TokenTTL returns how long the current token stays valid, and false when it
// never expires (a root or periodic token without a TTL).
func (s *Store) TokenTTL() (time.Duration, bool) {
	s.tok.mu.Lock()
	defer s.tok.mu.Unlock()
	if !s.tok.expires {
		return 0, false
	}
	return max(s.tok.expiry.Sub(s.clock.Now()), 0), true
}

func (s *Store) generation() uint64 {
	s.tok.mu.Lock()
	defer s.tok.mu.Unlock()
	return s.tok.gen
}

// setTTL records a renewed or new token's lifetime.
func (s *Store) setTTL(ttl time.Duration, renewable bool) {
	s.tok.mu.Lock()
	defer s.tok.mu.Unlock()
	s.tok.expires = ttl > 0
	s.tok.expiry = s.clock.Now().Add(ttl)
	s.tok.renewable = renewable
}

// authenticate obtains a token by the configured method, installs it and
// checks it with auth/token/lookup-self (allowed by Vault's default policy).
func (s *Store) authenticate(ctx context.Context) error {
	var token, source string
	switch s.mode {
	case authToken:
		token, source = s.cfg.Token, "VAULT_TOKEN"
	case authTokenFile:
		t, err := readSecretFile("Vault token file", s.cfg.TokenFile)
		if err != nil {
			return err
		}
		token, source = t, "token file "+s.cfg.TokenFile
	case authAppRole:
		t, err := s.appRoleLogin(ctx)
		if err != nil {
			return err
		}
		token, source = t, "AppRole login"
	}
	s.client.SetToken(token)
	s.tok.mu.Lock()
	s.tok.token = token
	s.tok.gen++
	s.tok.mu.Unlock()

	sec, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			return newError(ErrPermissionDenied, nil,
				"Vault at %s rejected the token from %s: it is invalid, expired or revoked", s.cfg.Address, source)
		}
		return s.responseError(err, "read", "auth/token/lookup-self", capRead)
	}
	ttl, err := sec.TokenTTL()
	if err != nil {
		return fmt.Errorf("token lookup at Vault %s: %w", s.cfg.Address, err)
	}
	renewable, err := sec.TokenIsRenewable()
	if err != nil {
		return fmt.Errorf("token lookup at Vault %s: %w", s.cfg.Address, err)
	}
	s.setTTL(ttl, renewable)
	s.log.Debug("vault token in use", slog.String("source", source),
		slog.Duration("ttl", ttl), slog.Bool("renewable", renewable))
	return nil
}

// appRoleLogin logs in with the role ID and the secret ID file (re-read each
// time, so a rotated secret ID is picked up) and returns the new token.
func (s *Store) appRoleLogin(ctx context.Context) (string, error) {
	if err := checkPrivateFile("AppRole secret ID file", s.cfg.AppRoleSecretIDFile); err != nil {
		return "", err
	}
	auth, err := approle.NewAppRoleAuth(s.cfg.AppRoleRoleID,
		&approle.SecretID{FromFile: s.cfg.AppRoleSecretIDFile}, approle.WithMountPath(s.cfg.AppRoleMount))
	if err != nil {
		return "", newError(ErrConfig, err, "AppRole")
	}
	path := "auth/" + s.cfg.AppRoleMount + "/login"
	sec, err := auth.Login(ctx, s.login)
	if err != nil {
		var re *api.ResponseError
		switch {
		case errors.As(err, &re) && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusForbidden):
			return "", newError(ErrPermissionDenied, nil,
				"AppRole login at %s on Vault %s refused (HTTP %d%s): check the role ID, the secret ID in %s, "+
					"and that AppRole is enabled at auth/%s",
				path, s.cfg.Address, re.StatusCode, vaultMessages(re), s.cfg.AppRoleSecretIDFile, s.cfg.AppRoleMount)
		case re != nil:
			return "", s.responseError(re, "write", path, capUpdate)
		default:
			return "", s.responseError(err, "write", path, capUpdate)
		}
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return "", fmt.Errorf("AppRole login at %s on Vault %s returned no token", path, s.cfg.Address)
	}
	return sec.Auth.ClientToken, nil
}

// call runs one request. When Vault answers 403 it tells a missing capability
// from a dead token (expired or revoked) by looking the token up; a dead token
// is replaced once (AppRole login, or the token file read again) and the
// request repeated.
func (s *Store) call(ctx context.Context, op, path string, need capability, fn func(ctx context.Context) error) error {
	gen := s.generation()
	err := fn(ctx)
	if err == nil {
		return nil
	}
	if !isStatus(err, http.StatusForbidden) {
		return s.responseError(err, op, path, need)
	}
	if s.tokenAlive(ctx) {
		return s.responseError(err, op, path, need)
	}
	if s.mode == authToken {
		return newError(ErrPermissionDenied, nil,
			"Vault at %s no longer accepts the token from VAULT_TOKEN (expired or revoked): supply a new one, "+
				"or use a token file or AppRole so vigil can replace it", s.cfg.Address)
	}
	if rerr := s.reauthenticate(ctx, gen); rerr != nil {
		return fmt.Errorf("Vault token expired or was revoked, and replacing it failed: %w", rerr)
	}
	if err := fn(ctx); err != nil {
		return s.responseError(err, op, path, need)
	}
	return nil
}

func isStatus(err error, code int) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

// tokenAlive reports whether Vault still accepts the current token.
func (s *Store) tokenAlive(ctx context.Context) bool {
	_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	return !isStatus(err, http.StatusForbidden)
}

// reauthenticate replaces the token unless another goroutine already did so
// since the caller's request started (seen is the generation it used).
func (s *Store) reauthenticate(ctx context.Context, seen uint64) error {
	s.reauth.Lock()
	defer s.reauth.Unlock()
	if s.generation() != seen {
		return nil
	}
	old := s.currentToken()
	if err := s.authenticate(ctx); err != nil {
		return err
	}
	if s.mode == authTokenFile && s.currentToken() == old {
		return newError(ErrPermissionDenied, nil,
			"the token in %s cannot be renewed any further: write a fresh one there (as Vault Agent's file sink does)", s.cfg.TokenFile)
	}
	s.log.Info("vault token replaced", slog.String("auth", s.authName()))
	select {
	case s.tokenChanged <- struct{}{}:
	default:
	}
	return nil
}

func (s *Store) currentToken() string {
	s.tok.mu.Lock()
	defer s.tok.mu.Unlock()
	return s.tok.token
}

func (s *Store) authName() string {
	switch s.mode {
	case authTokenFile:
		return "token_file"
	case authAppRole:
		return "approle"
	default:
		return "token"
	}
}

// Re-authentication retries back off from minRetry to maxRetry.
const (
	minRetry = time.Second
	maxRetry = time.Minute
)

// maintainToken keeps the token valid until ctx ends: Vault's LifetimeWatcher
// renews a renewable token at about two thirds of each lease and returns when
// the token cannot be renewed any further (not renewable, or at its max TTL)
// shortly before it expires; then the store logs in again with AppRole or
// re-reads the token file. A plain token that cannot be renewed is left to
// expire, with a warning.
func (s *Store) maintainToken(ctx context.Context) {
	for ctx.Err() == nil {
		s.tok.mu.Lock()
		expires, renewable, token := s.tok.expires, s.tok.renewable, s.tok.token
		ttl := s.tok.expiry.Sub(s.clock.Now())
		s.tok.mu.Unlock()
		if !expires {
			// Nothing to renew; wake only if a request replaced the token.
			select {
			case <-ctx.Done():
				return
			case <-s.tokenChanged:
				continue
			}
		}
		w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
			Secret: &api.Secret{Auth: &api.SecretAuth{
				ClientToken: token, Renewable: renewable, LeaseDuration: int(ttl.Seconds()),
			}},
		})
		if err != nil {
			s.log.Error("vault token renewal cannot start", slog.String("error", err.Error()))
			return
		}
		if !s.watch(ctx, w) {
			continue // a request replaced the token already
		}
		if ctx.Err() != nil {
			return
		}
		if s.mode == authToken {
			s.log.Warn("vault token cannot be renewed any further and will expire; supply a new token "+
				"or use AppRole or a token file", slog.Duration("ttl", ttl))
			select {
			case <-ctx.Done():
				return
			case <-s.tokenChanged:
				continue
			}
		}
		s.replaceToken(ctx)
	}
}

// watch runs w until the token is at the end of its life (true), or until a
// request replaced the token or ctx ended (false).
func (s *Store) watch(ctx context.Context, w *api.LifetimeWatcher) bool {
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-s.tokenChanged:
			return false
		case r := <-w.RenewCh():
			if r.Secret != nil && r.Secret.Auth != nil {
				ttl := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
				s.setTTL(ttl, r.Secret.Auth.Renewable)
				s.log.Debug("vault token renewed", slog.Duration("ttl", ttl))
			}
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Warn("vault token renewal stopped", slog.String("error", err.Error()))
			}
			return true
		}
	}
}

// replaceToken re-authenticates, retrying with backoff while Vault is
// unreachable, until it succeeds or ctx ends.
func (s *Store) replaceToken(ctx context.Context) {
	delay := minRetry
	for {
		err := s.reauthenticate(ctx, s.generation())
		if err == nil {
			// Our own change needs no wake-up.
			select {
			case <-s.tokenChanged:
			default:
			}
			return
		}
		s.log.Error("vault re-authentication failed; retrying", slog.String("auth", s.authName()),
			slog.Duration("retry_in", delay), slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(delay):
		}
		delay = min(2*delay, maxRetry)
	}
}
