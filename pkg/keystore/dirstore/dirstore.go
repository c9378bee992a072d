// Package dirstore is a keystore.Store over a local directory in Lighthouse's
// layout, so that keys can be moved in and out by hand:
//
//	<dir>/validators/<0xpubkey>/voting-keystore.json  EIP-2335 keystore (0600)
//	<dir>/validators/<0xpubkey>/vigil.json            optional metadata (0600)
//	<dir>/secrets/<0xpubkey>                          keystore password (0600)
//
// Directories are 0700. vigil.json holds what a keystore cannot (creation
// time and origin); the derivation path lives in the keystore's path field.
// A key dropped in by hand without vigil.json is listed as imported, created
// at its keystore's modification time. A password file may end in one
// newline, which is ignored.
package dirstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-eth/vigil/internal/atomicfile"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

const (
	validatorsDir = "validators"
	secretsDir    = "secrets"
	keystoreFile  = "voting-keystore.json"
	metadataFile  = "vigil.json"
	// passwordBytes of crypto/rand give each key its own 256-bit password.
	passwordBytes = 32
)

// ErrInsecurePermissions is returned for a secret file or directory that
// group or others can read.
var ErrInsecurePermissions = errors.New("insecure permissions")

// Store keeps keys as EIP-2335 keystores with per-key password files.
type Store struct {
	dir     string
	params  keystore.EncryptParams
	workers int
	// mu serialises Put and Delete within this process; writes are atomic
	// renames, so readers never see a half-written key.
	mu sync.Mutex
}

var _ keystore.Store = (*Store)(nil)

// Option configures New.
type Option func(*Store)

// WithEncryptParams sets the KDF and cost for keystores written by Put
// (default scrypt, n = 2^18). Only tests should lower the cost.
func WithEncryptParams(p keystore.EncryptParams) Option {
	return func(s *Store) { s.params = p }
}

// WithWorkers bounds the goroutines Load decrypts on (default GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(s *Store) { s.workers = n }
}

// New opens (creating 0700 if missing) a key directory. It refuses a
// directory whose secrets are open to group or others.
func New(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("dirstore: no directory given")
	}
	s := &Store{dir: dir}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{dir, filepath.Join(dir, validatorsDir), filepath.Join(dir, secretsDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("dirstore: create %s: %w", d, err)
		}
	}
	if err := checkPrivate(filepath.Join(dir, secretsDir)); err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func pubkeyName(pk phase0.BLSPubKey) string { return "0x" + hex.EncodeToString(pk[:]) }

func parsePubkeyName(name string) (phase0.BLSPubKey, bool) {
	var pk phase0.BLSPubKey
	h, ok := strings.CutPrefix(name, "0x")
	if !ok || len(h) != 2*len(pk) || h != strings.ToLower(h) {
		return pk, false
	}
	if _, err := hex.Decode(pk[:], []byte(h)); err != nil {
		return pk, false
	}
	return pk, true
}

func (s *Store) keyDir(pk phase0.BLSPubKey) string {
	return filepath.Join(s.dir, validatorsDir, pubkeyName(pk))
}

func (s *Store) secretPath(pk phase0.BLSPubKey) string {
	return filepath.Join(s.dir, secretsDir, pubkeyName(pk))
}

type metadata struct {
	CreatedAt time.Time       `json:"created_at"`
	Origin    keystore.Origin `json:"origin"`
}

// List returns every key's metadata without decrypting anything, sorted by
// public key.
func (s *Store) List(ctx context.Context) ([]keystore.Info, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, validatorsDir))
	if err != nil {
		return nil, fmt.Errorf("dirstore: list: %w", err)
	}
	var infos []keystore.Info
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pk, ok := parsePubkeyName(e.Name())
		if !ok || !e.IsDir() {
			continue // temporary directories and anything a user left here
		}
		ks, fi, err := s.readKeystore(pk)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a validator directory without a keystore is not a key
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, s.info(pk, ks, fi))
	}
	slices.SortFunc(infos, func(a, b keystore.Info) int { return bytes.Compare(a.Pubkey[:], b.Pubkey[:]) })
	return infos, nil
}

func (s *Store) readKeystore(pk phase0.BLSPubKey) (*keystore.Keystore, fs.FileInfo, error) {
	path := filepath.Join(s.keyDir(pk), keystoreFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dirstore: read %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dirstore: stat %s: %w", path, err)
	}
	ks, err := keystore.ParseKeystore(data)
	if err != nil {
		return nil, nil, fmt.Errorf("dirstore: %s: %w", path, err)
	}
	if want, _ := ks.PublicKey(); want != nil && *want != pk {
		return nil, nil, fmt.Errorf("dirstore: %s: %w: it holds %s", path, keystore.ErrPubkeyMismatch, ks.Pubkey)
	}
	return ks, fi, nil
}

func (s *Store) info(pk phase0.BLSPubKey, ks *keystore.Keystore, fi fs.FileInfo) keystore.Info {
	info := keystore.Info{Pubkey: pk, Path: ks.Path, CreatedAt: fi.ModTime().UTC(), Origin: keystore.OriginImported}
	data, err := os.ReadFile(filepath.Join(s.keyDir(pk), metadataFile))
	if err != nil {
		return info
	}
	var m metadata
	if json.Unmarshal(data, &m) == nil {
		if !m.CreatedAt.IsZero() {
			info.CreatedAt = m.CreatedAt
		}
		if m.Origin != "" {
			info.Origin = m.Origin
		}
	}
	return info
}

