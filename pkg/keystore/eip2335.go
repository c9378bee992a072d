package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/google/uuid"
	"golang.org/x/crypto/scrypt"
)

// EIP-2335 keystores are implemented here on golang.org/x/crypto and the
// standard library rather than through go-eth2-wallet-encryptor-keystorev4,
// whose wrong-password error is an untyped string, whose cost can only be
// lowered with a *testing.T, which accepts a keystore without a KDF (using
// the password itself as the key) and which does not strip C1 control
// characters from passwords. That library is used in the tests as an
// independent implementation to check this one against.

// KDF names an EIP-2335 key derivation function.
type KDF string

// Key derivation functions defined by EIP-2335.
const (
	KDFScrypt KDF = "scrypt"
	KDFPBKDF2 KDF = "pbkdf2"
)

// DefaultKDFCost is EIP-2335's cost for both KDFs: scrypt n and pbkdf2 c.
const DefaultKDFCost = 1 << 18

const (
	keystoreVersion = 4
	dkLen           = 32
	saltLen         = 32
	ivLen           = aes.BlockSize
	scryptR         = 8
	scryptP         = 1
	prfHMACSHA256   = "hmac-sha256"
	checksumSHA256  = "sha256"
	cipherAES128CTR = "aes-128-ctr"
	// maxScryptMemory bounds 128·n·r so that a hostile keystore cannot make
	// us allocate more than 1 GiB (EIP-2335's own vectors need 256 MiB).
	maxScryptMemory = 1 << 30
	// maxPBKDF2Rounds bounds c to 64 times EIP-2335's default.
	maxPBKDF2Rounds = 1 << 24
)

// Errors for what callers branch on: a wrong password, a file that is not a
// keystore at all, and keystores using something EIP-2335 does not define.
var (
	ErrWrongPassword      = errors.New("wrong password (keystore checksum does not match)")
	ErrMalformedKeystore  = errors.New("malformed EIP-2335 keystore")
	ErrUnsupportedVersion = errors.New("unsupported keystore version (want 4, EIP-2335)")
	ErrUnsupportedKDF     = errors.New("unsupported keystore KDF")
	ErrUnsupportedCipher  = errors.New("unsupported keystore cipher")
	ErrPubkeyMismatch     = errors.New("keystore secret does not match its pubkey field")
)

// EncryptParams chooses the KDF and its cost (scrypt n or pbkdf2 c) for new
// keystores. The zero value means scrypt at DefaultKDFCost.
type EncryptParams struct {
	KDF  KDF
	Cost int
}

func (p EncryptParams) withDefaults() EncryptParams {
	if p.KDF == "" {
		p.KDF = KDFScrypt
	}
	if p.Cost == 0 {
		p.Cost = DefaultKDFCost
	}
	return p
}

// Keystore is an EIP-2335 (version 4) keystore. Parsing is liberal about the
// metadata other tools write (Prysm and ethdo may omit pubkey or path and add
// name) and strict about everything that protects the secret.
type Keystore struct {
	Crypto      Crypto `json:"crypto"`
	Description string `json:"description"`
	// Pubkey is hex without 0x; empty when the producing tool left it out.
	Pubkey  string `json:"pubkey"`
	Path    string `json:"path"`
	UUID    string `json:"uuid"`
	Version int    `json:"version"`
	// Name is written by ethdo and Prysm; kept so it round-trips.
	Name string `json:"name,omitempty"`
}

// Crypto is a keystore's crypto section.
type Crypto struct {
	KDF      KDFModule      `json:"kdf"`
	Checksum ChecksumModule `json:"checksum"`
	Cipher   CipherModule   `json:"cipher"`
}

// KDFModule is the kdf module of a keystore.
type KDFModule struct {
	Function KDF       `json:"function"`
	Params   KDFParams `json:"params"`
	Message  string    `json:"message"`
}

