// Package vaultstore keeps validator keys in HashiCorp Vault's KV version 2
// secrets engine, one secret per validator named by its public key.
package vaultstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/hashicorp/vault/api"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

// Store is a keystore.Store on a Vault KV v2 mount. It is safe for
// concurrent use; its token is renewed (or AppRole logged in again) until the
// context given to New ends.
type Store struct {
	cfg    Config
	mode   authMode
	client *api.Client
	// login has no token: AppRole logins must not present the expired one.
	login *api.Client
	log   *slog.Logger
	clock Clock
	// strictListing turns Vault's 404 to LIST into keystore.ErrNoListing.
	strictListing bool

	tok    tokenState
	reauth sync.Mutex // serialises re-authentication
	// tokenChanged wakes the renewal goroutine after a re-login it did not do.
	tokenChanged chan struct{}
}

var _ keystore.Store = (*Store)(nil)

// New connects to Vault and checks, before returning, that it is reachable and
// unsealed, that the credentials work and that the mount is KV version 2. A
// goroutine keeps the token alive until ctx ends.
func New(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler), clock: wallClock{}, maxRetries: 2}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, mode, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if insecure, _ := checkAddress(cfg.Address, cfg.AllowInsecureHTTP); insecure {
		o.log.Warn("Vault address is plain http:// to a host that is not loopback: the token and the keys cross the network unencrypted",
			slog.String("vault_addr", cfg.Address))
	}
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	client, err := newClient(cfg, o.maxRetries)
	if err != nil {
		return nil, err
	}
	login, err := client.Clone()
	if err != nil {
		return nil, newError(ErrConfig, err, "Vault client for %s", cfg.Address)
	}
	login.ClearToken()
	s := &Store{
		cfg:           cfg,
		mode:          mode,
		client:        client,
		login:         login,
		log:           o.log.With(slog.String("vault_addr", cfg.Address)),
		clock:         o.clock,
		strictListing: o.strictListing,
		tokenChanged:  make(chan struct{}, 1),
	}
	if err := s.checkUnsealed(ctx); err != nil {
		return nil, err
	}
	if err := s.authenticate(ctx); err != nil {
		return nil, err
	}
	if err := s.checkMount(ctx); err != nil {
		return nil, err
	}
	go s.maintainToken(ctx)
	return s, nil
}

// checkUnsealed asks sys/seal-status, which needs no token.
func (s *Store) checkUnsealed(ctx context.Context) error {
	sealed, err := s.sealedWithContext(ctx)
	if err != nil {
		return err
	}
	if sealed {
		return s.sealedError()
	}
	return nil
}

func (s *Store) sealed() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return s.sealedWithContext(ctx)
}

func (s *Store) sealedWithContext(ctx context.Context) (bool, error) {
	st, err := s.login.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return false, s.responseError(err, "read", "sys/seal-status", capRead)
	}
	return st.Sealed, nil
}

// checkMount verifies that the mount is a KV version 2 engine. It asks
// sys/internal/ui/mounts/<mount>, which any token with a capability under the
// mount may read, so vigil's policy needs nothing on sys/mounts.
func (s *Store) checkMount(ctx context.Context) error {
	path := "sys/internal/ui/mounts/" + s.cfg.Mount
	var sec *api.Secret
	err := s.call(ctx, "read", path, capRead, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ReadWithContext(ctx, path)
		return err
	})
	if errors.Is(err, ErrPermissionDenied) {
		return newError(ErrMount, nil,
			"mount %s/ does not exist at Vault %s, or the token has no capability under %s/%s: "+
				"enable it with `vault secrets enable -version=2 -path=%s kv` or fix the policy",
			s.cfg.Mount, s.cfg.Address, s.cfg.Mount, s.cfg.Prefix, s.cfg.Mount)
	}
	if err != nil {
		return err
	}
	if sec == nil || sec.Data == nil {
		return newError(ErrMount, nil, "mount %s/ does not exist at Vault %s: enable it with `vault secrets enable -version=2 -path=%s kv`",
			s.cfg.Mount, s.cfg.Address, s.cfg.Mount)
	}
	typ, _ := sec.Data["type"].(string)
	version := ""
	if o, ok := sec.Data["options"].(map[string]any); ok {
		version, _ = o["version"].(string)
	}
	switch {
	case typ != "kv" && typ != "generic":
		return newError(ErrMount, nil, "mount %s/ is a %q secrets engine; vigil needs KV v2: `vault secrets enable -version=2 -path=<path> kv`",
			s.cfg.Mount, typ)
	case version != "2":
		return newError(ErrMount, nil,
			"mount %s/ is KV version 1; vigil needs KV v2: `vault secrets enable -version=2 -path=<path> kv` for a new mount, "+
				"or upgrade this one with `vault kv enable-versioning %s/`", s.cfg.Mount, s.cfg.Mount)
	}
	return nil
}