// Load decrypts the keys with the given public keys in parallel. It fails
// with keystore.ErrNotFound naming the first missing key.
func (s *Store) Load(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*keystore.Key, error) {
	jobs := make([]keystore.DecryptJob, len(pubkeys))
	infos := make([]keystore.Info, len(pubkeys))
	for i, pk := range pubkeys {
		ks, fi, err := s.readKeystore(pk)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("dirstore: %s: %w", pubkeyName(pk), keystore.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		password, err := readSecret(s.secretPath(pk))
		if err != nil {
			return nil, err
		}
		jobs[i] = keystore.DecryptJob{Keystore: ks, Password: password}
		infos[i] = s.info(pk, ks, fi)
	}
	keys, errs := keystore.DecryptAll(ctx, jobs, s.workers, nil)
	for i, err := range errs {
		if err != nil {
			zeroAll(keys)
			return nil, fmt.Errorf("dirstore: decrypt %s: %w", filepath.Join(s.keyDir(pubkeys[i]), keystoreFile), err)
		}
		if keys[i].Pubkey != pubkeys[i] {
			zeroAll(keys)
			return nil, fmt.Errorf("dirstore: %s: %w: it decrypts to %s", s.keyDir(pubkeys[i]), keystore.ErrPubkeyMismatch, pubkeyName(keys[i].Pubkey))
		}
		keys[i].Info = infos[i]
	}
	return keys, nil
}

func zeroAll(keys []*keystore.Key) {
	for _, k := range keys {
		k.Zero()
	}
}

// readSecret reads a password file, refusing one that group or others can
// read, and trims one trailing newline.
func readSecret(path string) (string, error) {
	if err := checkPrivate(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("dirstore: password file %s is missing: %w", path, err)
		}
		return "", fmt.Errorf("dirstore: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dirstore: read %s: %w", path, err)
	}
	defer clear(data) // the string below is a copy; strings cannot be cleared
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		mode := "600"
		if fi.IsDir() {
			mode = "700"
		}
		return fmt.Errorf("%w: %s has mode %o and holds secrets; run `chmod %s %s`", ErrInsecurePermissions, path, fi.Mode().Perm(), mode, path)
	}
	return nil
}

// Put encrypts the key under a fresh random password and writes keystore,
// metadata and password so that a crash leaves either the whole key or no
// key. It fails with keystore.ErrExists if the public key is present.
func (s *Store) Put(ctx context.Context, key *keystore.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := pubkeyName(key.Pubkey)
	if _, err := os.Stat(s.keyDir(key.Pubkey)); err == nil {
		return fmt.Errorf("dirstore: %s: %w", name, keystore.ErrExists)
	}
	pw := make([]byte, passwordBytes)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("dirstore: generate password: %w", err)
	}
	password := make([]byte, hex.EncodedLen(passwordBytes))
	hex.Encode(password, pw)
	clear(pw)
	defer clear(password)
	// Encrypt takes a string, an immutable copy vigil cannot clear; the bytes
	// written to the password file are cleared.
	ks, err := keystore.Encrypt(key, string(password), s.params)
	if err != nil {
		return fmt.Errorf("dirstore: encrypt %s: %w", name, err)
	}
	ksJSON, err := ks.Marshal()
	if err != nil {
		return fmt.Errorf("dirstore: encode %s: %w", name, err)
	}
	createdAt := key.CreatedAt
	if createdAt.IsZero() {
		createdAt = time.Now().UTC()
	}
	meta, err := json.Marshal(metadata{CreatedAt: createdAt, Origin: key.Origin})
	if err != nil {
		return fmt.Errorf("dirstore: encode metadata: %w", err)
	}

	// The password goes first: a crash before the key directory appears
	// leaves only an unused password file, which a later Put replaces.
	if err := writeFileAtomic(s.secretPath(key.Pubkey), password); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	vdir := filepath.Join(s.dir, validatorsDir)
	tmp, err := os.MkdirTemp(vdir, ".tmp-"+name+"-")
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := writeFileAtomic(filepath.Join(tmp, keystoreFile), ksJSON); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(tmp, metadataFile), meta); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	if err := os.Rename(tmp, s.keyDir(key.Pubkey)); err != nil {
		return fmt.Errorf("dirstore: install %s: %w", name, err)
	}
	return syncDir(vdir)
}

// Delete removes a key and its password. It fails with keystore.ErrNotFound
// if the key is absent.
func (s *Store) Delete(ctx context.Context, pubkey phase0.BLSPubKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := pubkeyName(pubkey)
	kdir := s.keyDir(pubkey)
	if _, err := os.Stat(kdir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dirstore: %s: %w", name, keystore.ErrNotFound)
	}
	// Renaming first makes the key disappear from List in one step.
	vdir := filepath.Join(s.dir, validatorsDir)
	trash := filepath.Join(vdir, ".deleted-"+name)
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("dirstore: delete %s: %w", name, err)
	}
	if err := os.Rename(kdir, trash); err != nil {
		return fmt.Errorf("dirstore: delete %s: %w", name, err)
	}
	if err := syncDir(vdir); err != nil {
		return err
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("dirstore: delete %s: %w", name, err)
	}
	if err := os.Remove(s.secretPath(pubkey)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dirstore: delete password of %s: %w", name, err)
	}
	return syncDir(filepath.Join(s.dir, secretsDir))
}

// writeFileAtomic writes path 0600 so that a crash leaves the old file or
// the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Replace(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("dirstore: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("dirstore: sync %s: %w", dir, err)
	}
	return nil
}