// KDFParams holds the parameters of both KDFs; each uses its own subset.
type KDFParams struct {
	DKLen int    `json:"dklen"`
	N     int    `json:"n,omitempty"`
	R     int    `json:"r,omitempty"`
	P     int    `json:"p,omitempty"`
	C     int    `json:"c,omitempty"`
	PRF   string `json:"prf,omitempty"`
	Salt  string `json:"salt"`
}

// ChecksumModule is the checksum module of a keystore.
type ChecksumModule struct {
	Function string          `json:"function"`
	Params   json.RawMessage `json:"params"`
	Message  string          `json:"message"`
}

// CipherModule is the cipher module of a keystore.
type CipherModule struct {
	Function string       `json:"function"`
	Params   CipherParams `json:"params"`
	Message  string       `json:"message"`
}

// CipherParams holds the AES-128-CTR initialisation vector.
type CipherParams struct {
	IV string `json:"iv"`
}

// ParseKeystore parses and checks an EIP-2335 keystore without decrypting
// it. Errors match ErrMalformedKeystore, ErrUnsupportedVersion,
// ErrUnsupportedKDF or ErrUnsupportedCipher.
func ParseKeystore(data []byte) (*Keystore, error) {
	var ks Keystore
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKeystore, err)
	}
	if err := ks.check(); err != nil {
		return nil, err
	}
	return &ks, nil
}

// check validates everything Decrypt relies on, so that a hostile or broken
// file fails before any expensive KDF work.
func (ks *Keystore) check() error {
	if ks.Version != keystoreVersion {
		return fmt.Errorf("%w: version %d", ErrUnsupportedVersion, ks.Version)
	}
	if _, err := ks.PublicKey(); err != nil {
		return err
	}
	kdf := ks.Crypto.KDF
	if kdf.Params.DKLen != dkLen {
		return fmt.Errorf("%w: kdf dklen %d, want %d", ErrMalformedKeystore, kdf.Params.DKLen, dkLen)
	}
	if salt, err := decodeHex(kdf.Params.Salt); err != nil || len(salt) == 0 {
		return fmt.Errorf("%w: kdf salt is not non-empty hex", ErrMalformedKeystore)
	}
	switch kdf.Function {
	case KDFScrypt:
		n, r, p := kdf.Params.N, kdf.Params.R, kdf.Params.P
		if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 {
			return fmt.Errorf("%w: scrypt n=%d r=%d p=%d (n must be a power of two > 1, r and p positive)",
				ErrMalformedKeystore, n, r, p)
		}
		if r > maxScryptMemory/128 || n > maxScryptMemory/(128*r) || p > 16 {
			return fmt.Errorf("%w: scrypt n=%d r=%d p=%d exceeds vigil's limit of %d MiB and p ≤ 16",
				ErrUnsupportedKDF, n, r, p, maxScryptMemory>>20)
		}
	case KDFPBKDF2:
		if kdf.Params.PRF != prfHMACSHA256 {
			return fmt.Errorf("%w: pbkdf2 prf %q, want %q", ErrUnsupportedKDF, kdf.Params.PRF, prfHMACSHA256)
		}
		if kdf.Params.C < 1 || kdf.Params.C > maxPBKDF2Rounds {
			return fmt.Errorf("%w: pbkdf2 c=%d, want 1..%d", ErrMalformedKeystore, kdf.Params.C, maxPBKDF2Rounds)
		}
	default:
		return fmt.Errorf("%w %q (want scrypt or pbkdf2)", ErrUnsupportedKDF, kdf.Function)
	}
	if ks.Crypto.Checksum.Function != checksumSHA256 {
		return fmt.Errorf("%w: checksum function %q, want sha256", ErrMalformedKeystore, ks.Crypto.Checksum.Function)
	}
	if sum, err := decodeHex(ks.Crypto.Checksum.Message); err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("%w: checksum message is not 32 bytes of hex", ErrMalformedKeystore)
	}
	if ks.Crypto.Cipher.Function != cipherAES128CTR {
		return fmt.Errorf("%w %q (want aes-128-ctr)", ErrUnsupportedCipher, ks.Crypto.Cipher.Function)
	}
	if iv, err := decodeHex(ks.Crypto.Cipher.Params.IV); err != nil || len(iv) != ivLen {
		return fmt.Errorf("%w: cipher iv is not 16 bytes of hex", ErrMalformedKeystore)
	}
	if msg, err := decodeHex(ks.Crypto.Cipher.Message); err != nil || len(msg) != 32 {
		return fmt.Errorf("%w: cipher message is not a 32-byte BLS secret key", ErrMalformedKeystore)
	}
	return nil
}

