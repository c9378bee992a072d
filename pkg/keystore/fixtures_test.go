package keystore_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	keystorev4 "github.com/wealdtech/go-eth2-wallet-encryptor-keystorev4"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// updateFixtures rewrites testdata/keystores; run
// `go test ./pkg/keystore -run TestToolFixtures -update-fixtures` and commit.
var updateFixtures = flag.Bool("update-fixtures", false, "rewrite the keystore fixtures in testdata/keystores")

const fixtureMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// toolFixture is a keystore laid out the way one tool writes it (field set,
// field order, KDF), made with a cheap KDF cost so the tests stay fast. Each
// holds the signing key at m/12381/3600/<index>/0/0 of fixtureMnemonic.
type toolFixture struct {
	file     string
	password string
	index    uint32
	wantPath string
	// build returns the file's JSON given the crypto section and the key.
	build func(t *testing.T, crypto json.RawMessage, key *keystore.Key) []byte
	kdf   keystore.KDF
	// wealdtech is set for ethdo, whose keystores come from
	// go-eth2-wallet-encryptor-keystorev4 itself.
	wealdtech bool
}

func toolFixtures() []toolFixture {
	return []toolFixture{
		{
			// staking_deposit/key_handling/keystore.py: crypto, description,
			// pubkey, path, uuid, version; scrypt by default.
			file: "staking-deposit-cli.json", password: "correct horse battery staple", index: 0,
			wantPath: "m/12381/3600/0/0/0", kdf: keystore.KDFScrypt,
			build: func(t *testing.T, c json.RawMessage, k *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "description", "", "pubkey", pkHex(k), "path", k.Path, "uuid", newUUID(), "version", 4)
			},
		},
		{
			// ethstaker-deposit-cli: the same layout; --pbkdf2 selects pbkdf2.
			// The password exercises NFKD normalisation.
			file: "ethstaker-deposit-cli.json", password: "Grüße 𝔱𝔢𝔰𝔱 🔑", index: 1,
			wantPath: "m/12381/3600/1/0/0", kdf: keystore.KDFPBKDF2,
			build: func(t *testing.T, c json.RawMessage, k *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "description", "", "pubkey", pkHex(k), "path", k.Path, "uuid", newUUID(), "version", 4)
			},
		},
		{
			// ethdo (go-eth2-wallet-store accounts): crypto, name, pubkey,
			// uuid, version; no path or description; pbkdf2 from wealdtech.
			file: "ethdo.json", password: "ethdo passphrase", index: 2, wealdtech: true,
			build: func(t *testing.T, c json.RawMessage, k *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "name", "Validators/2", "pubkey", pkHex(k), "uuid", newUUID(), "version", 4)
			},
		},
		{
			// Lighthouse (eth2_keystore): crypto, description, pubkey, path,
			// uuid, version; scrypt.
			file: "lighthouse.json", password: "lighthouse-secrets-file-content", index: 3,
			wantPath: "m/12381/3600/3/0/0", kdf: keystore.KDFScrypt,
			build: func(t *testing.T, c json.RawMessage, k *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "description", "", "pubkey", pkHex(k), "path", k.Path, "uuid", newUUID(), "version", 4)
			},
		},
		{
			// Prysm (accounts backup): crypto, uuid, pubkey, version, name
			// "keystore", empty path and description; pbkdf2 or scrypt.
			file: "prysm.json", password: "prysm wallet password", index: 4, kdf: keystore.KDFPBKDF2,
			build: func(t *testing.T, c json.RawMessage, k *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "uuid", newUUID(), "pubkey", pkHex(k), "version", 4, "name", "keystore", "description", "", "path", "")
			},
		},
		{
			// The minimum EIP-2335 allows: no pubkey, path or description.
			file: "minimal-no-pubkey.json", password: "minimal", index: 5, kdf: keystore.KDFScrypt,
			build: func(t *testing.T, c json.RawMessage, _ *keystore.Key) []byte {
				return orderedJSON(t, "crypto", c, "uuid", newUUID(), "version", 4)
			},
		},
	}
}

const fixtureCost = 1 << 10

func fixtureKey(t testing.TB, index uint32) *keystore.Key {
	t.Helper()
	seed, err := keystore.Seed(fixtureMnemonic, "")
	require.NoError(t, err)
	k, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(index), time.Time{})
	require.NoError(t, err)
	return k
}

func writeFixture(t *testing.T, f toolFixture) {
	key := fixtureKey(t, f.index)
	var crypto json.RawMessage
	if f.wealdtech {
		m, err := keystorev4.New(keystorev4.WithCost(t, 10)).Encrypt(key.Secret.Serialize(), f.password)
		require.NoError(t, err)
		crypto, err = json.Marshal(m)
		require.NoError(t, err)
	} else {
		ks, err := keystore.Encrypt(key, f.password, keystore.EncryptParams{KDF: f.kdf, Cost: fixtureCost})
		require.NoError(t, err)
		crypto, err = json.Marshal(ks.Crypto)
		require.NoError(t, err)
	}
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, f.build(t, crypto, key), "", "    "))
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "keystores", f.file), out.Bytes(), 0o644))
}

// TestToolFixtures decrypts keystores laid out as each tool writes them.
func TestToolFixtures(t *testing.T) {
	for _, f := range toolFixtures() {
		t.Run(f.file, func(t *testing.T) {
			if *updateFixtures {
				writeFixture(t, f)
			}
			data, err := os.ReadFile(filepath.Join("testdata", "keystores", f.file))
			require.NoError(t, err)
			ks, err := keystore.ParseKeystore(data)
			require.NoError(t, err)
			key, err := ks.Decrypt(f.password)
			require.NoError(t, err)
			want := fixtureKey(t, f.index)
			require.Equal(t, want.Pubkey, key.Pubkey)
			require.Equal(t, want.Secret.Serialize(), key.Secret.Serialize())
			require.Equal(t, f.wantPath, key.Path)

			_, err = ks.Decrypt(f.password + "x")
			require.ErrorIs(t, err, keystore.ErrWrongPassword)
		})
	}
}

func orderedJSON(t *testing.T, kv ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv[i])
		require.NoError(t, err)
		v, err := json.Marshal(kv[i+1])
		require.NoError(t, err)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func pkHex(k *keystore.Key) string { return hex.EncodeToString(k.Pubkey[:]) }

func newUUID() string { return uuid.NewString() }
