package keystore

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vigil-eth/vigil/internal/blsinit"
)

// EIP-2333 is implemented here rather than through go-eth2-util, whose
// derivation leaves every intermediate secret (the master and ancestor keys
// as big.Int, 16 KiB of Lamport secret chunks per level, the BLS withdrawal
// key on the way to the signing key) in the heap with no way to clear it.
// Here each intermediate lives in a buffer or herumi key that is wiped before
// DeriveKey returns. go-eth2-util remains in the tests as an independent
// implementation to check this one against.

const (
	// minSeedLen is EIP-2333's minimum seed length ("derive_master_SK":
	// at least 256 bits); BIP-39 seeds have 64 bytes.
	minSeedLen = 32
	// lamportChunks is the number of 32-byte Lamport secret chunks per
	// IKM_to_lamport_SK (EIP-2333: L = K * 255, the limit of HKDF-SHA256).
	lamportChunks = 255
	// hkdfModRLen is L of HKDF_mod_r: ceil((3 * ceil(log2(r))) / 16) = 48.
	hkdfModRLen = 48
)

// SigningKeyPath is the EIP-2334 path of validator index's signing key.
func SigningKeyPath(index uint32) string {
	return fmt.Sprintf("m/12381/3600/%d/0/0", index)
}

// WithdrawalKeyPath is the EIP-2334 path of validator index's BLS withdrawal
// key, the parent of its signing key.
func WithdrawalKeyPath(index uint32) string {
	return fmt.Sprintf("m/12381/3600/%d/0", index)
}

// DeriveKey derives the EIP-2333 key at an EIP-2334 path from a BIP-39 seed.
// The key's origin is OriginGenerated and its creation time createdAt. Every
// intermediate secret is wiped before it returns; the caller still owns (and
// clears) the seed.
func DeriveKey(seed []byte, path string, createdAt time.Time) (*Key, error) {
	var w wiper
	return derivePath(seed, path, createdAt, &w)
}

func derivePath(seed []byte, path string, createdAt time.Time, w *wiper) (*Key, error) {
	defer w.wipe()
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	indices, err := parsePath(path)
	if err != nil {
		return nil, fmt.Errorf("derive key at %s: %w", path, err)
	}
	if len(seed) < minSeedLen {
		return nil, fmt.Errorf("derive key at %s: seed is %d bytes, EIP-2333 wants at least %d", path, len(seed), minSeedLen)
	}
	sk, err := hkdfModR(seed, w)
	if err != nil {
		return nil, fmt.Errorf("derive key at %s: master key: %w", path, err)
	}
	for i, index := range indices {
		if sk, err = deriveChildSK(sk, index, w); err != nil {
			return nil, fmt.Errorf("derive key at %s: path component %d: %w", path, i+1, err)
		}
	}
	if sk.IsZero() {
		// HKDF_mod_r never returns 0; refuse rather than sign with it.
		return nil, fmt.Errorf("derive key at %s: derived a zero key", path)
	}
	// Every key above is registered for wiping; the caller gets a copy.
	out := new(bls.SecretKey)
	*out = *sk
	return &Key{
		Info: Info{
			Pubkey:    PublicKey(out),
			Path:      path,
			CreatedAt: createdAt,
			Origin:    OriginGenerated,
		},
		Secret: out,
	}, nil
}

// parsePath parses an EIP-2334 path ("m", then "/"-separated decimal
// indices below 2^32) into its indices.
func parsePath(path string) ([]uint32, error) {
	parts := strings.Split(path, "/")
	if parts[0] != "m" {
		return nil, errors.New(`path does not start with "m"`)
	}
	indices := make([]uint32, 0, len(parts)-1)
	for i, p := range parts[1:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("path component %d is %q, want a decimal index below 2^32", i+1, p)
		}
		indices = append(indices, uint32(v))
	}
	return indices, nil
}