func (s *Store) dataPath(pk phase0.BLSPubKey) string {
	return s.cfg.Mount + "/data/" + s.cfg.Prefix + "/" + pubkeyHex(pk)
}

func (s *Store) metadataPath(pk phase0.BLSPubKey) string {
	return s.cfg.Mount + "/metadata/" + s.cfg.Prefix + "/" + pubkeyHex(pk)
}

// Pubkeys lists the public keys under the prefix with one LIST request,
// sorted. Unlike List it reads no per-key metadata.
//
// KV v2 answers a LIST with 404, never with an empty list, when the prefix
// holds no keys, and answers the same way when this node cannot see them (a
// performance standby or replica that is behind, a wrong namespace, an engine
// moved to another path). On a 404 the store checks that the mount is still
// a KV version 2 engine, and fails with ErrMount if not; otherwise it returns
// no keys, or with WithStrictListing an error matching
// keystore.ErrNoListing.
func (s *Store) Pubkeys(ctx context.Context) ([]phase0.BLSPubKey, error) {
	path := s.cfg.Mount + "/metadata/" + s.cfg.Prefix
	var sec *api.Secret
	err := s.call(ctx, "list", path, capList, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ListWithContext(ctx, path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if sec == nil || sec.Data == nil {
		// The Vault client turns a 404 into no secret (or one carrying only
		// warnings): Vault found nothing to list.
		return nil, s.noListing(ctx, path)
	}
	names, _ := sec.Data["keys"].([]any)
	pks := make([]phase0.BLSPubKey, 0, len(names))
	for _, n := range names {
		name, _ := n.(string)
		pk, err := parsePubkey(name)
		if err != nil {
			return nil, newError(ErrNotVigilKey, nil,
				"secret at %s/data/%s/%s is not a vigil key: its name is not a public key; move it out of %s/%s",
				s.cfg.Mount, s.cfg.Prefix, name, s.cfg.Mount, s.cfg.Prefix)
		}
		pks = append(pks, pk)
	}
	slices.SortFunc(pks, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return pks, nil
}

// noListing decides what a 404 to the LIST of path means for the caller:
// an error if the mount is gone or changed (a remount must never read as "no
// keys"), else no keys, or keystore.ErrNoListing under WithStrictListing.
func (s *Store) noListing(ctx context.Context, path string) error {
	if err := s.checkMount(ctx); err != nil {
		return fmt.Errorf("list keys: Vault at %s answered 404 to LIST %s: %w", s.cfg.Address, path, err)
	}
	if !s.strictListing {
		return nil
	}
	return newError(keystore.ErrNoListing, nil,
		"list keys: Vault at %s answered 404 to LIST %s: no key under the prefix, or this Vault node or namespace "+
			"cannot see them (a performance standby or replica behind the active node, another namespace); "+
			"check --vault-prefix and --vault-namespace, and that the node serves current data", s.cfg.Address, path)
}

// List returns every key's metadata from the secrets' custom metadata, so it
// needs "list" and "read" on the metadata path but nothing on the secrets.
func (s *Store) List(ctx context.Context) ([]keystore.Info, error) {
	pks, err := s.Pubkeys(ctx)
	if err != nil {
		return nil, err
	}
	infos := make([]keystore.Info, len(pks))
	err = s.parallel(ctx, len(pks), func(ctx context.Context, i int) error {
		info, err := s.info(ctx, pks[i])
		infos[i] = info
		return err
	})
	if err != nil {
		return nil, err
	}
	return infos, nil
}

// info reads one key's custom metadata. A key whose metadata write failed
// after its secret was stored (Put is two requests) falls back to the secret.
func (s *Store) info(ctx context.Context, pk phase0.BLSPubKey) (keystore.Info, error) {
	path := s.metadataPath(pk)
	var sec *api.Secret
	err := s.call(ctx, "read", path, capRead, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return keystore.Info{}, fmt.Errorf("list key %s: %w", pubkey.Short(pk), err)
	}
	if sec == nil {
		return keystore.Info{}, fmt.Errorf("list key %s: %s vanished while listing: %w", pubkey.Short(pk), path, keystore.ErrNotFound)
	}
	cm, _ := sec.Data["custom_metadata"].(map[string]any)
	str := func(k string) string { v, _ := cm[k].(string); return v }
	if str(formatField) == "" {
		key, err := s.load(ctx, pk)
		if err != nil {
			return keystore.Info{}, err
		}
		defer key.Zero()
		return key.Info, nil
	}
	ki := keyInfo{Format: str(formatField), Pubkey: str("pubkey"), Path: str("path"), CreatedAt: str("created_at"), Origin: str("origin")}
	info, err := ki.parse(pk)
	if err != nil {
		return keystore.Info{}, newError(ErrNotVigilKey, err, "secret at %s is not a vigil key", s.dataPath(pk))
	}
	return info, nil
}

// Load reads the keys with Parallelism requests in flight and returns them in
// the order asked, each verified to derive its public key. On error no key is
// returned and those already read are zeroed.
func (s *Store) Load(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*keystore.Key, error) {
	keys := make([]*keystore.Key, len(pubkeys))
	err := s.parallel(ctx, len(pubkeys), func(ctx context.Context, i int) error {
		k, err := s.load(ctx, pubkeys[i])
		keys[i] = k
		return err
	})
	if err != nil {
		for _, k := range keys {
			k.Zero()
		}
		return nil, err
	}
	return keys, nil
}

// maxResponse bounds a KV read's body; a vigil key's is under 1 KiB.
const maxResponse = 64 << 10

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (s *Store) load(ctx context.Context, pk phase0.BLSPubKey) (*keystore.Key, error) {
	path := s.dataPath(pk)
	bp := bodyPool.Get().(*[]byte)
	defer func() {
		clear((*bp)[:cap(*bp)])
		*bp = (*bp)[:0]
		bodyPool.Put(bp)
	}()
	notFound := false
	err := s.call(ctx, "read", path, capRead, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		resp, err := s.client.Logical().ReadRawWithContext(ctx, path)
		if resp != nil {
			defer resp.Body.Close()
		}
		if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
			return err
		}
		notFound = resp.StatusCode == http.StatusNotFound
		*bp, err = readBody((*bp)[:0], resp.Body)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", pubkey.Short(pk), err)
	}
	if notFound {
		return nil, s.notFound(pk, *bp)
	}
	key, err := decodeKey(*bp, pk)
	if errors.Is(err, errNoCurrentVersion) {
		return nil, s.notFound(pk, nil)
	}
	if err != nil {
		if errors.Is(err, ErrNotVigilKey) {
			return nil, newError(ErrNotVigilKey, errors.Unwrap(err), "secret at %s is not a vigil key", path)
		}
		return nil, fmt.Errorf("load key %s from %s: %w", pubkey.Short(pk), path, err)
	}
	return key, nil
}

// notFound tells a missing key from one whose latest version was deleted with
// `vault kv delete`, which KV v2 also answers with 404.
func (s *Store) notFound(pk phase0.BLSPubKey, body []byte) error {
	var resp readResponse
	if body != nil {
		_ = json.Unmarshal(body, &resp) // best effort: only the metadata is looked at
	}
	if body == nil || resp.Data.Metadata.DeletionTime != "" || resp.Data.Metadata.Destroyed {
		return fmt.Errorf("load key %s: the latest version of %s was deleted or destroyed; restore it with "+
			"`vault kv undelete` or `vault kv rollback`, or remove the secret with `vault kv metadata delete`: %w",
			pubkey.Short(pk), s.dataPath(pk), keystore.ErrNotFound)
	}
	return fmt.Errorf("load key %s: no secret at %s: %w", pubkeyHex(pk), s.dataPath(pk), keystore.ErrNotFound)
}

// readBody reads r into buf, growing it up to maxResponse.
func readBody(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxResponse {
				return buf, fmt.Errorf("response larger than %d bytes", maxResponse)
			}
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			clear(buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// Put stores key with a create-only write (check-and-set 0), so an existing
// secret is never overwritten, then records its metadata for List.
func (s *Store) Put(ctx context.Context, key *keystore.Key) error {
	if key == nil || key.Secret == nil {
		return errors.New("put key: no secret key")
	}
	if keystore.PublicKey(key.Secret) != key.Pubkey {
		return fmt.Errorf("put key %s: the secret key does not belong to that public key", pubkey.Short(key.Pubkey))
	}
	body, err := encodePut(key)
	if err != nil {
		return fmt.Errorf("put key %s: %w", pubkey.Short(key.Pubkey), err)
	}
	defer clear(body)
	path := s.dataPath(key.Pubkey)
	badRequest := false
	err = s.call(ctx, "write", path, capCreate, func(ctx context.Context) error {
		resp, err := s.client.Logical().WriteRawWithContext(ctx, path, body)
		if resp != nil {
			// Drained, so the connection goes back to the pool.
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		badRequest = isStatus(err, http.StatusBadRequest)
		return err
	})
	if err != nil {
		if badRequest {
			// KV v2 answers a failed check-and-set with 400; make sure that is
			// what happened before calling it a duplicate.
			if exists, xerr := s.exists(ctx, key.Pubkey); xerr == nil && exists {
				return fmt.Errorf("put key %s: a secret already exists at %s: %w", pubkeyHex(key.Pubkey), path, keystore.ErrExists)
			}
		}
		return fmt.Errorf("put key %s: %w", pubkey.Short(key.Pubkey), err)
	}
	mpath := s.metadataPath(key.Pubkey)
	cm := map[string]any{"custom_metadata": newKeyInfo(key.Info).customMetadata()}
	err = s.call(ctx, "write", mpath, capUpdate, func(ctx context.Context) error {
		_, err := s.client.Logical().WriteWithContext(ctx, mpath, cm)
		return err
	})
	if err != nil {
		return fmt.Errorf("put key %s: the key is stored, but recording its metadata for listing failed "+
			"(listing will read the secret instead): %w", pubkey.Short(key.Pubkey), err)
	}
	return nil
}

// exists reports whether any version of the key's secret is recorded.
func (s *Store) exists(ctx context.Context, pk phase0.BLSPubKey) (bool, error) {
	path := s.metadataPath(pk)
	var sec *api.Secret
	err := s.call(ctx, "read", path, capRead, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return false, err
	}
	return sec != nil, nil
}

// Delete removes the key's secret with all its versions and metadata.
func (s *Store) Delete(ctx context.Context, pk phase0.BLSPubKey) error {
	exists, err := s.exists(ctx, pk)
	if err != nil {
		return fmt.Errorf("delete key %s: %w", pubkey.Short(pk), err)
	}
	path := s.metadataPath(pk)
	if !exists {
		return fmt.Errorf("delete key %s: no secret at %s: %w", pubkeyHex(pk), s.dataPath(pk), keystore.ErrNotFound)
	}
	err = s.call(ctx, "delete", path, capDelete, func(ctx context.Context) error {
		_, err := s.client.Logical().DeleteWithContext(ctx, path)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete key %s: %w", pubkey.Short(pk), err)
	}
	return nil
}

// parallel runs fn(0..n-1) with at most Parallelism in flight. The first
// failure cancels the rest; the error returned is that of the failed item
// with the lowest index, not a sibling's cancellation.
func (s *Store) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		errIdx   = n
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(s.cfg.Parallelism, n) {
		wg.Go(func() {
			for inner.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				err := fn(inner, i)
				if err == nil {
					continue
				}
				mu.Lock()
				if firstErr == nil || (i < errIdx && !errors.Is(err, context.Canceled)) {
					errIdx, firstErr = i, err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}

// Location names where keys are stored, e.g. "secret/data/vigil/keys".
func (s *Store) Location() string {
	return strings.Join([]string{s.cfg.Mount, "data", s.cfg.Prefix}, "/")
}