// PublicKey returns the keystore's pubkey field, or nil when it is absent.
func (ks *Keystore) PublicKey() (*phase0.BLSPubKey, error) {
	if ks.Pubkey == "" {
		return nil, nil
	}
	b, err := decodeHex(ks.Pubkey)
	if err != nil || len(b) != len(phase0.BLSPubKey{}) {
		return nil, fmt.Errorf("%w: pubkey is not 48 bytes of hex", ErrMalformedKeystore)
	}
	var pk phase0.BLSPubKey
	copy(pk[:], b)
	return &pk, nil
}

// Marshal encodes the keystore as indented JSON.
func (ks *Keystore) Marshal() ([]byte, error) {
	return json.MarshalIndent(ks, "", "  ")
}

// Encrypt wraps a key in a new EIP-2335 keystore with a fresh salt, IV and
// UUID. The keystore's path and pubkey come from the key. The serialised
// secret, the processed password and the KDF output are wiped before it
// returns.
func Encrypt(key *Key, password string, params EncryptParams) (*Keystore, error) {
	var w wiper
	return encrypt(key, password, params, &w)
}

func encrypt(key *Key, password string, params EncryptParams, w *wiper) (*Keystore, error) {
	defer w.wipe()
	if key == nil || key.Secret == nil {
		return nil, errors.New("encrypt keystore: no secret key")
	}
	params = params.withDefaults()
	kdf := KDFModule{Function: params.KDF, Params: KDFParams{DKLen: dkLen}}
	switch params.KDF {
	case KDFScrypt:
		kdf.Params.N, kdf.Params.R, kdf.Params.P = params.Cost, scryptR, scryptP
	case KDFPBKDF2:
		kdf.Params.C, kdf.Params.PRF = params.Cost, prfHMACSHA256
	default:
		return nil, fmt.Errorf("%w %q (want scrypt or pbkdf2)", ErrUnsupportedKDF, params.KDF)
	}
	salt := make([]byte, saltLen)
	iv := make([]byte, ivLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("read salt: %w", err)
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("read iv: %w", err)
	}
	kdf.Params.Salt = hex.EncodeToString(salt)

	dk, err := deriveKey(kdf, w.buf(processPassword(password)))
	if err != nil {
		return nil, err
	}
	w.buf(dk)
	secret := w.buf(key.Secret.Serialize())
	msg, err := aesCTR(dk[:16], iv, secret)
	if err != nil {
		return nil, err
	}
	sum := checksum(dk, msg, w)
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("generate keystore uuid: %w", err)
	}
	return &Keystore{
		Crypto: Crypto{
			KDF:      kdf,
			Checksum: ChecksumModule{Function: checksumSHA256, Params: json.RawMessage("{}"), Message: hex.EncodeToString(sum)},
			Cipher:   CipherModule{Function: cipherAES128CTR, Params: CipherParams{IV: hex.EncodeToString(iv)}, Message: hex.EncodeToString(msg)},
		},
		Pubkey:  hex.EncodeToString(key.Pubkey[:]),
		Path:    key.Path,
		UUID:    id.String(),
		Version: keystoreVersion,
	}, nil
}

