package vaultstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// The layout of a vigil key in KV v2. The data of the secret holds the secret
// key and its metadata; the secret's custom_metadata repeats the metadata (no
// secret) so that listing needs neither the secret nor the "read" capability
// on the data path.
const (
	formatField   = "vigil_key_format"
	formatVersion = "1"
	secretKeyLen  = 32
)

// keyInfo is the non-secret part of a stored key, as JSON strings.
type keyInfo struct {
	Format    string `json:"vigil_key_format"`
	Pubkey    string `json:"pubkey"`
	Path      string `json:"path"`
	CreatedAt string `json:"created_at"`
	Origin    string `json:"origin"`
}

func newKeyInfo(info keystore.Info) keyInfo {
	return keyInfo{
		Format:    formatVersion,
		Pubkey:    pubkeyHex(info.Pubkey),
		Path:      info.Path,
		CreatedAt: info.CreatedAt.UTC().Format(time.RFC3339Nano),
		Origin:    string(info.Origin),
	}
}

// parse checks the marker and fields and that the stored public key is the
// one the secret's path names.
func (ki keyInfo) parse(want phase0.BLSPubKey) (keystore.Info, error) {
	if ki.Format != formatVersion {
		if ki.Format == "" {
			return keystore.Info{}, fmt.Errorf("no %s field", formatField)
		}
		return keystore.Info{}, fmt.Errorf("%s is %q; this vigil reads version %s", formatField, ki.Format, formatVersion)
	}
	pk, err := parsePubkey(ki.Pubkey)
	if err != nil {
		return keystore.Info{}, fmt.Errorf("field pubkey: %w", err)
	}
	if pk != want {
		return keystore.Info{}, fmt.Errorf("field pubkey %s differs from the public key in the secret's path", pubkey.Short(pk))
	}
	created, err := time.Parse(time.RFC3339Nano, ki.CreatedAt)
	if err != nil {
		return keystore.Info{}, fmt.Errorf("field created_at %q is not an RFC 3339 time", ki.CreatedAt)
	}
	return keystore.Info{Pubkey: pk, Path: ki.Path, CreatedAt: created, Origin: keystore.Origin(ki.Origin)}, nil
}

// customMetadata is keyInfo as KV v2 custom metadata (string to string).
// Vault refuses empty values, so empty fields (a key of unknown derivation
// path) are left out.
func (ki keyInfo) customMetadata() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{
		formatField:  ki.Format,
		"pubkey":     ki.Pubkey,
		"path":       ki.Path,
		"created_at": ki.CreatedAt,
		"origin":     ki.Origin,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// encodePut builds the body of a KV v2 create-only write (cas=0) for key. The
// caller clears the returned slice, which holds the secret in hex, after the
// request; building it by hand keeps the secret out of encoding/json's pooled
// buffers.
func encodePut(key *keystore.Key) ([]byte, error) {
	meta, err := json.Marshal(newKeyInfo(key.Info))
	if err != nil {
		return nil, err
	}
	raw := key.Secret.Serialize()
	defer clear(raw)
	if len(raw) != secretKeyLen {
		return nil, fmt.Errorf("secret key serialises to %d bytes, want %d", len(raw), secretKeyLen)
	}
	body := make([]byte, 0, 128+len(meta)+2*secretKeyLen)
	body = append(body, `{"options":{"cas":0},"data":{"secret_key":"0x`...)
	body = hex.AppendEncode(body, raw)
	body = append(body, `",`...)
	body = append(body, meta[1:]...) // meta's fields and closing brace
	body = append(body, '}')
	return body, nil
}

// readResponse is the part of a KV v2 read response vigil uses.
type readResponse struct {
	Data struct {
		Data     *storedKey `json:"data"`
		Metadata struct {
			DeletionTime string `json:"deletion_time"`
			Destroyed    bool   `json:"destroyed"`
		} `json:"metadata"`
	} `json:"data"`
}

// storedKey is the data of a vigil key secret.
type storedKey struct {
	keyInfo
	SecretKey hexSecret `json:"secret_key"`
}

// hexSecret decodes a 0x-prefixed hex secret straight from the response
// buffer into bytes the caller clears, never through a Go string.
type hexSecret struct {
	b   [secretKeyLen]byte
	set bool
	err error
}

// UnmarshalJSON decodes without echoing the value in errors.
func (h *hexSecret) UnmarshalJSON(data []byte) error {
	h.set = true
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		h.err = errors.New("field secret_key is not a string")
		return nil
	}
	s := bytes.TrimPrefix(data[1:len(data)-1], []byte("0x"))
	if len(s) != 2*secretKeyLen {
		h.err = fmt.Errorf("field secret_key has %d hex digits, want %d", len(s), 2*secretKeyLen)
		return nil
	}
	if _, err := hex.Decode(h.b[:], s); err != nil {
		h.err = errors.New("field secret_key is not hex")
	}
	return nil
}

