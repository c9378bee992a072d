// Package keygen is vigil's key provisioning: deriving validator keys from a
// mnemonic with their deposit data (EIP-2333/2334, launchpad deposits),
// writing EIP-2335 backups, and importing other tools' keystores into a key
// store.
package keygen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/internal/atomicfile"
	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// Request describes the validators to derive.
type Request struct {
	// Start and Count select the EIP-2334 indices Start … Start+Count-1.
	Start, Count uint32
	Network      deposit.Network
	// Withdrawal is the type of withdrawal credentials; Address is the
	// execution address for 0x01 and 0x02 (nil for 0x00, the BLS withdrawal
	// key derived from the same seed).
	Withdrawal deposit.WithdrawalType
	Address    *deposit.ExecutionAddress
	Amount     phase0.Gwei
	// Now stamps the keys' creation time.
	Now time.Time
}

// Generate derives the signing keys of req from seed and one verified
// deposit per key. The caller zeroes the keys; on error none are returned.
func Generate(seed []byte, req Request) ([]*keystore.Key, []*deposit.Data, error) {
	keys := make([]*keystore.Key, 0, req.Count)
	deposits := make([]*deposit.Data, 0, req.Count)
	fail := func(err error) ([]*keystore.Key, []*deposit.Data, error) {
		for _, k := range keys {
			k.Zero()
		}
		return nil, nil, err
	}
	for i := req.Start; i-req.Start < req.Count; i++ {
		key, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(i), req.Now)
		if err != nil {
			return fail(err)
		}
		keys = append(keys, key)
		wc, err := withdrawalCredentials(seed, i, req)
		if err != nil {
			return fail(err)
		}
		dep, err := deposit.New(key, wc, req.Amount, req.Network)
		if err != nil {
			return fail(fmt.Errorf("deposit for validator %d: %w", i, err))
		}
		deposits = append(deposits, dep)
	}
	return keys, deposits, nil
}

func withdrawalCredentials(seed []byte, index uint32, req Request) ([]byte, error) {
	if req.Address != nil {
		return deposit.ExecutionWithdrawalCredentials(req.Withdrawal, *req.Address)
	}
	wk, err := keystore.DeriveKey(seed, keystore.WithdrawalKeyPath(index), time.Time{})
	if err != nil {
		return nil, err
	}
	defer wk.Zero()
	return deposit.BLSWithdrawalCredentials(wk.Pubkey), nil
}

// WriteBackups encrypts keys on all cores with password and writes them as
// staking-deposit-cli-named keystores into dir (created 0700, files 0600,
// never overwritten). It returns the paths written.
func WriteBackups(ctx context.Context, dir string, keys []*keystore.Key, password string, params keystore.EncryptParams, now time.Time, progress keystore.Progress) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	stores, errs := keystore.EncryptAll(ctx, keys, password, params, 0, progress)
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("encrypt keystore for %s: %w", keys[i].Path, err)
		}
	}
	paths := make([]string, 0, len(stores))
	for i, ks := range stores {
		data, err := ks.Marshal()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("keystore-%s-%d.json", strings.ReplaceAll(keys[i].Path, "/", "_"), now.Unix())
		path := filepath.Join(dir, name)
		if err := atomicfile.Create(path, data, 0o600); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// Failure is one keystore file that could not be imported, and why.
type Failure struct {
	File string
	Err  error
}

// ImportReport says what an import did.
type ImportReport struct {
	Imported int
	// Duplicates describe keystores whose key the store already held.
	Duplicates []string
	Failures   []Failure
}

// Import decrypts the keystore files with password (on all cores) and puts
// each key into store, stamped as imported at now. A key the store already
// holds is skipped; a file that fails is reported and the others go on.
func Import(ctx context.Context, store keystore.Store, files []string, password string, now time.Time, progress keystore.Progress) (ImportReport, error) {
	var rep ImportReport
	existing, err := store.List(ctx)
	if err != nil {
		return rep, err
	}
	have := make(map[phase0.BLSPubKey]bool, len(existing))
	for _, in := range existing {
		have[in.Pubkey] = true
	}
	var jobs []keystore.DecryptJob
	var jobFiles []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			var ks *keystore.Keystore
			if ks, err = keystore.ParseKeystore(data); err == nil {
				if pk, _ := ks.PublicKey(); pk != nil && have[*pk] {
					rep.Duplicates = append(rep.Duplicates, fmt.Sprintf("%s: %s is already in the store", f, pubkey.Hex(*pk)))
					continue
				}
				jobs = append(jobs, keystore.DecryptJob{Keystore: ks, Password: password})
				jobFiles = append(jobFiles, f)
				continue
			}
		}
		rep.Failures = append(rep.Failures, Failure{File: f, Err: err})
	}
	keys, errs := keystore.DecryptAll(ctx, jobs, 0, progress)
	for i, key := range keys {
		if errs[i] != nil {
			rep.Failures = append(rep.Failures, Failure{File: jobFiles[i], Err: errs[i]})
			continue
		}
		key.Origin, key.CreatedAt = keystore.OriginImported, now
		err := store.Put(ctx, key)
		pk := key.Pubkey
		key.Zero()
		switch {
		case errors.Is(err, keystore.ErrExists):
			rep.Duplicates = append(rep.Duplicates, fmt.Sprintf("%s: %s is already in the store", jobFiles[i], pubkey.Hex(pk)))
		case err != nil:
			rep.Failures = append(rep.Failures, Failure{File: jobFiles[i], Err: err})
		default:
			rep.Imported++
		}
	}
	return rep, nil
}

// KeystoreFiles expands keystore arguments: files as given, and every *.json
// file under a directory, so that the layouts other clients use
// (Lighthouse's validators/0x…/voting-keystore.json, Teku's and the deposit
// CLIs' flat folders) import as they are. Deposit data files and vigil's own
// metadata sidecars are not keystores and are left out.
func KeystoreFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New("no keystore files or directories given")
	}
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != a && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(name) == ".json" && !strings.HasPrefix(name, "deposit_data-") && name != "vigil.json" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json keystores in %s", strings.Join(args, ", "))
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// Export encrypts key with password and writes it as an EIP-2335 keystore
// into dir (created 0700, file 0600, never overwritten), named after its
// derivation path or public key; it returns the file's path.
func Export(key *keystore.Key, password string, params keystore.EncryptParams, dir string, now time.Time) (string, error) {
	ks, err := keystore.Encrypt(key, password, params)
	if err != nil {
		return "", err
	}
	data, err := ks.Marshal()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	id := pubkey.Hex(key.Pubkey)[:18]
	if key.Path != "" {
		id = strings.ReplaceAll(key.Path, "/", "_")
	}
	path := filepath.Join(dir, fmt.Sprintf("keystore-%s-%d.json", id, now.Unix()))
	if err := atomicfile.Create(path, data, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

type keyJSON struct {
	Pubkey    string    `json:"pubkey"`
	Path      string    `json:"path"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
}

// WriteList prints a store's key list as a table (or as JSON), the way
// `vigil keys list` shows it.
func WriteList(w io.Writer, infos []keystore.Info, asJSON bool) error {
	if asJSON {
		out := make([]keyJSON, len(infos))
		for i, in := range infos {
			out[i] = keyJSON{Pubkey: pubkey.Hex(in.Pubkey), Path: in.Path, Origin: string(in.Origin), CreatedAt: in.CreatedAt.UTC()}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PUBKEY\tPATH\tORIGIN\tCREATED")
	for _, in := range infos {
		path := in.Path
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pubkey.Hex(in.Pubkey), path, in.Origin, in.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