// Decrypt recovers the key from a keystore. A wrong password fails with
// ErrWrongPassword; a secret that does not match the pubkey field fails with
// ErrPubkeyMismatch. The key's Path is the keystore's; Origin and CreatedAt
// are left for the caller. Every intermediate secret (processed passwords,
// the KDF output, the decrypted bytes, a refused key) is wiped before it
// returns.
func (ks *Keystore) Decrypt(password string) (*Key, error) {
	var w wiper
	return ks.decrypt(password, &w)
}

func (ks *Keystore) decrypt(password string, w *wiper) (*Key, error) {
	defer w.wipe()
	if err := ks.check(); err != nil {
		return nil, err
	}
	pw := w.buf(processPassword(password))
	secret, err := ks.decryptSecret(pw, w)
	if errors.Is(err, ErrWrongPassword) {
		// Keystores written by older ethdo releases (through
		// go-eth2-wallet-encryptor-keystorev4) normalised some passwords
		// differently; accept those too, as that library still does.
		if alt := w.buf(altProcessPassword(password)); !bytes.Equal(alt, pw) {
			secret, err = ks.decryptSecret(alt, w)
		}
	}
	if err != nil {
		return nil, err
	}
	sk, err := SecretKeyFromBytes(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKeystore, err)
	}
	pk := PublicKey(sk)
	want, _ := ks.PublicKey() // checked above
	if want != nil && *want != pk {
		w.key(sk) // refused: wiped with the rest
		return nil, fmt.Errorf("%w: pubkey field %s, secret's pubkey %s", ErrPubkeyMismatch, ks.Pubkey, hex.EncodeToString(pk[:]))
	}
	return &Key{Info: Info{Pubkey: pk, Path: ks.Path}, Secret: sk}, nil
}

// decryptSecret checks the password against the checksum and returns the
// decrypted secret, registered with w like every buffer on the way.
func (ks *Keystore) decryptSecret(password []byte, w *wiper) ([]byte, error) {
	dk, err := deriveKey(ks.Crypto.KDF, password)
	if err != nil {
		return nil, err
	}
	w.buf(dk)
	msg, _ := decodeHex(ks.Crypto.Cipher.Message)
	want, _ := decodeHex(ks.Crypto.Checksum.Message)
	if subtle.ConstantTimeCompare(checksum(dk, msg, w), want) != 1 {
		return nil, ErrWrongPassword
	}
	iv, _ := decodeHex(ks.Crypto.Cipher.Params.IV)
	secret, err := aesCTR(dk[:16], iv, msg)
	if err != nil {
		return nil, err
	}
	return w.buf(secret), nil
}

// deriveKey runs the KDF over the processed password (EIP-2335 "Password
// requirements").
func deriveKey(kdf KDFModule, password []byte) ([]byte, error) {
	salt, err := decodeHex(kdf.Params.Salt)
	if err != nil {
		return nil, fmt.Errorf("%w: kdf salt: %w", ErrMalformedKeystore, err)
	}
	var dk []byte
	switch kdf.Function {
	case KDFScrypt:
		dk, err = scrypt.Key(password, salt, kdf.Params.N, kdf.Params.R, kdf.Params.P, dkLen)
	case KDFPBKDF2:
		dk, err = pbkdf2.Key(sha256.New, string(password), salt, kdf.Params.C, dkLen)
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedKDF, kdf.Function)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupportedKDF, kdf.Function, err)
	}
	return dk, nil
}

// checksum is EIP-2335's SHA256(DK[16:32] | cipher_message). The input is
// assembled in a buffer w wipes, not streamed into a heap-allocated hash
// whose block buffer would keep half of the decryption key.
func checksum(dk, msg []byte, w *wiper) []byte {
	in := w.buf(make([]byte, 16+len(msg)))
	copy(in, dk[16:32])
	copy(in[16:], msg)
	sum := sha256.Sum256(in)
	return sum[:]
}

func aesCTR(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// decodeHex accepts hex with or without 0x, as tools differ.
func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
}