func (h *hexSecret) clear() { clear(h.b[:]) }

// decodeKey parses and verifies a KV v2 read response for the key at want:
// the vigil marker, the metadata, and that the secret key's public key is the
// stored one. Errors never contain secret material. The caller clears body.
func decodeKey(body []byte, want phase0.BLSPubKey) (*keystore.Key, error) {
	return decodeKeyInto(body, want, new(storedKey))
}

// decodeKeyInto is decodeKey decoding into sk, whose secret bytes it clears
// on every path (the tests check that through sk).
func decodeKeyInto(body []byte, want phase0.BLSPubKey, sk *storedKey) (*keystore.Key, error) {
	var resp readResponse
	resp.Data.Data = sk
	defer sk.SecretKey.clear()
	if err := json.Unmarshal(body, &resp); err != nil {
		// A syntax error's text names an offset and a character, never a value.
		return nil, fmt.Errorf("response is not KV v2 JSON: %w", err)
	}
	if resp.Data.Data == nil {
		return nil, errNoCurrentVersion
	}
	info, err := sk.keyInfo.parse(want)
	if err != nil {
		return nil, newError(ErrNotVigilKey, err, "not a vigil key")
	}
	if !sk.SecretKey.set {
		return nil, newError(ErrNotVigilKey, nil, "not a vigil key: no secret_key field")
	}
	if sk.SecretKey.err != nil {
		return nil, newError(ErrNotVigilKey, sk.SecretKey.err, "not a vigil key")
	}
	// A separate pointer-free array: cgo refuses a slice into a struct that
	// holds Go pointers.
	raw := new([secretKeyLen]byte)
	*raw = sk.SecretKey.b
	defer clear(raw[:])
	secret, err := keystore.SecretKeyFromBytes(raw[:])
	if err != nil {
		return nil, newError(ErrNotVigilKey, err, "not a vigil key")
	}
	if keystore.PublicKey(secret) != want {
		(&keystore.Key{Secret: secret}).Zero() // a key vigil refuses is wiped, not left to the GC
		return nil, fmt.Errorf("the stored secret key does not belong to public key %s: the secret was altered", pubkey.Short(want))
	}
	return &keystore.Key{Info: info, Secret: secret}, nil
}

// errNoCurrentVersion marks a secret whose latest version was soft-deleted.
var errNoCurrentVersion = errors.New("no current version")

func pubkeyHex(pk phase0.BLSPubKey) string {
	return "0x" + hex.EncodeToString(pk[:])
}

// parsePubkey parses the 0x-prefixed lower-case hex form vigil writes.
func parsePubkey(s string) (phase0.BLSPubKey, error) {
	var pk phase0.BLSPubKey
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) != 2*len(pk) || strings.ToLower(h) != h {
		return pk, fmt.Errorf("%q is not a 0x-prefixed lower-case 48-byte hex public key", s)
	}
	if _, err := hex.Decode(pk[:], []byte(h)); err != nil {
		return pk, fmt.Errorf("%q is not hex", s)
	}
	return pk, nil
}