// hkdfModR is EIP-2333's HKDF_mod_r with an empty key_info (the IETF BLS
// KeyGen): a secret key from at least 32 bytes of keying material.
func hkdfModR(ikm []byte, w *wiper) (*bls.SecretKey, error) {
	// IKM || I2OSP(0, 1)
	input := w.buf(make([]byte, len(ikm)+1))
	copy(input, ikm)
	salt := sha256.Sum256([]byte("BLS-SIG-KEYGEN-SALT-"))
	info := string([]byte{0, hkdfModRLen}) // key_info || I2OSP(L, 2)
	sk := w.key(new(bls.SecretKey))
	// The loop ends with overwhelming probability on its first round; the
	// bound only keeps a broken hash from spinning forever.
	for range 256 {
		prk, err := hkdf.Extract(sha256.New, input, salt[:])
		if err != nil {
			return nil, err
		}
		w.buf(prk)
		okm, err := hkdf.Expand(sha256.New, prk, info, hkdfModRLen)
		if err != nil {
			return nil, err
		}
		w.buf(okm)
		// OS2IP(OKM) mod r: herumi reduces little-endian bytes modulo r.
		slices.Reverse(okm)
		if err := sk.SetLittleEndianMod(okm); err != nil {
			return nil, errors.New("reduce key modulo r")
		}
		if !sk.IsZero() {
			return sk, nil
		}
		salt = sha256.Sum256(salt[:])
	}
	return nil, errors.New("HKDF_mod_r found no non-zero key")
}

// deriveChildSK is EIP-2333's derive_child_SK.
func deriveChildSK(parent *bls.SecretKey, index uint32, w *wiper) (*bls.SecretKey, error) {
	lamportPK, err := parentSKToLamportPK(parent, index, w)
	if err != nil {
		return nil, err
	}
	return hkdfModR(lamportPK, w)
}

// parentSKToLamportPK is EIP-2333's parent_SK_to_lamport_PK: the compressed
// Lamport public key of the parent, the keying material of the child.
func parentSKToLamportPK(parent *bls.SecretKey, index uint32, w *wiper) ([]byte, error) {
	var salt [4]byte
	binary.BigEndian.PutUint32(salt[:], index) // I2OSP(index, 4)
	ikm := w.buf(parent.Serialize())           // I2OSP(parent_SK, 32): blsinit sets big-endian serialisation
	if len(ikm) != 32 {
		return nil, fmt.Errorf("parent key serialises to %d bytes, want 32", len(ikm))
	}
	notIKM := w.buf(make([]byte, len(ikm)))
	for i, b := range ikm {
		notIKM[i] = ^b // flip_bits
	}
	// lamport_PK: SHA256 of each chunk of lamport_0, then of lamport_1.
	// Registered at full length: wiping clears len, not cap.
	lamportPK := w.buf(make([]byte, 2*lamportChunks*sha256.Size))
	for half, k := range [][]byte{ikm, notIKM} {
		lamportSK, err := ikmToLamportSK(k, salt[:], w)
		if err != nil {
			return nil, err
		}
		for c := range lamportChunks {
			h := sha256.Sum256(lamportSK[c*sha256.Size : (c+1)*sha256.Size])
			copy(lamportPK[(half*lamportChunks+c)*sha256.Size:], h[:])
			clear(h[:])
		}
	}
	compressed := sha256.Sum256(lamportPK)
	out := w.buf(make([]byte, sha256.Size))
	copy(out, compressed[:])
	clear(compressed[:])
	return out, nil
}

// ikmToLamportSK is EIP-2333's IKM_to_lamport_SK: 255 chunks of 32 bytes,
// returned concatenated.
func ikmToLamportSK(ikm, salt []byte, w *wiper) ([]byte, error) {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	w.buf(prk)
	okm, err := hkdf.Expand(sha256.New, prk, "", lamportChunks*sha256.Size)
	if err != nil {
		return nil, err
	}
	return w.buf(okm), nil
}

// SecretKeyFromBytes parses a 32-byte big-endian BLS secret key. It refuses
// zero and out-of-range values, and never echoes the bytes in its error.
func SecretKeyFromBytes(b []byte) (*bls.SecretKey, error) {
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want 32", len(b))
	}
	var sk bls.SecretKey
	if err := sk.Deserialize(b); err != nil {
		// herumi's error quotes the bytes; it is dropped, and whatever the
		// failed parse left in sk is cleared.
		sk = bls.SecretKey{}
		return nil, errors.New("secret key is not a valid BLS12-381 scalar")
	}
	if sk.IsZero() {
		return nil, errors.New("secret key is zero")
	}
	return &sk, nil
}

// PublicKey returns the compressed BLS public key of a secret key.
func PublicKey(sk *bls.SecretKey) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	copy(pk[:], sk.GetPublicKey().Serialize())
	return pk
}
